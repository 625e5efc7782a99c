#!/usr/bin/env python3
"""Makes the opt-in int8 model from the float one with ONNX Runtime's quantization tool.

    quantize-model.py [--float models/mobilenet_v2_imagenet.onnx]
                      [--out models/mobilenet_v2_imagenet_int8.onnx]
                      [--calib-dir /work/shared/data/fruits360-bench] [--calib-count 100]
                      [--mode static|dynamic] [--format qdq|qoperator]

Static mode (the default, the one shipped): post-training static quantization, QDQ format,
weights int8 per-channel (symmetric), activations uint8 (asymmetric) with MinMax ranges observed on
--calib-count images chosen deterministically (evenly spaced over the sorted list of files
of all class folders). Preprocessing of the calibration images is the model's own: whole image
resized to 224x224 bilinear (PIL), RGB, (x - 127.5) / 127.5, NCHW. The three first convs (FLOAT_NODES) stay float. Dynamic mode (ConvInteger) is kept
only for comparison: it is ~10x slower than float here.

The input `images` and the output `features` keep their names (and `logits` too).
Run it through scripts/quantize-model.sh, which makes the pinned venv.
"""
import argparse
import hashlib
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

SIZE = 224

# Kept in float: the stem conv and the first block. On x86 CPUs without AVX-VNNI (AVX2 only)
# ONNX Runtime's u8 x s8 int8 GEMM sums pairs of products in int16 (vpmaddubsw), which
# saturates; measured on data/sample, quantizing the stem conv (input in [-1, 1] with zero
# point 127, full-range weights) cut the features' cosine to the float model from 0.99
# (QDQ simulated in float) to 0.82 (real int8 kernels). With these three convs in float:
# cosine >= 0.98, for a few percent of the speed-up.
FLOAT_NODES = ["Conv2d_0_0", "expanded_conv_1/depthwise", "expanded_conv_1/project"]


def list_images(root):
    files = []
    for label in sorted(os.listdir(root)):
        folder = os.path.join(root, label)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):
                files.append(os.path.join(folder, name))
    return files


def choose(files, n):
    total = len(files)
    if n > total:
        raise SystemExit(f"only {total} images, asked for {n}")
    return [files[i * total // n] for i in range(n)]


def preprocess(path):
    with Image.open(path) as img:
        rgb = img.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    x = (np.asarray(rgb, dtype=np.float32) - 127.5) / 127.5
    return x.transpose(2, 0, 1)[np.newaxis].copy()


class Reader(CalibrationDataReader):
    def __init__(self, paths):
        self.paths = list(paths)
        self.index = 0

    def get_next(self):
        if self.index >= len(self.paths):
            return None
        path = self.paths[self.index]
        self.index += 1
        return {"images": preprocess(path)}

    def rewind(self):
        self.index = 0


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float", dest="float_model", default="models/mobilenet_v2_imagenet.onnx")
    parser.add_argument("--out", default="models/mobilenet_v2_imagenet_int8.onnx")
    parser.add_argument("--calib-dir", default="/work/shared/data/fruits360-bench")
    parser.add_argument("--calib-count", type=int, default=100)
    parser.add_argument("--mode", choices=["static", "dynamic"], default="static")
    parser.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    parser.add_argument("--reduce-range", action="store_true",
                        help="7-bit weights (measured: much worse features here)")
    parser.add_argument("--calibrate", choices=["minmax", "percentile", "entropy"],
                        default="minmax")
    parser.add_argument("--exclude", default=",".join(FLOAT_NODES),
                        help="comma-separated node names kept in float")
    args = parser.parse_args()

    print(f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}, numpy {np.__version__}",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference + ONNX Runtime's basic graph optimisations (no Conv/Clip fusion) so
        # that the quantizer sees a clean graph; recommended by the tool's documentation.
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(args.float_model, prepared, skip_symbolic_shape=True)
        if args.mode == "dynamic":
            quantize_dynamic(prepared, args.out, per_channel=True, weight_type=QuantType.QInt8)
        else:
            calib = choose(list_images(args.calib_dir), args.calib_count)
            quantize_static(
                prepared, args.out, Reader(calib),
                quant_format=QuantFormat.QDQ if args.format == "qdq" else QuantFormat.QOperator,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                nodes_to_exclude=[n for n in args.exclude.split(",") if n],
                weight_type=QuantType.QInt8,
                reduce_range=args.reduce_range,
                calibrate_method={"minmax": CalibrationMethod.MinMax,
                                  "percentile": CalibrationMethod.Percentile,
                                  "entropy": CalibrationMethod.Entropy}[args.calibrate])
    model = onnx.load(args.out)
    onnx.checker.check_model(model)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    assert "images" in inputs and "features" in outputs, (inputs, outputs)
    print(f"{args.out}: {os.path.getsize(args.out)} bytes sha256 {sha256(args.out)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
