"""Hostile inputs, crashes and re-runs never lose or duplicate data (issue 6)."""
import json
import os
import random
import shutil
import signal
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, orchard_binary, run_orchard
from make_bad_inputs import make_corpus


def table_rows(folder, column):
    table = pq.read_table(folder).sort_by("path")
    return table.column("path").to_pylist(), np.array(table.column(column).to_pylist(), np.float32)


def test_bad_input_corpus(tmp_path):
    root = tmp_path / "in"
    shutil.copytree(SAMPLE, root)
    expectations = make_corpus(root, next((SAMPLE / "Mango").iterdir()))
    out = tmp_path / "out"
    proc = run_orchard("run", "-i", root, "-o", out, "--pca-k", 3)
    paths, _ = table_rows(out / "features", "features")
    errors = {row["path"]: row for row in pq.read_table(out / "errors").to_pylist()}
    for relative, expected in expectations.items():
        if expected == "ok":
            assert relative in paths, f"{relative} should be featurized"
        else:
            assert relative in errors, f"{relative} should be an error row"
            assert errors[relative]["stage"] == expected[1]
            assert errors[relative]["message"]
    # Every good sample image is still there, nothing is duplicated, the loop is not followed.
    assert sum(p.split("/")[0] in ("Apple Braeburn", "Mango", "Tomato Cherry Red") for p in paths) == 60
    assert len(paths) == len(set(paths))
    assert not any("/loop/" in p for p in list(paths) + list(errors))
    assert "warning: broken/bomb.png" in proc.stderr


def make_input(tmp_path, copies):
    """The sample repeated `copies` times under distinct names (60 x copies images)."""
    root = tmp_path / "big"
    for label_dir in SAMPLE.iterdir():
        target = root / label_dir.name
        target.mkdir(parents=True)
        for image in label_dir.iterdir():
            for copy in range(copies):
                os.link(image, target / f"{copy:03d}_{image.name}")
    return root


