"""Helpers shared by the Spark tests: the input with bad files, and the parity checks of a
Spark output against the CLI's on the same input."""
import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pyarrow.parquet as pq

from conftest import REPO, SAMPLE, run_orchard

PYTHON_DIR = REPO / "python"


def make_input(root):
    """data/sample + a truncated JPEG + a text file + a label folder with a space and
    non-ASCII characters (URI escaping) + a hidden file (skipped by both)."""
    target = pathlib.Path(root) / "in put"
    shutil.copytree(SAMPLE, target)
    mango = sorted((target / "Mango").iterdir())
    (target / "Mango" / "corrupt.jpg").write_bytes(mango[0].read_bytes()[:200])
    (target / "Apple Braeburn" / "notes.txt").write_text("not an image\n")
    odd = target / "Pêche plate été"
    odd.mkdir()
    for idx, src in enumerate(mango[:3]):
        shutil.copy(src, odd / f"pêche {idx}%41.jpg")
    (odd / ".hidden.jpg").write_bytes(mango[0].read_bytes())
    return target


def spark_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYTHON_DIR), env.get("PYTHONPATH")) if p)
    env["PYSPARK_PYTHON"] = sys.executable
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env


def cli_output(input_dir, out):
    run_orchard("run", "-i", input_dir, "-o", out, "-q", "--threads", 2)
    return out


def _vectors(folder, column):
    table = pq.read_table(folder).sort_by("path")
    return table, np.array(table.column(column).to_pylist(), dtype=np.float64)


def assert_parity(spark_out, cli_out, report=None):
    """Same rows, errors and numbers as the CLI; `report` collects the largest deviations."""
    spark_out, cli_out = pathlib.Path(spark_out), pathlib.Path(cli_out)
    assert (spark_out / "_SUCCESS").exists()
    for sub in ("features", "pca", "errors"):
        assert any(spark_out.glob(f"{sub}/part-*.parquet")), sub
    s_features, s_matrix = _vectors(spark_out / "features", "features")
    c_features, c_matrix = _vectors(cli_out / "features", "features")
    assert s_features.schema.field("path").type == "string"
    assert str(s_features.schema.field("features").type.value_type) == "float"
    assert s_features.column("path").to_pylist() == c_features.column("path").to_pylist()
    assert s_features.column("label").to_pylist() == c_features.column("label").to_pylist()
    np.testing.assert_allclose(s_matrix, c_matrix, rtol=0, atol=1e-5)

    s_errors = sorted(pq.read_table(spark_out / "errors").to_pylist(), key=lambda r: r["path"])
    c_errors = sorted(pq.read_table(cli_out / "errors").to_pylist(), key=lambda r: r["path"])
    assert s_errors == c_errors and len(s_errors) == 2
    assert pq.read_table(spark_out / "errors").column_names == ["path", "stage", "message"]

    s_model = json.loads((spark_out / "pca_model" / "model.json").read_text())
    c_model = json.loads((cli_out / "pca_model" / "model.json").read_text())
    assert s_model["k"] == c_model["k"] and s_model["n"] == c_model["n"]
    ratio_diff = np.abs(np.array(s_model["explained_variance_ratio"])
                        - np.array(c_model["explained_variance_ratio"])).max()
    assert ratio_diff <= 1e-6

    s_pca, s_projected = _vectors(spark_out / "pca", "pca")
    c_pca, c_projected = _vectors(cli_out / "pca", "pca")
    assert s_pca.column("path").to_pylist() == c_pca.column("path").to_pylist()
    assert s_pca.column("label").to_pylist() == c_pca.column("label").to_pylist()
    assert s_projected.shape == c_projected.shape == (len(c_pca), c_model["k"])
    np.testing.assert_allclose(s_projected, c_projected, rtol=0, atol=1e-4)

    components = pq.read_table(spark_out / "pca_model" / "components.parquet")
    assert components.schema.equals(pq.read_table(cli_out / "pca_model" / "components.parquet").schema)
    assert components.num_rows == s_model["k"]
    svg = (spark_out / "report" / "scree.svg").read_text()
    assert svg.startswith("<svg") and f"k = {s_model['k']}" in svg
    summary = json.loads((spark_out / "report" / "summary.json").read_text())
    assert {key: summary["images"][key] for key in ("listed", "ok", "failed")} == \
        {"listed": len(c_features) + 2, "ok": len(c_features), "failed": 2}
    assert summary["pca"]["k"] == s_model["k"]
    if report is not None:
        report.update(features=float(np.abs(s_matrix - c_matrix).max()),
                      ratios=float(ratio_diff),
                      pca=float(np.abs(s_projected - c_projected).max()),
                      rows=len(c_features), k=s_model["k"])
