#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs them for a bounded time:
# decode_fuzzer (half of SECONDS), names_fuzzer (a quarter: names through the listing's
# escape, the terminal and HTML forms and the JSON dump) and loaders_fuzzer (the rest:
# classifier.json and pca_model/model.json parsed, validated and used).
# Usage: scripts/fuzz.sh [SECONDS=60]
# Seeds: the sample images, tests/data/decode and the bad-input corpus; crashes found are written to
# tests/fuzz/crashes/ and replayed as regression inputs on every run (tests/fuzz/regressions/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
NAMES_SECONDS=$(( SECONDS_TO_RUN / 4 > 0 ? SECONDS_TO_RUN / 4 : 1 ))
LOADERS_SECONDS=$NAMES_SECONDS
DECODE_SECONDS=$(( SECONDS_TO_RUN - NAMES_SECONDS - LOADERS_SECONDS > 0 ? \
  SECONDS_TO_RUN - NAMES_SECONDS - LOADERS_SECONDS : 1 ))
BUILD="$ROOT/build-fuzz"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DORCHARD_BUILD_FUZZERS=ON -DORCHARD_BUILD_TESTS=OFF \
  -DORCHARD_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" --target decode_fuzzer names_fuzzer loaders_fuzzer
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$ROOT/tests/fuzz/crashes"
find "$ROOT/data/sample" -type f -name '*.jpg' | head -20 | xargs -I{} cp {} "$work/corpus/"
# Odd but valid inputs of every decoder (CMYK, EXIF, palette, 16-bit, WebP alpha, BMP).
find "$ROOT/tests/data/decode" -type f ! -name '*.py' -exec cp {} "$work/corpus/" \;
"$ROOT/.deps/venv/bin/python" "$ROOT/tests/integration/make_bad_inputs.py" "$work/bad" >/dev/null
find "$work/bad" -type f -exec cp {} "$work/corpus/" \; 2>/dev/null || true
# Regression inputs first: each must run clean.
if compgen -G "$ROOT/tests/fuzz/regressions/*" >/dev/null; then
  "$BUILD/tests/fuzz/decode_fuzzer" "$ROOT"/tests/fuzz/regressions/*
fi
ASAN_OPTIONS=detect_leaks=0 "$BUILD/tests/fuzz/decode_fuzzer" "$work/corpus" \
  -max_total_time="$DECODE_SECONDS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$ROOT/tests/fuzz/crashes/" -print_final_stats=1 2>&1 | tail -15
# Names: seeds are the hostile cases of tests/integration/test_hostile_names.py.
mkdir -p "$work/names"
printf 'col\xffx/a.jpg' >"$work/names/invalid-byte"
printf 'col%%FFx/a.jpg' >"$work/names/percent-text"
printf 'sur\xed\xa0\x80/\xc0\xaf\xf4\x90\x80\x80.jpg' >"$work/names/surrogate-overlong"
printf 'esc\x1b[31mred\x1b]0;t\x07/line\r\nimages 9 ok.jpg' >"$work/names/controls"
printf 'bidi\xe2\x80\xaeevil\xe2\x81\xa6/gpj.\xe2\x80\xaeexe.jpg' >"$work/names/bidi"
ASAN_OPTIONS=detect_leaks=0 "$BUILD/tests/fuzz/names_fuzzer" "$work/names" \
  -max_total_time="$NAMES_SECONDS" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$ROOT/tests/fuzz/crashes/names-" -print_final_stats=1 2>&1 | tail -6
# Loaders: hand-written valid classifier.json / model.json files (a classifier on PCA
# vectors is its classifier.json, a NUL byte, then its pca_model.json) and tampered ones.
# No OpenCV here, so leaks are detected; one BLAS thread (the inputs are tiny).
cp -r "$ROOT/tests/fuzz/seeds/loaders" "$work/loaders"
OPENBLAS_NUM_THREADS=1 "$BUILD/tests/fuzz/loaders_fuzzer" "$work/loaders" \
  -dict="$ROOT/tests/fuzz/loaders.dict" \
  -max_total_time="$LOADERS_SECONDS" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$ROOT/tests/fuzz/crashes/loaders-" -print_final_stats=1 2>&1 | tail -6
echo "fuzz: ${SECONDS_TO_RUN}s without a crash"
