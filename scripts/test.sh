#!/usr/bin/env bash
# Sets everything up, builds, and runs every test:
#   1. unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   2. the whole suite on the Release build (build/): unit, CLI end-to-end, S3 against a
#      real MinIO server on loopback, Spark local mode and standalone cluster, AWS checks.
# The last line is ctest's summary of step 2.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/setup-test-tools.sh"
bash "$ROOT/scripts/check-format.sh"

echo "== sanitizer build (ASan + UBSan): unit tests"
ORCHARD_BUILD_DIR="$ROOT/build-asan" bash "$ROOT/scripts/build.sh" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCHARD_SANITIZE=address,undefined -DORCHARD_BUILD_BENCHMARKS=OFF
# Third-party libraries (ONNX Runtime, Arrow) are not instrumented: their one-off
# allocations at exit are suppressed, ours are not.
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ROOT/build-asan" -L unit --output-on-failure -j2

echo "== release build: the whole suite"
bash "$ROOT/scripts/build.sh"
ctest --test-dir "$ROOT/build" --output-on-failure