def run_and_kill(args, delay):
    """Starts orchard, SIGKILLs it after `delay` seconds (if still running)."""
    proc = subprocess.Popen([orchard_binary(), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    root = make_input(tmp, 5)  # 300 images
    clean = tmp / "clean"
    run_orchard("run", "-i", root, "-o", clean, "--rows-per-part", 64, "--pca-k", 8)
    return root, clean


def assert_equal_outputs(out, clean):
    for table, column in (("features", "features"), ("pca", "pca")):
        paths, values = table_rows(out / table, column)
        clean_paths, clean_values = table_rows(clean / table, column)
        assert paths == clean_paths  # same rows, no duplicates
        np.testing.assert_allclose(values, clean_values, atol=1e-4)
    assert pq.read_table(out / "errors").num_rows == pq.read_table(clean / "errors").num_rows


def test_sigkill_at_random_moments_never_leaves_a_finished_looking_output(big_input, tmp_path):
    root, clean = big_input
    summary = json.loads((clean / "report" / "summary.json").read_text())
    total = summary["seconds"]["total"]
    rng = random.Random(1234)
    for attempt in range(10):
        out = tmp_path / f"out{attempt}"
        # Spread the kills over the whole run: listing, featurizing, PCA, writing, publishing.
        delay = rng.uniform(0.05, total * 1.1)
        run_and_kill(["run", "-i", root, "-o", out, "--rows-per-part", 64, "--pca-k", 8], delay)
        # The contract, whenever the kill landed (even after the result was published, while
        # the process was cleaning up or exiting): if _SUCCESS exists, the output is complete
        # and equal to a clean run; if not, a re-run completes it.
        if (out / "_SUCCESS").exists():
            assert_equal_outputs(out, clean)
            assert (out / "report" / "summary.json").exists()
            assert (out / "pca_model" / "model.json").exists()
        # Whatever state it was left in, a re-run completes it equal to the clean run.
        flag = "--resume" if (out / "_temporary").exists() and not (out / "_SUCCESS").exists() else "--overwrite"
        run_orchard("run", "-i", root, "-o", out, "--rows-per-part", 64, "--pca-k", 8, flag)
        assert (out / "_SUCCESS").exists()
        assert not (out / "_temporary").exists()
        assert_equal_outputs(out, clean)


def test_resume_reuses_finished_parts(big_input, tmp_path):
    root, clean = big_input
    out = tmp_path / "out"
    args = ["run", "-i", root, "-o", out, "--rows-per-part", 64, "--pca-k", 8]
    kill_once_parts_are_staged(args, out, 2)  # at least 128 images done
    refused = run_orchard(*args, check=False)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    run_orchard(*args, "--resume")
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["images"]["reused_from_interrupted_run"] >= 128
    assert_equal_outputs(out, clean)


def kill_once_parts_are_staged(args, out, parts):
    """Starts orchard and SIGKILLs it as soon as `parts` features parts are staged: an
    interrupted run, deterministically (no timing guess)."""
    proc = subprocess.Popen([orchard_binary(), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    staged = out / "_temporary" / "features"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if staged.exists() and len([p for p in staged.iterdir() if p.suffix == ".parquet"]) >= parts:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"
    assert not (out / "_SUCCESS").exists()


def test_resume_refuses_a_different_job(big_input, tmp_path):
    root, _ = big_input
    out = tmp_path / "out"
    kill_once_parts_are_staged(["run", "-i", root, "-o", out, "--rows-per-part", 64], out, 1)
    proc = run_orchard("run", "-i", SAMPLE, "-o", out, "--resume", check=False)
    assert proc.returncode == 1
    assert "different job" in proc.stderr


# ------------------------------------------------------------------ issue 21: bounded cost
def _images(tmp_path, layout):
    """Copies sample images into tmp_path/in as {relative path: sample index}."""
    samples = sorted((SAMPLE / "Mango").iterdir())
    root = tmp_path / "in"
    for relative, index in layout.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(samples[index], root / relative)
    return root


def _rows(out):
    features = pq.read_table(out / "features").column("path").to_pylist()
    errors = {row["path"]: row for row in pq.read_table(out / "errors").to_pylist()}
    return features, errors


def test_symlink_loops_and_cross_links_finish_with_each_image_once(tmp_path):
    # Two links to "." grew Arrow's listing without end; cross-linked siblings featurized
    # each image ~40 times.
    root = _images(tmp_path, {"A/a1.jpg": 0, "A/a2.jpg": 1, "B/b1.jpg": 2})
    os.symlink(".", root / "A" / "self1")
    os.symlink(".", root / "A" / "self2")
    os.symlink("../B", root / "A" / "toB")
    os.symlink("../A", root / "B" / "toA")
    os.symlink("..", root / "B" / "up")
    os.symlink("../..", root / "B" / "above")
    os.symlink("a1.jpg", root / "A" / "alias.jpg")
    out = tmp_path / "out"
    run_orchard("featurize", "-i", root, "-o", out, timeout=120)
    features, errors = _rows(out)
    assert features == ["A/a1.jpg", "A/a2.jpg", "B/b1.jpg"]
    assert errors == {}
    labels = pq.read_table(out / "features").column("label").to_pylist()
    assert labels == ["A", "A", "B"]


def test_files_that_are_not_images_are_error_rows_and_never_block(tmp_path):
    # A FIFO with no writer blocked the open forever; /dev/zero never ends.
    root = _images(tmp_path, {"A/good.jpg": 0, "B/good.jpg": 1})
    os.mkfifo(root / "A" / "pipe.jpg")
    os.symlink("/dev/zero", root / "A" / "zero.jpg")
    os.symlink("missing.jpg", root / "B" / "dangling.jpg")
    out = tmp_path / "out"
    proc = run_orchard("featurize", "-i", root, "-o", out, timeout=120)
    features, errors = _rows(out)
    assert features == ["A/good.jpg", "B/good.jpg"]
    assert {path: row["stage"] for path, row in errors.items()} == {
        "A/pipe.jpg": "read", "A/zero.jpg": "read", "B/dangling.jpg": "read"}
    assert "FIFO" in errors["A/pipe.jpg"]["message"]
    assert "character device" in errors["A/zero.jpg"]["message"]
    assert "broken symbolic link" in errors["B/dangling.jpg"]["message"]
    assert "A/pipe.jpg" in proc.stderr


def test_a_file_over_max_file_bytes_is_an_error_row(tmp_path):
    root = _images(tmp_path, {"A/small.jpg": 0, "B/small.jpg": 1})
    limit = max(os.path.getsize(root / "A" / "small.jpg"), os.path.getsize(root / "B" / "small.jpg"))
    with open(root / "A" / "large.jpg", "wb") as handle:
        handle.truncate(limit + 1)  # sparse: its bytes are never read
    out = tmp_path / "out"
    run_orchard("featurize", "-i", root, "-o", out, "--max-file-bytes", limit, timeout=120)
    features, errors = _rows(out)
    assert features == ["A/small.jpg", "B/small.jpg"]
    assert set(errors) == {"A/large.jpg"}
    assert errors["A/large.jpg"]["stage"] == "read"
    assert f"{limit + 1} bytes, over the limit of {limit}" in errors["A/large.jpg"]["message"]


def test_a_jpeg_with_a_thousand_scans_is_an_error_row(tmp_path):
    # 385 kB with 1,000 scans took 80 s of CPU; each scan of a progressive JPEG is a pass
    # over the whole image. The reason is asserted, not a time.
    from PIL import Image

    from make_bad_inputs import many_scans_jpeg
    root = _images(tmp_path, {"A/good.jpg": 0, "B/good.jpg": 1})
    photo = Image.open(root / "A" / "good.jpg").convert("RGB")
    (root / "A" / "scans.jpg").write_bytes(many_scans_jpeg(photo, 1000))
    (root / "B" / "large-scans.jpg").write_bytes(
        many_scans_jpeg(Image.new("RGB", (4096, 4096), (90, 160, 30)), 60))
    (root / "B" / "progressive.jpg").write_bytes(many_scans_jpeg(photo, 0))
    out = tmp_path / "out"
    run_orchard("featurize", "-i", root, "-o", out, "--max-pixels", 4096 * 4096, timeout=300)
    features, errors = _rows(out)
    assert features == ["A/good.jpg", "B/good.jpg", "B/progressive.jpg"]
    assert errors["A/scans.jpg"]["stage"] == "decode"
    assert "more than 100 scans" in errors["A/scans.jpg"]["message"]
    assert errors["B/large-scans.jpg"]["stage"] == "decode"
    assert "decode budget" in errors["B/large-scans.jpg"]["message"]
