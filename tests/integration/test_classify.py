"""End-to-end tests of `orchard train` / `orchard predict` (issue 13) on the bench set.

The 131-class Fruits-360 bench set (50 images per class) is split by file order: the
first 40 images of each class train, the last 10 test (hard links in a temporary folder).
Cost on 2 cores: featurizing the 5,240 + 1,310 images is most of it (about 40-60 s);
training takes a few seconds.
"""
import json
import os
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_orchard

BENCH = pathlib.Path(os.environ.get("ORCHARD_BENCH_DATA",
                                    REPO.parent / "shared" / "data" / "fruits360-bench"))
TRAIN_PER_CLASS = 40
# Measured on this split: test accuracy 96.34 % on features, 96.87 % on pca (the last 10
# frames of each fruit's rotation are harder than a random share); validation accuracy
# (a random 10 % of the first 40) 99.62 % and 99.81 %. Asserted with a margin below.
MIN_TEST_ACCURACY = 0.93
MIN_VALIDATION_ACCURACY = 0.97


def split_bench(root: pathlib.Path):
    """Hard-links the first 40 images of each class into train/, the rest into test/."""
    train, test = root / "train", root / "test"
    for label_dir in sorted(p for p in BENCH.iterdir() if p.is_dir()):
        files = sorted(p for p in label_dir.iterdir() if p.is_file())
        for index, source in enumerate(files):
            target = (train if index < TRAIN_PER_CLASS else test) / label_dir.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    return train, test


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    if not BENCH.is_dir():
        pytest.fail(f"bench data not found at {BENCH} (set ORCHARD_BENCH_DATA)")
    root = tmp_path_factory.mktemp("classify")
    train, test = split_bench(root)
    # One bad file: it must become an errors row, not a prediction or a failure.
    bad = test / "Apple Braeburn" / "zz_not_an_image.jpg"
    bad.write_bytes(b"this is not a JPEG")
    run_orchard("run", "-i", train, "-o", root / "train_out", "-q")
    model = root / "model"
    trained = run_orchard("train", "-i", root / "train_out", "-o", model, "--json")
    pred = root / "pred"
    predicted = run_orchard("predict", "-m", model, "-i", test, "-o", pred, "--json", "-q")
    return {"root": root, "train": train, "test": test, "model": model, "pred": pred,
            "train_metrics": json.loads(trained.stdout),
            "predict_summary": json.loads(predicted.stdout)}


def test_train_writes_model_and_metrics(bench):
    model = bench["model"]
    assert (model / "classifier.json").exists()
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics == {k: v for k, v in bench["train_metrics"].items() if k != "output"}
    training = metrics["training"]
    assert training["rows"] == 131 * TRAIN_PER_CLASS
    assert training["validation_rows"] == 131 * 4  # 10 % of 40, stratified
    assert training["c_chosen"] and len(training["candidates"]) == 5
    assert training["validation_accuracy"] >= MIN_VALIDATION_ACCURACY
    summary = json.loads((bench["root"] / "train_out" / "report" / "summary.json").read_text())
    assert metrics["feature_model_sha256"] == summary["model"]["sha256"]
    classifier = json.loads((model / "classifier.json").read_text())
    assert len(classifier["classes"]) == 131
    assert len(classifier["mean"]) == len(classifier["scale"]) == 1280
    assert np.array(classifier["weights"]).shape == (131, 1280)


