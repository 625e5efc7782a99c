#!/usr/bin/env bash
# The S3 listing of 100,000 objects in 131 label prefixes through 200 ms per request: one
# sequential walk against the parallel prefix listing. See bench/s3_list_bench.py.
#   bench/s3_list_bench.sh [--objects 100000] [--labels 131] [--delays 0,200] [--concurrency 1,8,32,64]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" exec "$ROOT/.deps/venv/bin/python" \
  "$ROOT/bench/s3_list_bench.py" "$@"
