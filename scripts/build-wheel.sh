#!/usr/bin/env bash
# Builds the orchard wheel (orchard._native + orchard.spark + the MobileNetV2 model) into
# dist/, with the project environment (.deps/venv: scikit-build-core, nanobind, pyarrow,
# onnxruntime) and no build isolation, so nothing is downloaded.
#   scripts/build-wheel.sh            -> dist/orchard-<version>-cp3XX-...-linux_x86_64.whl
# The wheel is for this machine's Python minor version and CPU architecture (EMR: build it
# on the same Python as the cluster nodes' /usr/bin/python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${ORCHARD_PYTHON:-$ROOT/.deps/venv/bin/python}"
[ -x "$PY" ] || { echo "build-wheel: $PY missing: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$ROOT/dist"
cd "$ROOT"
"$PY" -m pip wheel --no-build-isolation --no-deps -w "$ROOT/dist" "$ROOT"
ls -l "$ROOT"/dist/orchard-*.whl