def test_predict_writes_predictions_and_metrics(bench):
    pred = bench["pred"]
    assert (pred / "_SUCCESS").exists()
    assert not (pred / "_temporary").exists()
    table = pq.read_table(pred / "predictions")
    entry = pa.struct([("label", pa.string()), ("probability", pa.float32())])
    assert table.schema.equals(pa.schema([("path", pa.string()), ("label", pa.string()),
                                          ("predicted", pa.string()),
                                          ("probability", pa.float32()),
                                          ("top5", pa.list_(entry))]), check_metadata=False)
    assert table.num_rows == 131 * 10
    rows = table.to_pylist()
    for row in rows[:50]:
        assert len(row["top5"]) == 5
        assert row["top5"][0] == {"label": row["predicted"], "probability": row["probability"]}
        probabilities = [t["probability"] for t in row["top5"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert row["path"].split("/")[0] == row["label"]
    accuracy = np.mean([row["label"] == row["predicted"] for row in rows])
    assert accuracy >= MIN_TEST_ACCURACY

    metrics = json.loads((pred / "report" / "metrics.json").read_text())
    assert metrics["labelled_rows"] == 1310
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["top5_accuracy"] >= metrics["accuracy"]
    assert set(metrics["per_class"]["Mango"]) == {"precision", "recall", "f1", "support"}
    assert metrics["per_class"]["Mango"]["support"] == 10
    confusion = np.array(metrics["confusion_matrix"]["rows_true_columns_predicted"])
    assert confusion.shape == (131, 131)
    assert confusion.sum() == 1310
    assert np.trace(confusion) == round(accuracy * 1310)

    errors = pq.read_table(pred / "errors").to_pylist()
    assert [e["path"] for e in errors] == ["Apple Braeburn/zz_not_an_image.jpg"]
    assert bench["predict_summary"]["images"]["failed"] == 1


def test_predict_from_an_earlier_output_skips_inference(bench):
    out = bench["root"] / "pred_again"
    proc = run_orchard("predict", "-m", bench["model"], "-i", bench["pred"], "-o", out, "--json")
    summary = json.loads(proc.stdout)
    assert summary["features_from"] == str(bench["pred"])
    assert "images" not in summary  # nothing was featurized
    first = pq.read_table(bench["pred"] / "predictions").sort_by("path")
    again = pq.read_table(out / "predictions").sort_by("path")
    assert again.equals(first)
    # The output is refused unless --overwrite.
    refused = run_orchard("predict", "-m", bench["model"], "-i", bench["pred"], "-o", out,
                          check=False)
    assert refused.returncode == 1
    run_orchard("predict", "-m", bench["model"], "-i", bench["pred"], "-o", out, "--overwrite")


def test_predict_single_photos_prints_top5(bench):
    photos = [bench["test"] / "Mango" / sorted(os.listdir(bench["test"] / "Mango"))[0],
              bench["test"] / "Banana" / sorted(os.listdir(bench["test"] / "Banana"))[0]]
    proc = run_orchard("predict", "-m", bench["model"], *photos)
    header, *lines = [line.split("\t") for line in proc.stdout.rstrip("\n").split("\n")]
    assert header == ["path", "rank", "label", "probability", "error"]
    assert len(lines) == 10 and all(len(line) == 5 and line[4] == "" for line in lines)
    assert [line[1] for line in lines] == ["1", "2", "3", "4", "5"] * 2
    assert lines[0][0] == str(photos[0]) and lines[0][2] == "Mango"
    assert lines[5][0] == str(photos[1]) and lines[5][2] == "Banana"
    assert 0 < float(lines[0][3]) <= 1
    bad = run_orchard("predict", "-m", bench["model"], photos[0],
                      bench["test"] / "Apple Braeburn" / "zz_not_an_image.jpg", check=False)
    assert bad.returncode == 1
    last = bad.stdout.splitlines()[-1].split("\t")
    assert last[0] == str(bench["test"] / "Apple Braeburn" / "zz_not_an_image.jpg")
    assert last[1:4] == ["", "", ""] and last[4].startswith("decode")


def test_train_on_pca_and_refusals(bench):
    root = bench["root"]
    model = root / "model_pca"
    metrics = json.loads(run_orchard("train", "-i", root / "train_out", "-o", model,
                                     "--on", "pca", "--json").stdout)
    assert metrics["on"] == "pca"
    assert metrics["training"]["validation_accuracy"] >= MIN_VALIDATION_ACCURACY
    assert (model / "pca_model.json").exists()
    # A PCA classifier predicts from embeddings: it projects with its own PCA model.
    out = root / "pred_pca"
    summary = json.loads(run_orchard("predict", "-m", model, "-i", bench["pred"], "-o", out,
                                     "--json").stdout)
    assert summary["accuracy"] >= MIN_TEST_ACCURACY
    # An existing model is not replaced without --overwrite; --c fixes C.
    refused = run_orchard("train", "-i", root / "train_out", "-o", model, check=False)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    fixed = json.loads(run_orchard("train", "-i", root / "train_out", "-o", model, "--on", "pca",
                                   "--c", "0.5", "--overwrite", "--json").stdout)
    assert fixed["training"]["c"] == 0.5 and not fixed["training"]["c_chosen"]
    # Features of another backbone are refused with a clear message.
    other = root / "other_backbone"
    (other / "features").mkdir(parents=True)
    for part in (bench["pred"] / "features").iterdir():
        os.link(part, other / "features" / part.name)
    (other / "report").mkdir()
    (other / "report" / "summary.json").write_text(json.dumps({"model": {"sha256": "0" * 64}}))
    (other / "_SUCCESS").write_text("")
    refused = run_orchard("predict", "-m", bench["model"], "-i", other, "-o", root / "x",
                          check=False)
    assert refused.returncode == 1
    assert "0" * 64 in refused.stderr and "same backbone" in refused.stderr


def test_python_predict_features(bench):
    native = pytest.importorskip("orchard._native")
    if not hasattr(native, "load_classifier"):
        pytest.skip("orchard._native was built without BindClassify (python/src/native.cc)")
    table = pq.read_table(bench["pred"] / "features").sort_by("path")
    features = np.array(table.column("features").to_pylist(), dtype=np.float32)
    classifier = native.load_classifier(str(bench["model"]))
    assert len(classifier.classes) == 131 and classifier.embedding_dim == 1280
    indices, probabilities, classes = native.predict_features(classifier, features, 5)
    assert indices.shape == probabilities.shape == (features.shape[0], 5)
    predictions = pq.read_table(bench["pred"] / "predictions").sort_by("path")
    assert [classes[i] for i in indices[:, 0]] == predictions.column("predicted").to_pylist()
    np.testing.assert_allclose(probabilities[:, 0],
                               predictions.column("probability").to_numpy(), rtol=1e-5)
    by_path, _, _ = native.predict_features(str(bench["model"]), features[:3], 1)
    assert by_path.shape == (3, 1)
    with pytest.raises(RuntimeError):
        native.predict_features(classifier, features[:, :10].copy(), 5)
