#!/usr/bin/env python3
"""S3 small-object read throughput: orchard's reader versus a plain pyarrow loop.

Starts the loopback S3 server of the integration tests (SeaweedFS, see
tests/integration/s3server.py), uploads N sample-sized JPEGs (copies of data/sample,
~7 KB each) under one prefix, and measures:

  pyarrow sequential   list the prefix, then fs.open_input_file(p).read() per object,
                       one after the other (the simplest possible client)
  pyarrow 16 threads   the same reads spread over 16 threads (the concurrency orchard
                       uses by default for S3)
  orchard io-threads=K `orchard featurize --io-threads K` on the same prefix. The
                       object reads cannot be timed apart from decoding and inference
                       from outside, so three numbers are reported: list seconds
                       (summary.json seconds.list), read seconds = busy_seconds.read
                       (time the prep threads waited for object bytes; with reads
                       running ahead of decoding it is a lower bound of read time),
                       and the whole featurize wall time.

objects/s and MB/s are computed over list + read time (pyarrow: wall time of list +
reads). Prints a Markdown table; --append-doc adds it, the exact command and a machine
summary under '## S3 reads' in docs/benchmarks.md.

Usage:
  .deps/venv/bin/python bench/s3_read_bench.py [--objects 600] [--repeats 2] [--append-doc]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import pyarrow.fs as pafs  # noqa: E402

from s3server import S3Server  # noqa: E402

SAMPLE = REPO / "data" / "sample"
BUCKET = "bench"
PREFIX = "in/small"
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## S3 reads"


def orchard_binary() -> str:
    return os.environ.get("ORCHARD_BIN", str(REPO / "build" / "apps" / "orchard" / "orchard"))


def make_objects(dest: Path, count: int) -> int:
    """count copies of the sample JPEGs under dest/<label>/; returns total bytes."""
    sources = sorted(SAMPLE.rglob("*.jpg"))
    labels = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())
    total = 0
    for i in range(count):
        src = sources[i % len(sources)]
        target = dest / labels[i % len(labels)] / f"{i:05d}_{src.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        total += target.stat().st_size
    return total


def pyarrow_reads(fs: pafs.S3FileSystem, threads: int) -> tuple[float, int, int]:
    """(seconds, objects, bytes) to list the prefix and read every object."""
    start = time.perf_counter()
    infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{PREFIX}", recursive=True))
    paths = [i.path for i in infos if i.type == pafs.FileType.File]

    def read(path: str) -> int:
        with fs.open_input_file(path) as f:
            return len(f.read())

    if threads == 1:
        sizes = [read(p) for p in paths]
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            sizes = list(pool.map(read, paths))
    return time.perf_counter() - start, len(paths), sum(sizes)


def orchard_featurize(s3: S3Server, io_threads: int, out: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3.env())
    cmd = [orchard_binary(), "featurize", "-i", f"s3://{BUCKET}/{PREFIX}", "-o", out,
           "--io-threads", str(io_threads), "--overwrite", "--json", "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"orchard failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads(proc.stdout)
    summary["_process_wall"] = wall
    return summary


def machine_summary() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} logical cores visible (shared with other work; "
            f"1-min load average {load:.1f} at the end of the run), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=2, help="best of N per row")
    parser.add_argument("--append-doc", action="store_true",
                        help=f"append the result to {DOC.relative_to(REPO)}")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp, S3Server() as s3:
        total_bytes = make_objects(Path(tmp) / "src", args.objects)
        s3.make_bucket(BUCKET)
        s3.upload_dir(Path(tmp) / "src", BUCKET, PREFIX, workers=8)
        fs = s3.filesystem()
        mb = total_bytes / 1e6

        # Warm-up: the server's first reads of new volumes are slower.
        pyarrow_reads(fs, 16)

        for name, threads in (("pyarrow sequential (1 thread)", 1),
                              ("pyarrow, 16 threads", 16)):
            best = min((pyarrow_reads(fs, threads) for _ in range(args.repeats)),
                       key=lambda r: r[0])
            seconds, count, nbytes = best
            assert count == args.objects and nbytes == total_bytes, (count, nbytes)
            rows.append((name, seconds, "", "", count / seconds, nbytes / 1e6 / seconds))

        for io_threads in (16, 1):
            runs = [orchard_featurize(s3, io_threads, f"s3://{BUCKET}/out/io{io_threads}")
                    for _ in range(args.repeats)]
            best = min(runs, key=lambda s: s["seconds"]["list"] + s["busy_seconds"]["read"])
            assert best["images"]["ok"] == args.objects, best["images"]
            listed = best["seconds"]["list"]
            read = best["busy_seconds"]["read"]
            rows.append((f"orchard featurize --io-threads {io_threads}", listed + read,
                         f"{read:.2f}", f"{best['seconds']['featurize']:.1f}",
                         args.objects / (listed + read), mb / (listed + read)))

    lines = [
        f"{args.objects} objects, {mb:.2f} MB total ({total_bytes / args.objects / 1e3:.1f} kB "
        f"each), best of {args.repeats}:",
        "",
        "| reader | list+read s | of which read (busy) s | featurize wall s | objects/s | MB/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, seconds, read, wall, ops, mbps in rows:
        lines.append(f"| {name} | {seconds:.2f} | {read or '-'} | {wall or '-'} | "
                     f"{ops:.0f} | {mbps:.2f} |")
    table = "\n".join(lines)
    print(table)

    if args.append_doc:
        command = ("ORCHARD_BIN=build/apps/orchard/orchard .deps/venv/bin/python "
                   f"bench/s3_read_bench.py --objects {args.objects} --repeats {args.repeats} "
                   "--append-doc")
        section = "\n".join([
            HEADING,
            "",
            "Small-object reads from the loopback S3 server of the tests (SeaweedFS, "
            "`weed server -s3` on 127.0.0.1, data on local disk), "
            f"measured {time.strftime('%Y-%m-%d')}.",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine_summary()}.",
            "",
            table,
            "",
            "pyarrow rows: wall time of listing the prefix plus `open_input_file(p).read()` "
            "of every object. orchard rows: `seconds.list` plus `busy_seconds.read` from the "
            "run summary (the time the prep threads waited for object bytes; reads run ahead "
            "of decoding, so with many I/O threads this is a lower bound of the read time, "
            "and the featurize wall time, dominated by inference, is shown for scale).",
            "",
        ])
        text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        if HEADING in text:
            # Replace our section (up to the next '## ' heading), keep the others.
            start = text.index(HEADING)
            nxt = text.find("\n## ", start + len(HEADING))
            text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        DOC.write_text(text)
        print(f"\nappended to {DOC}")


if __name__ == "__main__":
    main()
