#!/usr/bin/env bash
# Loose JPEGs against WebDataset tar shards (`orchard pack`) on the loopback S3 at 0 and
# 50 ms per request, images/s. See bench/s3_tar_bench.py for the options.
#   bench/s3_tar_bench.sh [--images 2000] [--delays 0,50] [--samples-per-shard 200] [--repeats 3]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$ROOT/.deps/venv/bin/python" "$ROOT/bench/s3_tar_bench.py" "$@"
