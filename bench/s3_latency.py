#!/usr/bin/env python3
"""orchard against a far-away, throttling S3: featurize and the read path alone, at several
fixed delays per request and with a share of requests answered 503 SlowDown, side by side
in one run.

Starts the loopback S3 server of the integration tests (SeaweedFS,
tests/integration/s3server.py), uploads N bench images (N files evenly spaced over the
sorted listing of the source folder), and puts tests/integration/delay_proxy.py between
orchard and the server: each request waits DELAY before its first byte is forwarded (per
request, not per connection), and a share of the GETs can be answered 503 SlowDown by the
proxy itself. Output goes to a local temporary folder.

Each setting runs --repeats times, in interleaved rounds; the table gives the median.

  featurize   `orchard featurize -i s3://... --json` (every default), images/s from its
              summary (images / featurize seconds), and the ratio to the 0 ms run
  read path   bench/orchard_read_bench: the same reads (pipeline::ReadAhead, featurize's
              defaults) without decoding or inference

Prints a Markdown table. Only ratios within one run compare: the machine is shared.

Usage:
  bench/s3_latency.sh [--images 2000] [--delays 0,20,50,100] [--fail-fraction 0.05]
                      [--read-delays 0,50] [--repeats 3] [--source DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from delay_proxy import DelayProxy  # noqa: E402
from s3server import S3Server  # noqa: E402

BUCKET = "bench"
PREFIX = "in"


def binary(name: str, env: str, default: Path) -> str:
    return os.environ.get(env, str(default))


def make_subset(source: Path, dest: Path, count: int) -> int:
    files = sorted(p for p in source.rglob("*") if p.is_file())
    step = max(1, len(files) // count)
    chosen = files[::step][:count]
    for path in chosen:
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            target.write_bytes(path.read_bytes())
    return len(chosen)


def run_featurize(orchard: str, env: dict, out: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([orchard, "featurize", "-i", f"s3://{BUCKET}/{PREFIX}", "-o", str(out),
                           "-q", "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"orchard featurize failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads(proc.stdout)
    return {"images_per_second": summary["images_per_second"], "ok": summary["images"]["ok"],
            "failed": summary["images"]["failed"], "wall": wall}


def run_read_bench(read_bench: str, env: dict) -> dict:
    proc = subprocess.run([read_bench, "--input", f"s3://{BUCKET}/{PREFIX}"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"orchard_read_bench failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--delays", default="0,20,50,100", help="ms, featurize runs")
    parser.add_argument("--read-delays", default="0,50", help="ms, read-path runs")
    parser.add_argument("--fail-fraction", type=float, default=0.05,
                        help="share of GETs answered 503 SlowDown in the throttled run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--source", default=str(REPO.parent / "shared" / "data" /
                                                "fruits360-bench"))
    args = parser.parse_args()
    orchard = binary("orchard", "ORCHARD_BIN", REPO / "build" / "apps" / "orchard" / "orchard")
    read_bench = binary("orchard_read_bench", "ORCHARD_READ_BENCH",
                        REPO / "build" / "bench" / "orchard_read_bench")
    delays = [float(d) for d in args.delays.split(",") if d]
    read_delays = [float(d) for d in args.read_delays.split(",") if d]

    with tempfile.TemporaryDirectory(prefix="orchard-s3-latency-") as work, S3Server() as s3:
        work = Path(work)
        count = make_subset(Path(args.source), work / "in", args.images)
        s3.make_bucket(BUCKET)
        s3.upload_dir(work / "in", BUCKET, PREFIX)
        # Every setting once per round, rounds one after the other: a slow spell of the
        # shared machine then costs every setting of that round, not one setting alone.
        settings = [(f"{d:g} ms", "featurize", d, 0.0) for d in delays]
        if args.fail_fraction > 0:
            settings.append((f"0 ms, {args.fail_fraction:.0%} of GETs 503", "featurize", 0.0,
                             args.fail_fraction))
        settings += [(f"{d:g} ms", "read path", d, 0.0) for d in read_delays]
        results = {setting[:2]: [] for setting in settings}
        for round_idx in range(args.repeats):
            for name, kind, delay_ms, fail_fraction in settings:
                with DelayProxy(s3.port, delay_ms / 1000, fail_fraction,
                                seed=22 + round_idx) as proxy:
                    env = {**os.environ, **s3.env(), "AWS_ENDPOINT_URL": proxy.endpoint}
                    if kind == "featurize":
                        out = work / f"out-{round_idx}-{settings.index((name, kind, delay_ms, fail_fraction))}"
                        result = run_featurize(orchard, env, out)
                    else:
                        result = run_read_bench(read_bench, env)
                    result["stats"] = proxy.stats()
                results[(name, kind)].append(result)
                print(f"round {round_idx + 1}: {kind} {name}: "
                      f"{result['images_per_second']:.1f} images/s", file=sys.stderr, flush=True)
        rows = []
        for name, kind, _, _ in settings:
            runs = results[(name, kind)]
            rates = sorted(r["images_per_second"] for r in runs)
            median = rates[len(rates) // 2]
            rows.append((name, kind, median, rates, runs))

    base = {kind: median for name, kind, median, _, _ in rows if name == "0 ms"}
    print(f"{count} images from {args.source}, {datetime.date.today()}, "
          f"{platform.machine()} {os.cpu_count()} cores, load average at the end "
          f"{os.getloadavg()[0]:.1f}; median of {args.repeats} interleaved rounds")
    print()
    print("| delay per request | run | images/s (median) | ratio to 0 ms | all rounds "
          "| ok | error rows | answered 503 |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, kind, median, rates, runs in rows:
        ratio = median / base[kind] if base.get(kind) else float("nan")
        ok = min(r["ok"] if "ok" in r else r["images"] - r["failed"] for r in runs)
        failed = max(r["failed"] for r in runs)
        answered_503 = sum(r["stats"]["failed"] for r in runs)
        print(f"| {name} | {kind} | {median:.1f} | {ratio:.2f} | "
              f"{' / '.join(f'{rate:.0f}' for rate in rates)} | {ok} | {failed} | "
              f"{answered_503} |")

if __name__ == "__main__":
    main()
