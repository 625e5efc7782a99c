#!/usr/bin/env bash
# orchard against a far-away, throttling S3 (loopback SeaweedFS behind a delaying proxy):
# featurize at 0/20/50/100 ms per request and with 5 % of GETs answered 503, and the read
# path alone, in one run. See bench/s3_latency.py for the options.
#   bench/s3_latency.sh [--images 2000] [--delays 0,20,50,100] [--fail-fraction 0.05]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$ROOT/.deps/venv/bin/python" "$ROOT/bench/s3_latency.py" "$@"
