#!/usr/bin/env python3
"""The S3 listing of a large prefix, far away: orchard's listing of N objects in L label
prefixes through a fixed delay per request, one sequential walk (ORCHARD_S3_LIST_CONCURRENCY=1)
against the parallel prefix listing (io/s3.cc: a delimiter listing of the prefix, then its
label prefixes paged concurrently), side by side in one run.

Starts the loopback S3 server of the integration tests (SeaweedFS,
tests/integration/s3server.py) and uploads N one-byte objects `in/labelNNN/NNNNNN.jpg`,
many PUTs at once and straight to the server (not through the proxy). Then, for each
concurrency, lists `s3://bench/in` with orchard._native.list_images (the listing the CLI and
the Spark driver make: io::ListFiles, then the items) through tests/integration/delay_proxy.py,
which makes each request wait DELAY before it is forwarded. Each concurrency runs --repeats
times in interleaved rounds; the table gives the median wall time, the requests the proxy
saw, and the speed-up over the sequential walk. Every run must list all N objects.

Usage (PYTHONPATH must reach the built extension, python/orchard/_native*.so):
  PYTHONPATH=python .deps/venv/bin/python bench/s3_list_bench.py \
      [--objects 100000] [--labels 131] [--delay-ms 200] [--concurrency 1,8,32,64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "python"))

import orchard  # noqa: E402
from delay_proxy import DelayProxy  # noqa: E402
from s3server import S3Server  # noqa: E402

BUCKET = "bench"
PREFIX = "in"


def upload(s3: S3Server, objects: int, labels: int, workers: int) -> float:
    """N one-byte objects spread evenly over the labels, PUT `workers` at a time."""
    fs = s3.filesystem()
    keys = [f"{BUCKET}/{PREFIX}/label{idx % labels:03d}/{idx:06d}.jpg" for idx in range(objects)]

    def put(chunk):
        for key in chunk:
            with fs.open_output_stream(key) as out:
                out.write(b"x")

    start = time.perf_counter()
    chunks = [keys[idx::workers] for idx in range(workers)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(put, chunks):
            pass
    return time.perf_counter() - start


def list_once(s3: S3Server, proxy: DelayProxy, concurrency: int) -> tuple[float, int]:
    os.environ.update(s3.env())
    os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
    os.environ["ORCHARD_S3_LIST_CONCURRENCY"] = str(concurrency)
    start = time.perf_counter()
    items = orchard._native.list_images(f"s3://{BUCKET}/{PREFIX}", "", "")
    return time.perf_counter() - start, len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=131)
    parser.add_argument("--delay-ms", type=float, default=200)
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--upload-workers", type=int, default=64)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]

    with S3Server() as s3:
        s3.make_bucket(BUCKET)
        upload_s = upload(s3, args.objects, args.labels, args.upload_workers)
        print(f"uploaded {args.objects} objects in {upload_s:.0f} s", file=sys.stderr, flush=True)
        runs = {c: [] for c in concurrencies}
        for round_idx in range(args.repeats):
            for concurrency in concurrencies:
                with DelayProxy(s3.port, args.delay_ms / 1000) as proxy:
                    wall, listed = list_once(s3, proxy, concurrency)
                    requests = proxy.stats()["requests"]
                if listed != args.objects:
                    raise SystemExit(f"concurrency {concurrency} listed {listed} objects, "
                                     f"not {args.objects}")
                runs[concurrency].append((wall, requests))
                print(f"round {round_idx + 1}: concurrency {concurrency}: {wall:.2f} s, "
                      f"{requests} requests", file=sys.stderr, flush=True)

    medians = {c: sorted(w for w, _ in r)[len(r) // 2] for c, r in runs.items()}
    base = medians.get(1)
    print(f"{args.objects} objects in {args.labels} label prefixes, {args.delay_ms:g} ms per "
          f"request, {datetime.date.today()}, {platform.machine()} {os.cpu_count()} cores, "
          f"load average at the end {os.getloadavg()[0]:.1f}; median of {args.repeats} "
          f"interleaved rounds")
    print()
    print("| ORCHARD_S3_LIST_CONCURRENCY | listing wall s (median) | all rounds | requests "
          "| speed-up over 1 |")
    print("| ---: | ---: | --- | ---: | ---: |")
    for concurrency in concurrencies:
        walls = " / ".join(f"{w:.2f}" for w, _ in runs[concurrency])
        speedup = base / medians[concurrency] if base else float("nan")
        print(f"| {concurrency} | {medians[concurrency]:.2f} | {walls} | "
              f"{runs[concurrency][0][1]} | {speedup:.1f}x |")


if __name__ == "__main__":
    main()
