"""orchard._native (the Python extension) against the CLI's library behaviour: fast checks
that need no Spark."""
import json
import pathlib

import numpy as np
import pytest

import orchard
from conftest import REPO, SAMPLE

MODEL = REPO / "models" / "mobilenet_v2_imagenet.onnx"


@pytest.fixture(scope="module")
def embedder():
    return orchard.Embedder(MODEL.read_bytes(), threads=2,
                            expected_sha256=orchard.DEFAULT_MODEL_SHA256, batch_size=8)


@pytest.fixture(scope="module")
def sample_features(embedder):
    files = sorted(p for p in pathlib.Path(SAMPLE).rglob("*") if p.is_file())
    features, ok, errors = embedder.embed([p.read_bytes() for p in files])
    assert errors == [] and list(ok) == list(range(len(files)))
    return features


def test_embed_shapes_and_errors(embedder):
    good = sorted(pathlib.Path(SAMPLE).rglob("*.jpg"))[0].read_bytes()
    features, ok, errors = embedder.embed([good, good[:200], b"hello", good])
    assert features.dtype == np.float32 and features.shape == (2, 1280)
    assert ok.tolist() == [0, 3]
    np.testing.assert_array_equal(features[0], features[1])
    assert [(idx, stage) for idx, stage, _ in errors] == [(1, "decode"), (2, "decode")]
    assert all(message for _, _, message in errors)
    assert embedder.dim == 1280 and embedder.sha256 == orchard.DEFAULT_MODEL_SHA256
    empty, ok, errors = embedder.embed([])
    assert empty.shape == (0, 1280) and ok.shape == (0,) and errors == []


def test_bad_model_raises_orchard_error():
    with pytest.raises(orchard.OrchardError):
        orchard.Embedder(b"not a model")
    with pytest.raises(orchard.OrchardError, match="sha256"):
        orchard.Embedder(MODEL.read_bytes(), expected_sha256="0" * 64)


def test_stats_merge_and_fit_match_a_numpy_pca(sample_features):
    x = sample_features
    parts = [orchard.pca_stats(x[:17]), orchard.pca_stats(x[17:40]), orchard.pca_stats(x[40:])]
    merged = orchard.merge_stats(parts)
    model = json.loads(orchard._native.fit_pca(merged, 0.99, 0))
    whole = json.loads(orchard._native.fit_pca(orchard.pca_stats(x), 0.99, 0))
    np.testing.assert_allclose(model["explained_variance_ratio"],
                               whole["explained_variance_ratio"], atol=1e-9)
    centered = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centered.T @ centered / (len(x) - 1))[::-1]
    ratios = eigenvalues / eigenvalues.sum()
    np.testing.assert_allclose(model["explained_variance_ratio"][:10], ratios[:10], atol=1e-6)
    projected = orchard._native.project(orchard._native.fit_pca(merged, 0.99, 0), x)
    k = model["k"]
    assert projected.shape == (len(x), k) and projected.dtype == np.float32
    expected = (x.astype(np.float64) - np.array(model["mean"])) @ np.array(model["components"]).T
    np.testing.assert_allclose(projected, expected, atol=1e-4)
    fixed = json.loads(orchard._native.fit_pca(merged, 0.99, 5))
    assert fixed["k"] == 5
    svg = orchard.scree_svg(orchard._native.fit_pca(merged, 0.99, 0), "title")
    assert svg.startswith("<svg") and f"k = {k}" in svg


def test_failures_become_orchard_errors(sample_features):
    with pytest.raises(orchard.OrchardError):
        orchard.merge_stats([])
    with pytest.raises(orchard.OrchardError):
        orchard.merge_stats([orchard.pca_stats(sample_features), orchard.pca_stats(
            np.zeros((3, 4), dtype=np.float32))])
    with pytest.raises(orchard.OrchardError):
        orchard._native.fit_pca(orchard.pca_stats(sample_features[:1]), 0.99, 0)
    with pytest.raises(orchard.OrchardError):
        orchard._native.project("{not json", sample_features)
    with pytest.raises(orchard.OrchardError):
        orchard._native.project(orchard._native.fit_pca(orchard.pca_stats(sample_features), 0.99, 0),
                        np.zeros((2, 3), dtype=np.float32))


def test_the_commit_protocol_refuses_an_output_inside_its_input(tmp_path):
    """The Spark job begins its commit through this binding: the CLI's placement rule."""
    from orchard import _native

    data = tmp_path / "in"
    (data / "A").mkdir(parents=True)
    with pytest.raises(_native.OrchardError, match="inside the input"):
        _native.OutputCommitter(str(data / "out"), "refuse", "", str(data))
    with pytest.raises(_native.OrchardError, match="contains the input"):
        _native.OutputCommitter(str(tmp_path), "overwrite", "", str(data))
    assert not (data / "out").exists()
