"""orchard index / search / dedup through the CLI on the 60-image sample (issue 25).

index -> search (photos and batch) -> dedup (planted copies, --against), and the hostile
cases: a tampered or truncated index, queries from another model, k above the index's
size, an output without rows, NaN vectors.
"""
import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import SAMPLE, run_orchard


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The sample plus, for 3 images, copies re-encoded (JPEG quality 90), resized (90 %) and
    cropped (3 % each side); run."""
    root = tmp_path_factory.mktemp("index")
    images = root / "images"
    shutil.copytree(SAMPLE, images)
    originals = []
    for label in sorted(p.name for p in images.iterdir())[:3]:
        original = sorted((images / label).iterdir())[0]
        originals.append(original)
        with Image.open(original) as img:
            img = img.convert("RGB")
            img.save(original.with_name("copy_reencoded.jpg"), quality=90)
            img.resize((img.width * 9 // 10, img.height * 9 // 10)).save(
                original.with_name("copy_resized.png"))
            w, h = img.size
            img.crop((w // 33, h // 33, w - w // 33, h - h // 33)).save(
                original.with_name("copy_cropped.jpg"), quality=95)
    out = root / "out"
    run_orchard("run", "-i", images, "-o", out, "-q")
    index = root / "idx"
    run_orchard("index", "-i", out, "-o", index, "-q")
    return {"root": root, "images": images, "out": out, "index": index, "originals": originals}


def test_index_writes_its_files_and_exact_recall(planted):
    index = planted["index"]
    metrics = json.loads((index / "metrics.json").read_text())
    manifest = json.loads((index / "manifest.json").read_text())
    assert metrics["kind"] == "flat" and metrics["rows"] == 69 and metrics["rows_skipped"] == 0
    assert metrics["recall_at_10"] == 1.0
    assert manifest["rows"] == 69 and manifest["backbone_sha256"] and manifest["pca_sha256"]
    rows = pq.read_table(index / "rows.parquet").to_pydict()
    assert rows["row"] == list(range(69))
    # Exact search over every row equals brute force over the output's pca vectors.
    pca = pq.read_table(planted["out"] / "pca").to_pydict()
    assert sorted(rows["path"]) == sorted(pca["path"])


def test_search_a_photo_finds_itself_first(planted):
    photo = planted["originals"][0]
    proc = run_orchard("search", "-x", planted["index"], photo, "-k", "4")
    lines = proc.stdout.strip().split("\n")
    assert lines[0] == "path\trank\tneighbour_path\tlabel\tdistance\terror"
    first = lines[1].split("\t")
    assert first[2].endswith(photo.parent.name + "/" + photo.name)
    assert float(first[4]) < 1e-3
    # Its planted copies are among its nearest.
    near = {line.split("\t")[2].rsplit("/", 1)[-1] for line in lines[1:]}
    assert {"copy_reencoded.jpg", "copy_resized.png", "copy_cropped.jpg"} & near


def test_batch_search_and_k_larger_than_the_index(planted, tmp_path):
    run_orchard("search", "-x", planted["index"], "-i", planted["out"], "-o", tmp_path / "nn",
                "-k", "500", "-q")
    table = pq.read_table(tmp_path / "nn" / "neighbours.parquet").to_pydict()
    assert len(table["path"]) == 69 * 69  # every row gets all 69, none invented
    assert max(table["rank"]) == 69
    firsts = [i for i, r in enumerate(table["rank"]) if r == 1]
    assert all(table["neighbour_path"][i] == table["path"][i] for i in firsts)


def test_dedup_groups_the_planted_copies_and_never_mixes_labels(planted, tmp_path):
    run_orchard("dedup", "-i", planted["out"], "-o", tmp_path / "dup", "-q")
    table = pq.read_table(tmp_path / "dup" / "duplicates.parquet").to_pydict()
    group_of = dict(zip(table["path"], table["group"]))
    for original in planted["originals"]:
        rel = f"{original.parent.name}/{original.name}"
        for copy in ("copy_reencoded.jpg", "copy_resized.png", "copy_cropped.jpg"):
            assert group_of.get(f"{original.parent.name}/{copy}") == group_of[rel], copy
    labels_by_group = {}
    for group, label in zip(table["group"], table["label"]):
        labels_by_group.setdefault(group, set()).add(label)
    assert all(len(labels) == 1 for labels in labels_by_group.values())
    summary = json.loads((tmp_path / "dup" / "summary.json").read_text())
    assert summary["groups"] == len(labels_by_group)


def test_dedup_against_another_output(planted, tmp_path):
    # The planted copies' originals alone, against the whole set: each has its copy there.
    subset = tmp_path / "subset"
    for original in planted["originals"]:
        (subset / original.parent.name).mkdir(parents=True)
        shutil.copy(original, subset / original.parent.name / original.name)
    out = tmp_path / "subset_out"
    # Features only (dedup's default vectors): no PCA model to share.
    run_orchard("featurize", "-i", subset, "-o", out, "-q")
    run_orchard("dedup", "-i", out, "-o", tmp_path / "dup", "--against", planted["out"], "-q")
    matches = pq.read_table(tmp_path / "dup" / "matches.parquet").to_pydict()
    assert len(matches["path"]) == 3
    assert all(m == p for m, p in zip(matches["match_path"], matches["path"]))
    # pca vectors of outputs with different PCA models are refused, naming both.
    proc = run_orchard("dedup", "-i", out, "-o", tmp_path / "dup2", "--against", planted["out"],
                       "--on", "pca", check=False)
    assert proc.returncode == 1 and "pca_model" in proc.stderr


def test_tampered_or_truncated_index_is_refused(planted, tmp_path):
    for damage in ("flip", "truncate"):
        index = tmp_path / damage
        shutil.copytree(planted["index"], index)
        data = bytearray((index / "index.faiss").read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        (index / "index.faiss").write_bytes(bytes(data))
        proc = run_orchard("search", "-x", index, planted["originals"][0], check=False)
        assert proc.returncode == 1
        assert "index.faiss" in proc.stderr and "rebuild" in proc.stderr
    # A manifest that is not JSON.
    index = tmp_path / "badmanifest"
    shutil.copytree(planted["index"], index)
    (index / "manifest.json").write_text("{not json")
    proc = run_orchard("search", "-x", index, planted["originals"][0], check=False)
    assert proc.returncode == 1 and "manifest.json" in proc.stderr


def test_queries_from_another_model_are_refused_naming_both(planted, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(planted["out"], other)
    run_orchard("fit-pca", "-o", other, "--pca-k", "5", "-q")
    run_orchard("project", "-o", other, "-q")
    proc = run_orchard("search", "-x", planted["index"], "-i", other, "-o", tmp_path / "nn",
                       check=False)
    assert proc.returncode == 1
    manifest = json.loads((planted["index"] / "manifest.json").read_text())
    assert manifest["pca_sha256"] in proc.stderr
    other_sha = hashlib.sha256((other / "pca_model" / "model.json").read_bytes())
    assert other_sha.hexdigest() in proc.stderr
    # Another backbone (its sha256 recorded in the output's summary): refused, both named.
    foreign = tmp_path / "foreign"
    shutil.copytree(planted["out"], foreign)
    summary = json.loads((foreign / "report" / "summary.json").read_text())
    summary["model"]["sha256"] = "0" * 64
    (foreign / "report" / "summary.json").write_text(json.dumps(summary))
    proc = run_orchard("search", "-x", planted["index"], "-i", foreign, "-o", tmp_path / "nn2",
                       check=False)
    assert proc.returncode == 1
    assert "0" * 64 in proc.stderr and manifest["backbone_sha256"] in proc.stderr


def test_an_output_without_rows_is_refused(planted, tmp_path):
    empty = tmp_path / "empty"
    shutil.copytree(planted["out"], empty)
    for part in (empty / "pca").iterdir():
        part.unlink()
    proc = run_orchard("index", "-i", empty, "-o", tmp_path / "idx", check=False)
    assert proc.returncode == 1 and "no rows" in proc.stderr


def test_nan_vectors_are_skipped_and_listed(planted, tmp_path):
    out = tmp_path / "nan"
    shutil.copytree(planted["out"], out)
    part = next((out / "pca").iterdir())
    table = pq.read_table(part)
    values = table.column("pca").to_pylist()
    values[0] = [float("nan")] * len(values[0])
    values[1] = [0.0] * len(values[1])
    table = table.set_column(table.schema.get_field_index("pca"), table.schema.field("pca"),
                             pa.array(values, type=table.schema.field("pca").type))
    pq.write_table(table, part)
    run_orchard("index", "-i", out, "-o", tmp_path / "idx", "-q")
    metrics = json.loads((tmp_path / "idx" / "metrics.json").read_text())
    assert metrics["rows_skipped"] == 2 and metrics["rows"] == 67
    errors = pq.read_table(tmp_path / "idx" / "errors.parquet").to_pydict()
    assert sorted(errors["path"]) == sorted(table.column("path").to_pylist()[:2])


def test_existing_index_needs_overwrite(planted, tmp_path):
    proc = run_orchard("index", "-i", planted["out"], "-o", planted["index"], check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


def test_predict_knn_labels_unseen_copies_with_predicts_outputs(planted, tmp_path):
    # An index of the features; 3 images per class resized to 80 % (not in the index).
    index = tmp_path / "idx"
    run_orchard("index", "-i", planted["out"], "-o", index, "--on", "features", "-q")
    images = tmp_path / "images"
    for label_dir in sorted(SAMPLE.iterdir()):
        (images / label_dir.name).mkdir(parents=True)
        for photo in sorted(label_dir.iterdir())[5:8]:
            with Image.open(photo) as img:
                img.convert("RGB").resize((80, 80)).save(images / label_dir.name / photo.name)
    out = tmp_path / "out"
    run_orchard("featurize", "-i", images, "-o", out, "-q")
    pred = tmp_path / "pred"
    proc = run_orchard("predict", "--knn", index, "-i", out, "-o", pred, "--json")
    summary = json.loads(proc.stdout)
    assert summary["command"] == "predict --knn" and summary["rows"] == 9
    metrics = json.loads((pred / "report" / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0 and metrics["labelled_rows"] == 9
    table = pq.read_table(pred / "predictions").to_pydict()
    assert table["predicted"] == table["label"]
    assert all(0 < p <= 1 + 1e-6 for p in table["probability"])  # vote shares (float32)
    # Neither a classifier nor an index: a usage error.
    proc = run_orchard("predict", "-i", out, "-o", tmp_path / "p2", check=False)
    assert proc.returncode == 2
