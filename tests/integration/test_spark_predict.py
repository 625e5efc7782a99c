"""`python -m orchard.spark predict` (local[2]) against `orchard predict` on the same images:
the same prediction rows, errors, part files and report/metrics.json (issue 13 point 3).

data/sample is split by file order: the first 12 images of each of its 3 classes train a
classifier with the CLI; the last 8 of each, a truncated JPEG and 2 images under a label
the classifier does not know are predicted. Small parts (8 rows) and 3 shards make the
Spark job use several tasks. About a minute on 2 cores (four Spark driver start-ups).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard
from spark_parity import spark_env

TRAIN_PER_CLASS = 12
PART_OPTIONS = ("--rows-per-part", 8, "--batch-size", 4)


def run_spark_predict(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "predict", "--master",
                           "local[2]", *map(str, args)], capture_output=True, text=True,
                          env=spark_env(), timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"orchard.spark predict exited {proc.returncode}:\n"
                             f"{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_predict")
    train, test = root / "train", root / "test"
    for label_dir in sorted(p for p in SAMPLE.iterdir() if p.is_dir()):
        for index, source in enumerate(sorted(label_dir.iterdir())):
            target = (train if index < TRAIN_PER_CLASS else test) / label_dir.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    mango = sorted((test / "Mango").iterdir())
    (test / "Mango" / "corrupt.jpg").write_bytes(mango[0].read_bytes()[:200])
    (test / "Kiwi").mkdir()  # a label the classifier does not know: unknown_labels
    for source in mango[:2]:
        shutil.copy(source, test / "Kiwi" / source.name)

    run_orchard("run", "-i", train, "-o", root / "train_out", "-q", "--threads", 2,
                "--pca-k", 2)
    model = root / "model"
    run_orchard("train", "-i", root / "train_out", "-o", model, "-q", "--threads", 2)
    cli = root / "cli"
    cli_summary = json.loads(run_orchard("predict", "-m", model, "-i", test, "-o", cli, "-q",
                                         "--json", "--threads", 2, *PART_OPTIONS).stdout)
    spark = root / "spark"
    proc = run_spark_predict("-m", model, "-i", test, "-o", spark, "--shards", 3, "--json",
                             *PART_OPTIONS)
    return {"root": root, "test": test, "model": model, "cli": cli, "spark": spark,
            "cli_summary": cli_summary, "spark_summary": json.loads(proc.stdout),
            "stderr": proc.stderr}


def assert_same_predictions(spark_dir, cli_dir):
    got = pq.read_table(spark_dir / "predictions")
    want = pq.read_table(cli_dir / "predictions")
    assert got.schema.equals(want.schema, check_metadata=False)
    got, want = got.sort_by("path").to_pylist(), want.sort_by("path").to_pylist()
    assert len(got) == len(want) > 0
    for mine, theirs in zip(got, want):
        assert {k: mine[k] for k in ("path", "label", "predicted")} == \
            {k: theirs[k] for k in ("path", "label", "predicted")}
        assert [t["label"] for t in mine["top5"]] == [t["label"] for t in theirs["top5"]]
    np.testing.assert_allclose([r["probability"] for r in got], [r["probability"] for r in want],
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose([[t["probability"] for t in r["top5"]] for r in got],
                               [[t["probability"] for t in r["top5"]] for r in want],
                               rtol=0, atol=1e-5)


def read_metrics(output):
    return json.loads((output / "report" / "metrics.json").read_text())


def test_spark_predict_matches_the_cli(runs):
    spark, cli = runs["spark"], runs["cli"]
    assert (spark / "_SUCCESS").exists() and not (spark / "_temporary").exists()
    assert_same_predictions(spark, cli)

    # The same errors (the truncated JPEG), and the same parts of every table.
    s_errors = sorted(pq.read_table(spark / "errors").to_pylist(), key=lambda r: r["path"])
    c_errors = sorted(pq.read_table(cli / "errors").to_pylist(), key=lambda r: r["path"])
    assert s_errors == c_errors
    assert [e["path"] for e in s_errors] == ["Mango/corrupt.jpg"]
    for table in ("predictions", "features", "errors"):
        names = sorted(p.name for p in (cli / table).glob("part-*.parquet"))
        assert sorted(p.name for p in (spark / table).glob("part-*.parquet")) == names, table
        if table != "errors":
            assert len(names) == 4  # 27 listed images, 8 rows per part
        for name in names:
            assert pq.read_table(spark / table / name).column("path").to_pylist() == \
                pq.read_table(cli / table / name).column("path").to_pylist()

    # report/metrics.json: the CLI's metrics, byte for byte.
    assert (spark / "report" / "metrics.json").read_text() == \
        (cli / "report" / "metrics.json").read_text()
    metrics = read_metrics(spark)
    assert metrics["rows"] == 3 * 8 + 2
    assert metrics["labelled_rows"] == 3 * 8
    assert metrics["unknown_labels"] == {"Kiwi": 2}
    assert metrics["accuracy"] > 0.8
    assert sum(map(sum, metrics["confusion_matrix"]["rows_true_columns_predicted"])) == 24

    summary, cli_summary = runs["spark_summary"], runs["cli_summary"]
    assert json.loads((spark / "report" / "summary.json").read_text()) == summary
    assert summary["images"] == cli_summary["images"] == {"listed": 27, "ok": 26, "failed": 1}
    for key in ("rows", "accuracy", "top5_accuracy", "labelled_rows"):
        assert summary[key] == cli_summary[key], key
    assert summary["model"]["sha256"] == cli_summary["model"]["sha256"]
    assert summary["engine"]["shards"] == 3
    html = (spark / "report" / "index.html").read_text()
    assert 'id="predict"' in html and "top-5 accuracy" in html
    assert "Confusion matrix" in html and "labelled images" in html  # the CLI metrics keys
    assert "26 images ok, 1 failed" in runs["stderr"]


def test_spark_predict_from_an_earlier_output(runs):
    """-i EARLIER_OUT: no featurizing, its features parts are predicted."""
    root, model = runs["root"], runs["model"]
    spark_again, cli_again = root / "spark_again", root / "cli_again"
    proc = run_spark_predict("-m", model, "-i", runs["cli"], "-o", spark_again, "--json")
    run_orchard("predict", "-m", model, "-i", runs["cli"], "-o", cli_again, "-q")
    summary = json.loads(proc.stdout)
    assert summary["features_from"] == str(runs["cli"]) and "images" not in summary
    assert not (spark_again / "features").exists() and not (spark_again / "errors").exists()
    assert pq.read_table(spark_again / "predictions").sort_by("path").equals(
        pq.read_table(cli_again / "predictions").sort_by("path"))
    assert_same_predictions(spark_again, runs["cli"])
    assert read_metrics(spark_again) == read_metrics(cli_again) == read_metrics(runs["cli"])

    # An existing output is refused unless --overwrite (and left as it was).
    refused = run_spark_predict("-m", model, "-i", runs["cli"], "-o", spark_again, check=False)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    assert (spark_again / "_SUCCESS").exists()


def test_another_backbone_is_refused(runs):
    """A classifier trained on another embedding model's features is refused before the
    output is touched, as `orchard predict` refuses it."""
    root = runs["root"]
    other = root / "model_other_backbone"
    shutil.copytree(runs["model"], other)
    classifier = json.loads((other / "classifier.json").read_text())
    classifier["feature_model_sha256"] = "0" * 64
    (other / "classifier.json").write_text(json.dumps(classifier))
    out = root / "refused"
    proc = run_spark_predict("-m", other, "-i", runs["test"], "-o", out, check=False)
    assert proc.returncode == 1
    assert "0" * 64 in proc.stderr and "same backbone" in proc.stderr
    assert not out.exists()
    cli = run_orchard("predict", "-m", other, "-i", runs["test"], "-o", out, check=False)
    assert cli.returncode == 1 and "same backbone" in cli.stderr
