#!/usr/bin/env bash
# Makes models/mobilenet_v2_imagenet_int8.onnx from models/mobilenet_v2_imagenet.onnx with
# ONNX Runtime's quantization tool, in its own pinned venv (.deps/venv-quant), separate from
# the project's venvs. Deterministic: the same inputs give the same sha256.
#   scripts/quantize-model.sh [extra quantize-model.py arguments]
# Calibration images: CALIB_DIR (default /work/shared/data/fruits360-bench), 100 of them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.deps/venv-quant
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet onnxruntime==1.24.4 onnx==1.23.2 numpy==2.4.6 pillow==13.0.0
fi
exec "$VENV/bin/python" scripts/quantize-model.py \
  --calib-dir "${CALIB_DIR:-/work/shared/data/fruits360-bench}" "$@"
