"""End-to-end tests of the orchard CLI on the bundled sample, read back with pyarrow."""
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard

LABELS = {"Apple Braeburn", "Mango", "Tomato Cherry Red"}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    proc = run_orchard("run", "--input", SAMPLE, "--output", out, "--batch-size", 16)
    return out, proc


def read_vectors(folder, column):
    table = pq.read_table(folder)
    table = table.sort_by("path")
    return table, np.array(table.column(column).to_pylist(), dtype=np.float32)


def test_run_writes_the_whole_output_contract(sample_run):
    out, proc = sample_run
    assert (out / "_SUCCESS").exists()
    assert not (out / "_temporary").exists()
    features, matrix = read_vectors(out / "features", "features")
    assert features.num_rows == 60
    assert matrix.shape == (60, 1280)
    assert set(features.column("label").to_pylist()) == LABELS
    for path, label in zip(features.column("path").to_pylist(), features.column("label").to_pylist()):
        assert path.split("/")[0] == label
        assert (SAMPLE / path).exists()
    assert np.isfinite(matrix).all() and matrix.min() >= 0 and matrix.max() <= 6

    model = json.loads((out / "pca_model" / "model.json").read_text())
    k = model["k"]
    assert 1 <= k < 60
    ratios = np.array(model["explained_variance_ratio"])
    assert ratios[:k].sum() >= 0.99 > ratios[: k - 1].sum()
    components = pq.read_table(out / "pca_model" / "components.parquet")
    assert components.num_rows == k

    pca, projected = read_vectors(out / "pca", "pca")
    assert projected.shape == (60, k)
    assert pca.column("path").to_pylist() == features.column("path").to_pylist()
    # The projection is (x - mean) . components, computed independently here.
    basis = np.array(model["components"])
    expected = (matrix.astype(np.float64) - np.array(model["mean"])) @ basis.T
    np.testing.assert_allclose(projected, expected, rtol=1e-4, atol=1e-4)

    assert pq.read_table(out / "errors").num_rows == 0
    svg = (out / "report" / "scree.svg").read_text()
    assert svg.startswith("<svg") and f"k = {k}" in svg
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["images"]["ok"] == 60 and summary["images"]["failed"] == 0
    assert summary["pca"]["k"] == k
    assert summary["images_per_second"] > 0
    assert "images" in proc.stderr and "pca" in proc.stderr


def test_pandas_reads_the_tables(sample_run):
    out, _ = sample_run
    frame = pq.read_table(out / "features").to_pandas()
    assert list(frame.columns) == ["path", "label", "features"]
    assert len(frame["features"].iloc[0]) == 1280


def test_bad_files_become_error_rows_and_good_rows_survive(sample_copy, tmp_path):
    good = sample_copy / "Mango" / (sorted(os.listdir(sample_copy / "Mango"))[0])
    (sample_copy / "Mango" / "corrupt.jpg").write_bytes(good.read_bytes()[:200])
    (sample_copy / "Apple Braeburn" / "notes.txt").write_text("not an image\n")
    out = tmp_path / "out"
    proc = run_orchard("run", "-i", sample_copy, "-o", out)
    assert pq.read_table(out / "features").num_rows == 60
    errors = pq.read_table(out / "errors").to_pylist()
    assert sorted(e["path"] for e in errors) == ["Apple Braeburn/notes.txt", "Mango/corrupt.jpg"]
    assert all(e["stage"] == "decode" and e["message"] for e in errors)
    assert "warning: Mango/corrupt.jpg" in proc.stderr
    assert (out / "_SUCCESS").exists()


def test_path_glob_keeps_only_matching_names(sample_copy, tmp_path):
    (sample_copy / "Apple Braeburn" / "notes.txt").write_text("not an image\n")
    kept = sorted(os.listdir(sample_copy / "Mango"))[:2]
    out = tmp_path / "out"
    run_orchard("featurize", "-i", sample_copy, "-o", out, "--path-glob", "1*_100.jpg", "-q")
    paths = pq.read_table(out / "features").column("path").to_pylist()
    assert paths and all(os.path.basename(path).startswith("1") for path in paths)
    assert pq.read_table(out / "errors").num_rows == 0  # notes.txt was never listed
    assert all(f"Mango/{name}" in paths for name in kept if name.startswith("1"))
    proc = run_orchard("run", "-i", sample_copy, "-o", tmp_path / "none", "--path-glob",
                       "*.png", check=False)
    assert proc.returncode != 0
    assert "match --path-glob '*.png'" in proc.stderr
    assert not (tmp_path / "none").exists()


