#!/usr/bin/env bash
# Sets everything up, builds, and runs every test:
#   1. unit tests and the CLI end-to-end tests under AddressSanitizer + UndefinedBehavior-
#      Sanitizer (build-asan/),
#      the pipeline tests under ThreadSanitizer (build-tsan/), a bounded libFuzzer run
#   2. the whole suite on the Release build (build/): unit, CLI end-to-end, S3 against a
#      real SeaweedFS S3 server on loopback, Spark local mode and standalone cluster, AWS checks.
# The last line is ctest's summary of step 2.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/setup-test-tools.sh"
bash "$ROOT/scripts/check-format.sh"
bash "$ROOT/scripts/check-layers.sh"

echo "== sanitizer build (ASan + UBSan): unit tests"
ORCHARD_BUILD_DIR="$ROOT/build-asan" bash "$ROOT/scripts/build.sh" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCHARD_SANITIZE=address,undefined -DORCHARD_BUILD_BENCHMARKS=OFF \
  -DORCHARD_BUILD_PYTHON=OFF
# Third-party libraries (ONNX Runtime, Arrow) are not instrumented: their one-off
# allocations at exit are suppressed, ours are not.
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ROOT/build-asan" -L unit --output-on-failure -j2

echo "== sanitizer build (ASan + UBSan): the CLI end to end"
ORCHARD_BIN="$ROOT/build-asan/apps/orchard/orchard" ASAN_OPTIONS=detect_leaks=1 \
  LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$ROOT/.deps/venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/integration/test_cli.py"

echo "== ThreadSanitizer build: pipeline tests (threads, queues, reorder window)"
cmake -S "$ROOT" -B "$ROOT/build-tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCHARD_WERROR=ON \
  -DORCHARD_SANITIZE=thread -DORCHARD_BUILD_BENCHMARKS=OFF -DORCHARD_BUILD_PYTHON=OFF >/dev/null
cmake --build "$ROOT/build-tsan" --target pipeline_test
ORCHARD_TEST_ORT_THREADS=1 TSAN_OPTIONS="halt_on_error=1 suppressions=$ROOT/tests/tsan.supp" \
  ctest --test-dir "$ROOT/build-tsan" -R '^pipeline_test$' --output-on-failure

echo "== fuzzing decode + preprocess (bounded)"
bash "$ROOT/scripts/fuzz.sh" "${ORCHARD_FUZZ_SECONDS:-60}"

echo "== release build: the whole suite"
bash "$ROOT/scripts/build.sh"
# The portable wheel and the wheelhouse an EMR node installs from (wheel_check and
# wheel_chroot_test use them).
bash "$ROOT/scripts/build-wheel.sh"
bash "$ROOT/scripts/make-wheelhouse.sh"
ctest --test-dir "$ROOT/build" --output-on-failure
