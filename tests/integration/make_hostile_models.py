"""Tiny ONNX models that break orchard's model contract in the ways a hostile or careless
model would, hand-encoded as protobuf (the `onnx` package is not a dependency).

Every model takes `images` [N,3,H,W] float32 and averages each channel
(GlobalAveragePool + Flatten: `features` [N,3]); the variants:
  mean:        the plain model (224x224 input)
  huge_input:  declares its input [N,3,65536,65536] (48 GiB per image)
  nan_dark:    sqrt of each channel mean: NaN for an image darker than mid-grey (the
               preprocessed pixels of a black image are all -1), finite for a white one
  wide_output: tiles the 3 means to 66000 values per image (more than orchard's bound)

Usage: make_hostile_models.py OUT_DIR  (writes OUT_DIR/<variant>.onnx)
"""
import struct
import sys
from pathlib import Path

FLOAT, INT64 = 1, 7


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    """A length-delimited field (strings, bytes, messages)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number, value):
    return _varint(number << 3) + _varint(value)


def _value_info(name, dims):
    """ValueInfoProto of a float tensor; a dim that is a string is symbolic (dim_param)."""
    shape = b"".join(_field(1, _field(2, d) if isinstance(d, str) else _int_field(1, d))
                     for d in dims)
    tensor_type = _int_field(1, FLOAT) + _field(2, shape)
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _node(op_type, inputs, outputs, attributes=b""):
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs) +
            _field(3, outputs[0] + "_node") + _field(4, op_type) + attributes)


def _int64_tensor(name, values):
    return (_int_field(1, len(values)) + _int_field(2, INT64) + _field(8, name) +
            _field(9, struct.pack(f"<{len(values)}q", *values)))


def model_bytes(variant):
    height = width = 224
    nodes = [_node("GlobalAveragePool", ["images"], ["pooled"]),
             _node("Flatten", ["pooled"], ["means"])]
    initializers = []
    out_dim = 3
    if variant == "huge_input":
        height = width = 65536
    if variant == "nan_dark":
        nodes.append(_node("Sqrt", ["means"], ["features"]))
    elif variant == "wide_output":
        out_dim = 66000
        initializers.append(_int64_tensor("repeats", [1, out_dim // 3]))
        nodes.append(_node("Tile", ["means", "repeats"], ["features"]))
    else:
        nodes.append(_node("Identity", ["means"], ["features"]))
    graph = (b"".join(_field(1, n) for n in nodes) + _field(2, variant) +
             b"".join(_field(5, t) for t in initializers) +
             _field(11, _value_info("images", ["N", 3, height, width])) +
             _field(12, _value_info("features", ["N", out_dim])))
    opset = _field(1, "") + _int_field(2, 13)
    return _int_field(1, 8) + _field(8, opset) + _field(2, "orchard-tests") + _field(7, graph)


VARIANTS = ("mean", "huge_input", "nan_dark", "wide_output")


def write_all(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for variant in VARIANTS:
        paths[variant] = out_dir / f"{variant}.onnx"
        paths[variant].write_bytes(model_bytes(variant))
    return paths


if __name__ == "__main__":
    for path in write_all(sys.argv[1]).values():
        print(path)
