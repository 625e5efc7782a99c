"""The opt-in int8 model (models/mobilenet_v2_imagenet_int8.onnx, made by
scripts/quantize-model.sh): it loads with its pinned sha256, featurizes all 60 sample images,
and its features stay close to the float model's (measured: cosine min 0.9825, mean 0.988)."""
import numpy as np
import pyarrow.parquet as pq

from conftest import REPO, SAMPLE, run_orchard

INT8_MODEL = REPO / "models" / "mobilenet_v2_imagenet_int8.onnx"
INT8_SHA256 = "66aae4c344bcfb78c3b43e2fe2b3e28f7c46d94e03d8d54ba4c7522a011a57be"
MIN_COSINE = 0.97  # measured min 0.9825 on data/sample, minus a margin for other CPUs


def features(out):
    table = pq.read_table(out / "features").sort_by("path")
    return table.column("path").to_pylist(), np.array(table.column("features").to_pylist(),
                                                      dtype=np.float64)


def test_int8_features_are_close_to_float(tmp_path):
    run_orchard("run", "-i", SAMPLE, "-o", tmp_path / "float", "-q")
    run_orchard("run", "-i", SAMPLE, "-o", tmp_path / "int8", "-q", "--model", INT8_MODEL,
                "--model-sha256", INT8_SHA256)
    float_paths, f = features(tmp_path / "float")
    int8_paths, q = features(tmp_path / "int8")
    assert len(int8_paths) == 60 and q.shape == (60, 1280)
    assert int8_paths == float_paths
    assert np.isfinite(q).all()
    cosine = (f * q).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(q, axis=1)
    assert cosine.min() > MIN_COSINE, cosine.min()
    assert cosine.mean() > 0.98, cosine.mean()


def test_int8_model_refused_with_a_wrong_sha256(tmp_path):
    proc = run_orchard("run", "-i", SAMPLE, "-o", tmp_path / "out", "-q", "--model", INT8_MODEL,
                       "--model-sha256", "0" * 64, check=False)
    assert proc.returncode != 0
