"""Hostile models, model files, classifier files and thread counts (issue 21, item 5): the
real CLI on files the tests make themselves (tests/integration/make_hostile_models.py).

Each case must end with a clear message and exit code, never a crash, an abort or a hang
(every call has a subprocess timeout); bad rows become error rows and good rows are kept."""
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import orchard_binary, run_orchard
from make_hostile_models import write_all

TIMEOUT = 120  # seconds: far above any of these runs; only a hang reaches it


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("models"))


def _image(path, grey):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (grey, grey, grey)).save(path)


@pytest.fixture(scope="module")
def light_and_dark(tmp_path_factory):
    """light/: three bright images (finite under nan_dark); dark/: two black ones (NaN)."""
    root = tmp_path_factory.mktemp("images")
    for idx, grey in enumerate((200, 225, 250)):
        _image(root / "light" / f"l{idx}.png", grey)
        _image(root / "other" / f"o{idx}.png", 255 - idx * 40)
    for idx in range(2):
        _image(root / "dark" / f"d{idx}.png", 0)
    return root


def orchard(*args, **kwargs):
    return run_orchard(*args, check=False, timeout=TIMEOUT, **kwargs)


def test_a_model_declaring_a_huge_input_is_refused_by_name(models, light_and_dark, tmp_path):
    proc = orchard("run", "-i", light_and_dark, "-o", tmp_path / "out", "-q",
                   "-m", models["huge_input"])
    assert proc.returncode == 1, proc.stderr
    assert "huge_input.onnx" in proc.stderr and "[N,3,65536,65536]" in proc.stderr
    assert "4096x4096" in proc.stderr
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_a_model_declaring_a_too_wide_output_is_refused(models, light_and_dark, tmp_path):
    proc = orchard("featurize", "-i", light_and_dark, "-o", tmp_path / "out", "-q",
                   "-m", models["wide_output"])
    assert proc.returncode == 1, proc.stderr
    assert "wide_output.onnx" in proc.stderr and "66000" in proc.stderr


def test_nan_embeddings_are_embed_error_rows_and_the_rest_is_kept(models, light_and_dark,
                                                                   tmp_path):
    out = tmp_path / "out"
    proc = orchard("run", "-i", light_and_dark, "-o", out, "-q", "--json", "-m",
                   models["nan_dark"])
    assert proc.returncode == 0, proc.stderr
    features = pq.read_table(out / "features").to_pylist()
    assert sorted(row["path"] for row in features) == sorted(
        [f"light/l{idx}.png" for idx in range(3)] + [f"other/o{idx}.png" for idx in range(3)])
    assert all(math.isfinite(value) for row in features for value in row["features"])
    errors = pq.read_table(out / "errors").to_pylist()
    assert sorted(row["path"] for row in errors) == ["dark/d0.png", "dark/d1.png"]
    for row in errors:
        assert row["stage"] == "embed"
        assert "not finite" in row["message"] and "NaN" in row["message"], row
    # The PCA saw the six good rows only, and its numbers are finite.
    pca = json.loads((out / "pca_model" / "model.json").read_text())
    assert pca["n"] == 6
    assert all(math.isfinite(value) for value in pca["mean"] + pca["explained_variance"])


def test_a_fifo_as_the_model_is_refused_without_blocking(light_and_dark, tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    proc = orchard("run", "-i", light_and_dark, "-o", tmp_path / "out", "-q", "-m", fifo)
    assert proc.returncode == 1, proc.stderr
    assert "model.onnx" in proc.stderr and "not a regular file" in proc.stderr


def test_a_folder_or_a_device_as_the_model_is_refused(light_and_dark, tmp_path):
    for model, reason in ((tmp_path, "is a folder"), ("/dev/zero", "not a regular file")):
        proc = orchard("featurize", "-i", light_and_dark, "-o", tmp_path / "out", "-q",
                       "-m", model)
        assert proc.returncode == 1, proc.stderr
        assert reason in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", ["run", "featurize", "fit-pca", "project", "train",
                                     "predict"])
def test_threads_far_above_the_cores_are_a_usage_error(command, tmp_path):
    args = {"train": ["-i", tmp_path, "-o", tmp_path / "m"],
            "predict": ["-m", tmp_path, "-i", tmp_path, "-o", tmp_path / "p"],
            "run": ["-i", tmp_path, "-o", tmp_path / "o"],
            "featurize": ["-i", tmp_path, "-o", tmp_path / "o"]}.get(command,
                                                                    ["-o", tmp_path / "o"])
    proc = orchard(command, *args, "-j", 100000)
    assert proc.returncode == 2, proc.stderr
    assert "--threads" in proc.stderr and "four per core" in proc.stderr


@pytest.mark.parametrize("budget", range(8))
def test_threads_that_cannot_be_created_fail_the_run_cleanly(budget, models, light_and_dark,
                                                             tmp_path):
    """The test hook makes the (budget+1)-th thread start fail, as an exhausted process
    limit would: each start site in turn (prep threads, writer, PCA and projection
    workers). The run fails with the message, or (when the budget covers every start)
    succeeds; never an abort or a hang."""
    proc = orchard("run", "-i", light_and_dark, "-o", tmp_path / "out", "-q", "-j", 4,
                   "-m", models["mean"], env={"ORCHARD_FAULT_THREADS": str(budget)})
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    if proc.returncode == 1:
        assert "cannot start a thread" in proc.stderr, proc.stderr
        assert not (tmp_path / "out" / "_SUCCESS").exists()
    else:
        assert (tmp_path / "out" / "_SUCCESS").exists()
    if budget == 0:
        assert proc.returncode == 1


