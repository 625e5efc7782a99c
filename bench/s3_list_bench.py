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
which makes each request wait DELAY before it is forwarded. Each (delay, concurrency) runs
--repeats times in interleaved rounds; the table gives the median wall time, the requests
the proxy saw, the CPU seconds spent meanwhile by this process (orchard's listing threads
and the proxy's event loop) and by the server, and the speed-up over the sequential walk
at the same delay. The 0 ms rows are the floor that CPU (server, proxy, client on one
machine) puts under every delay. Every run must list all N objects.

Usage (PYTHONPATH must reach the built extension, python/orchard/_native*.so):
  PYTHONPATH=python .deps/venv/bin/python bench/s3_list_bench.py \
      [--objects 100000] [--labels 131] [--delays 0,200] [--concurrency 1,8,32,64] [--repeats 3]
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


def server_cpu_seconds(s3: S3Server) -> float:
    """User + system CPU time of the server process so far (Linux /proc)."""
    fields = Path(f"/proc/{s3._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def list_once(s3: S3Server, proxy: DelayProxy, concurrency: int) -> dict:
    os.environ.update(s3.env())
    os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
    os.environ["ORCHARD_S3_LIST_CONCURRENCY"] = str(concurrency)
    server_before, client_before = server_cpu_seconds(s3), time.process_time()
    start = time.perf_counter()
    items = orchard._native.list_images(f"s3://{BUCKET}/{PREFIX}", "", "")
    wall = time.perf_counter() - start
    return {"wall": wall, "listed": len(items),
            "client_cpu": time.process_time() - client_before,
            "server_cpu": server_cpu_seconds(s3) - server_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=131)
    parser.add_argument("--delays", default="0,200", help="ms per request")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--upload-workers", type=int, default=64)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    delays = [float(d) for d in args.delays.split(",") if d]
    settings = [(d, c) for d in delays for c in concurrencies]

    with S3Server() as s3:
        s3.make_bucket(BUCKET)
        upload_s = upload(s3, args.objects, args.labels, args.upload_workers)
        print(f"uploaded {args.objects} objects in {upload_s:.0f} s", file=sys.stderr, flush=True)
        runs = {setting: [] for setting in settings}
        for round_idx in range(args.repeats):
            for delay_ms, concurrency in settings:
                with DelayProxy(s3.port, delay_ms / 1000) as proxy:
                    result = list_once(s3, proxy, concurrency)
                    result["requests"] = proxy.stats()["requests"]
                if result["listed"] != args.objects:
                    raise SystemExit(f"concurrency {concurrency} listed {result['listed']} "
                                     f"objects, not {args.objects}")
                runs[(delay_ms, concurrency)].append(result)
                print(f"round {round_idx + 1}: {delay_ms:g} ms, concurrency {concurrency}: "
                      f"{result['wall']:.2f} s, {result['requests']} requests, CPU client "
                      f"{result['client_cpu']:.2f} s server {result['server_cpu']:.2f} s",
                      file=sys.stderr, flush=True)

    def median(setting, key="wall"):
        values = sorted(r[key] for r in runs[setting])
        return values[len(values) // 2]

    print(f"{args.objects} objects in {args.labels} label prefixes, {datetime.date.today()}, "
          f"{platform.machine()} {os.cpu_count()} cores, load average at the end "
          f"{os.getloadavg()[0]:.1f}; median of {args.repeats} interleaved rounds")
    print()
    print("| delay per request | ORCHARD_S3_LIST_CONCURRENCY | listing wall s (median) "
          "| all rounds | requests | CPU s client / server (median) | speed-up over 1 |")
    print("| ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for delay_ms, concurrency in settings:
        walls = " / ".join(f"{r['wall']:.2f}" for r in runs[(delay_ms, concurrency)])
        base = median((delay_ms, 1)) if (delay_ms, 1) in runs else float("nan")
        print(f"| {delay_ms:g} ms | {concurrency} | {median((delay_ms, concurrency)):.2f} | "
              f"{walls} | {runs[(delay_ms, concurrency)][0]['requests']} | "
              f"{median((delay_ms, concurrency), 'client_cpu'):.2f} / "
              f"{median((delay_ms, concurrency), 'server_cpu'):.2f} | "
              f"{base / median((delay_ms, concurrency)):.1f}x |")


if __name__ == "__main__":
    main()