def test_existing_output_is_refused_then_replaced_with_overwrite(sample_run, tmp_path):
    out, _ = sample_run
    proc = run_orchard("featurize", "-i", SAMPLE, "-o", out, check=False)
    assert proc.returncode == 1
    assert "--overwrite" in proc.stderr
    target = tmp_path / "out"
    run_orchard("featurize", "-i", SAMPLE, "-o", target)
    (target / "features" / "part-00099.parquet").write_text("from an older run")
    run_orchard("featurize", "-i", SAMPLE, "-o", target, "--overwrite")
    assert not (target / "features" / "part-00099.parquet").exists()
    assert (target / "_SUCCESS").exists()
    # A name orchard does not write: --overwrite refuses rather than delete it.
    (target / "notes.txt").write_text("mine")
    proc = run_orchard("featurize", "-i", SAMPLE, "-o", target, "--overwrite", check=False)
    assert proc.returncode == 2 and "'notes.txt'" in proc.stderr
    assert (target / "notes.txt").read_text() == "mine" and (target / "_SUCCESS").exists()


def test_steps_give_the_same_result_as_run(sample_run, tmp_path):
    out, _ = sample_run
    steps = tmp_path / "steps"
    run_orchard("featurize", "-i", SAMPLE, "-o", steps, "--batch-size", 7)
    assert not (steps / "pca").exists()
    run_orchard("fit-pca", "-o", steps)
    run_orchard("project", "-o", steps)
    _, run_features = read_vectors(out / "features", "features")
    _, step_features = read_vectors(steps / "features", "features")
    np.testing.assert_allclose(step_features, run_features, atol=1e-5)
    _, run_pca = read_vectors(out / "pca", "pca")
    _, step_pca = read_vectors(steps / "pca", "pca")
    np.testing.assert_allclose(step_pca, run_pca, atol=1e-3)
    assert (steps / "report" / "scree.svg").exists()
    assert (steps / "report" / "summary.json").exists()
    info = json.loads(run_orchard("inspect", steps).stdout)
    assert info["complete"] is True
    assert info["tables"]["features"]["rows"] == 60
    assert info["tables"]["pca"]["rows"] == 60
    assert info["pca"]["k"] == json.loads((out / "pca_model" / "model.json").read_text())["k"]


def test_fixed_k(tmp_path):
    out = tmp_path / "out"
    run_orchard("run", "-i", SAMPLE, "-o", out, "--pca-k", 5)
    _, projected = read_vectors(out / "pca", "pca")
    assert projected.shape == (60, 5)


@pytest.mark.parametrize("args, needle", [
    (["run", "-i", "x", "-o", "y", "--bogus"], "--bogus"),
    (["run", "-i", "x", "-o", "y", "--batch-size", "0"], "batch-size"),
    (["run", "-i", "x", "-o", "y", "--pca-variance", "1.5"], "pca-variance"),
    (["run", "-o", "y"], "--input"),
    (["run", "-i", "x", "-o", "y", "--overwrite", "--resume"], "excludes"),
    ([], "subcommand"),
])
def test_cli_misuse_is_a_one_line_usage_error(args, needle):
    proc = run_orchard(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]


def test_clear_errors_for_missing_input_empty_input_and_bad_model(tmp_path):
    proc = run_orchard("run", "-i", tmp_path / "missing", "-o", tmp_path / "o1", check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_orchard("run", "-i", tmp_path / "empty", "-o", tmp_path / "o2", check=False)
    assert proc.returncode == 1 and "no files" in proc.stderr
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"\x00garbage")
    proc = run_orchard("run", "-i", SAMPLE, "-o", tmp_path / "o3", "--model", bad_model, check=False)
    assert proc.returncode == 1 and "bad.onnx" in proc.stderr
    proc = run_orchard("run", "-i", SAMPLE, "-o", tmp_path / "o4", "--model-sha256", "0" * 64,
                       check=False)
    assert proc.returncode == 1 and "sha256" in proc.stderr
    for name in ("o1", "o2", "o3", "o4"):
        assert not (tmp_path / name / "_SUCCESS").exists()


def test_help_lists_commands_and_exit_codes():
    proc = run_orchard("--help")
    for word in ("run", "featurize", "fit-pca", "project", "inspect", "Exit codes"):
        assert word in proc.stdout
