#!/usr/bin/env python3
"""Loose JPEGs against WebDataset tar shards on a far-away S3 (issue 24, item 5): `orchard
featurize` of the same N images, once as one object per image (`s3://bench/loose/LABEL/x.jpg`)
and once packed by `orchard pack` into shards (`s3://bench/shards/*.tar`), at fixed delays
per request, side by side in one run.

Starts the loopback S3 server of the integration tests (SeaweedFS,
tests/integration/s3server.py), picks N bench images (evenly spaced over the sorted listing
of the source folder, as bench/s3_latency.py does), packs them locally with `orchard pack
--samples-per-shard S`, uploads both, and puts tests/integration/delay_proxy.py (DELAY
before each request's first byte) between orchard and the server. Each setting runs
--repeats times in interleaved rounds; the table gives the median images/s (images /
featurize seconds, from `--json`), the requests the proxy saw, and the ratio of shards to
loose files at each delay. Every run must featurize all N images without an error row.

Usage:
  bench/s3_tar_bench.sh [--images 2000] [--delays 0,50] [--samples-per-shard 200]
                        [--repeats 3] [--source DIR]
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
sys.path.insert(0, str(REPO / "bench"))

from delay_proxy import DelayProxy  # noqa: E402
from s3_latency import make_subset  # noqa: E402
from s3server import S3Server  # noqa: E402

BUCKET = "bench"


def featurize(orchard: str, env: dict, uri: str, out: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([orchard, "featurize", "-i", uri, "-o", str(out), "-q", "--json"],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"orchard featurize -i {uri} failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads(proc.stdout)
    return {"images_per_second": summary["images_per_second"], "ok": summary["images"]["ok"],
            "failed": summary["images"]["failed"], "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--delays", default="0,50", help="ms per request")
    parser.add_argument("--samples-per-shard", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--source", default=str(REPO.parent / "shared" / "data" /
                                                "fruits360-bench"))
    args = parser.parse_args()
    orchard = os.environ.get("ORCHARD_BIN", str(REPO / "build" / "apps" / "orchard" / "orchard"))
    delays = [float(d) for d in args.delays.split(",") if d]

    with tempfile.TemporaryDirectory(prefix="orchard-s3-tar-") as work, S3Server() as s3:
        work = Path(work)
        count = make_subset(Path(args.source), work / "loose", args.images)
        subprocess.run([orchard, "pack", "-i", str(work / "loose"), "-o", str(work / "shards"),
                        "--samples-per-shard", str(args.samples_per_shard)], check=True,
                       capture_output=True)
        shards = sorted((work / "shards").rglob("*.tar"))
        shard_bytes = sum(p.stat().st_size for p in shards)
        s3.make_bucket(BUCKET)
        s3.upload_dir(work / "loose", BUCKET, "loose", workers=32)
        s3.upload_dir(work / "shards", BUCKET, "shards")
        settings = [(delay, kind) for delay in delays for kind in ("loose", "shards")]
        runs = {setting: [] for setting in settings}
        for round_idx in range(args.repeats):
            for delay_ms, kind in settings:
                with DelayProxy(s3.port, delay_ms / 1000) as proxy:
                    env = {**os.environ, **s3.env(), "AWS_ENDPOINT_URL": proxy.endpoint}
                    out = work / f"out-{round_idx}-{kind}-{delay_ms:g}"
                    result = featurize(orchard, env, f"s3://{BUCKET}/{kind}", out)
                    result["requests"] = proxy.stats()["requests"]
                if result["ok"] != count or result["failed"] != 0:
                    raise SystemExit(f"{kind} at {delay_ms:g} ms: {result}")
                runs[(delay_ms, kind)].append(result)
                print(f"round {round_idx + 1}: {kind} {delay_ms:g} ms: "
                      f"{result['images_per_second']:.1f} images/s, {result['requests']} "
                      "requests", file=sys.stderr, flush=True)

    def median(setting):
        rates = sorted(r["images_per_second"] for r in runs[setting])
        return rates[len(rates) // 2]

    print(f"{count} images from {args.source}; shards: {len(shards)} of "
          f"{args.samples_per_shard} samples ({shard_bytes / 2**20:.1f} MiB in all); "
          f"{datetime.date.today()}, {platform.machine()} {os.cpu_count()} cores, load "
          f"average at the end {os.getloadavg()[0]:.1f}; median of {args.repeats} "
          "interleaved rounds")
    print()
    print("| delay per request | input | images/s (median) | all rounds | requests "
          "| shards / loose |")
    print("| ---: | --- | ---: | --- | ---: | ---: |")
    for delay_ms, kind in settings:
        rates = " / ".join(f"{r['images_per_second']:.0f}" for r in runs[(delay_ms, kind)])
        ratio = median((delay_ms, kind)) / median((delay_ms, "loose"))
        print(f"| {delay_ms:g} ms | {kind} | {median((delay_ms, kind)):.1f} | {rates} | "
              f"{runs[(delay_ms, kind)][0]['requests']} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