def _pids_cgroup(tmp_name, limit):
    root = Path("/sys/fs/cgroup/pids")
    group = root / tmp_name
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(limit))
    except OSError:
        return None
    return group


def test_a_real_thread_limit_never_hangs_or_aborts(models, light_and_dark, tmp_path):
    """Under a cgroup pids limit (where the test may make one), std::thread really fails:
    the run must end (timeout) with exit 0 or 1, never a signal."""
    group = _pids_cgroup(f"orchard-test-{os.getpid()}", 6)
    if group is None:
        pytest.skip("no writable pids cgroup here; the ORCHARD_FAULT_THREADS tests cover it")
    try:
        script = f'echo $$ > {group}/cgroup.procs && exec "$@"'
        proc = subprocess.run(
            ["sh", "-c", script, "sh", orchard_binary(), "run", "-i", str(light_and_dark),
             "-o", str(tmp_path / "out"), "-q", "-j", "8", "-m", str(models["mean"])],
            capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    finally:
        group.rmdir()


@pytest.fixture(scope="module")
def classifier(models, light_and_dark, tmp_path_factory):
    """A classifier trained on the mean model's features (light vs other vs dark)."""
    root = tmp_path_factory.mktemp("classifier")
    run_orchard("run", "-i", light_and_dark, "-o", root / "out", "-q", "-m", models["mean"],
                timeout=TIMEOUT)
    run_orchard("train", "-i", root / "out", "-o", root / "model", "-q", "--c", 1,
                "--validation-split", 0, timeout=TIMEOUT)
    return root / "model"


def _tampered(classifier, tmp_path, change):
    model = tmp_path / "model"
    shutil.copytree(classifier, model)
    document = json.loads((model / "classifier.json").read_text())
    change(document)
    # allow_nan: writes NaN/Infinity literals, which orchard must refuse (JSON has none).
    (model / "classifier.json").write_text(json.dumps(document, allow_nan=True))
    return model


def _set_first(field, value):
    def change(document):
        if isinstance(document[field][0], list):
            document[field][0][0] = value
        else:
            document[field][0] = value
    return change


TAMPERINGS = {
    "zero scale": (_set_first("scale", 0.0), "'scale'[0]"),
    "null mean": (_set_first("mean", None), "'mean'[0]"),
    "huge weight": (_set_first("weights", 1e300), "'weights[0]'[0]"),
    "short weight row": (lambda d: d["weights"][0].pop(), "'weights[0]'"),
    "missing bias": (lambda d: d["bias"].pop(), "'bias'"),
    "duplicate class": (lambda d: d["classes"].__setitem__(1, d["classes"][0]), "classes[1]"),
    "dim too large": (lambda d: d.__setitem__("dim", 7), "'mean'"),
    "negative dim": (lambda d: d.__setitem__("dim", -1), "'dim'"),
    "c is a string": (lambda d: d.__setitem__("c", "1"), "'c'"),
}


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_a_tampered_classifier_is_refused_naming_the_file_and_field(case, classifier, models,
                                                                     light_and_dark, tmp_path):
    change, field = TAMPERINGS[case]
    model = _tampered(classifier, tmp_path, change)
    proc = orchard("predict", "-m", model, "--backbone", models["mean"],
                   light_and_dark / "light" / "l0.png")
    assert proc.returncode == 1, proc.stderr
    assert "classifier.json" in proc.stderr and field in proc.stderr, proc.stderr
    proc = orchard("predict", "-m", model, "--backbone", models["mean"], "-i", light_and_dark,
                   "-o", tmp_path / "pred", "-q")
    assert proc.returncode == 1 and "classifier.json" in proc.stderr, proc.stderr


def test_the_largest_weights_accepted_still_give_finite_probabilities(classifier, models,
                                                                      light_and_dark, tmp_path):
    """3e38 (near FLT_MAX) is a valid weight: float32 logits used to overflow to NaN."""
    def change(document):
        for row_idx, row in enumerate(document["weights"]):
            for col in range(len(row)):
                row[col] = 3e38 if (row_idx + col) % 2 == 0 else -3e38
    model = _tampered(classifier, tmp_path, change)
    proc = orchard("predict", "-m", model, "--backbone", models["mean"], "--json",
                   light_and_dark / "light" / "l0.png", light_and_dark / "dark" / "d0.png")
    assert proc.returncode == 0, proc.stderr
    for entry in json.loads(proc.stdout):
        probabilities = [top["probability"] for top in entry["top"]]
        assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities), entry
        assert math.isclose(sum(probabilities), 1, rel_tol=1e-5), entry


def test_predict_refuses_a_fifo_photo_and_predicts_the_others(classifier, models,
                                                             light_and_dark, tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    proc = orchard("predict", "-m", classifier, "--backbone", models["mean"], "--json",
                   fifo, light_and_dark / "light" / "l0.png")
    assert proc.returncode == 1, proc.stderr  # one of two files could not be predicted
    entries = json.loads(proc.stdout)
    assert "not a regular file" in entries[0]["error"]
    assert "error" not in entries[1] and len(entries[1]["top"]) == 3
