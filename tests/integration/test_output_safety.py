"""An output is orchard's or it is refused; --resume reuses only what it proves is this
job's (issue 21). Every hostile case is built here, in a temporary folder, and run through
the real CLI."""
import json
import os
import shutil
import signal

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard

# 60 sample images in parts of 16: four parts, the last one short.
PARTS = ["-b", 8, "--rows-per-part", 16]


def tree(folder):
    """{relative path: bytes} of every file below `folder`."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = open(path, "rb").read()
    return files


def two_label_input(root):
    """in/A, in/B with two sample JPEGs each (the issue's set-up)."""
    images = sorted(SAMPLE.rglob("*.jpg"))
    for label, pair in (("A", images[:2]), ("B", images[20:22])):
        (root / label).mkdir(parents=True)
        for image in pair:
            shutil.copy(image, root / label / image.name)
    return root


def assert_refused(proc, *names):
    assert proc.returncode == 2, proc.stderr
    for name in names:
        assert str(name) in proc.stderr, proc.stderr


# ------------------------------------------------------------------ placement and overwrite
def test_overwrite_of_a_folder_holding_the_input_and_other_files_is_refused(tmp_path):
    anc = tmp_path / "anc"
    (anc / "other").mkdir(parents=True)
    (anc / "other" / "notes.txt").write_text("x")
    two_label_input(anc / "data")
    before = tree(anc)
    for command in ("run", "featurize"):
        proc = run_orchard(command, "-i", anc / "data", "-o", anc, "--overwrite", "-q", check=False)
        assert_refused(proc, anc, anc / "data")
    assert tree(anc) == before


def test_overwrite_of_a_folder_orchard_did_not_write_is_refused(tmp_path):
    data = two_label_input(tmp_path / "in")
    mine = tmp_path / "mine"
    (mine / "photos").mkdir(parents=True)
    (mine / "photos" / "cat.jpg").write_bytes(b"cat")
    (mine / "report").mkdir()  # an orchard name among the user's does not make it orchard's
    before = tree(mine)
    proc = run_orchard("run", "-i", data, "-o", mine, "--overwrite", "-q", check=False)
    assert_refused(proc, "'photos'", "did not write")
    assert tree(mine) == before


@pytest.mark.parametrize("where", ["same", "inside", "around", "link"])
def test_an_output_equal_to_inside_or_around_the_input_is_refused(tmp_path, where):
    data = two_label_input(tmp_path / "in")
    output = {"same": data, "inside": data / "A" / "out", "around": tmp_path,
              "link": tmp_path / "alias"}[where]
    if where == "link":
        output.symlink_to(data)
    before = tree(tmp_path)
    for flags in ([], ["--overwrite"]):
        proc = run_orchard("run", "-i", data, "-o", output, "-q", *flags, check=False)
        assert_refused(proc, output, data)
    assert tree(tmp_path) == before  # nothing created, nothing deleted


def test_train_and_predict_refuse_an_output_inside_their_input(tmp_path):
    out = tmp_path / "out"
    run_orchard("run", "-i", SAMPLE, "-o", out, "-q")
    proc = run_orchard("train", "-i", out, "-o", out / "model", check=False)
    assert_refused(proc, out / "model")
    model = tmp_path / "model"
    run_orchard("train", "-i", out, "-o", model)
    data = two_label_input(tmp_path / "in")
    proc = run_orchard("predict", "-m", model, "-i", data, "-o", data / "pred", check=False)
    assert_refused(proc, data / "pred")
    proc = run_orchard("predict", "-m", model, "-i", data, "-o", tmp_path, "--overwrite", check=False)
    assert_refused(proc, tmp_path)
    assert not (data / "pred").exists()


def test_a_link_planted_in_an_output_is_replaced_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    out = tmp_path / "out"
    run_orchard("run", "-i", SAMPLE, "-o", out, "-q")
    shutil.rmtree(out / "pca")
    (out / "pca").symlink_to(victim)
    run_orchard("run", "-i", SAMPLE, "-o", out, "-q", "--overwrite")
    assert (victim / "precious.txt").read_text() == "mine"
    assert not (out / "pca").is_symlink() and pq.read_table(out / "pca").num_rows == 60


@pytest.mark.parametrize("journal", ["policy update\n../victim\n", "policy overwrite\n../victim\n",
                                     "policy update\npca/../../victim\n"])
def test_a_publish_journal_naming_a_folder_outside_the_output_is_refused(tmp_path, journal):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    out = tmp_path / "out"
    run_orchard("run", "-i", SAMPLE, "-o", out, "-q")
    (out / "_temporary").mkdir()
    (out / "_temporary" / "_PUBLISHING").write_text(journal)
    for command in ("fit-pca", "project"):
        proc = run_orchard(command, "-o", out, "-q", check=False)
        assert proc.returncode == 1, proc.stderr
        assert "not an entry of an orchard output" in proc.stderr and "victim" in proc.stderr
    assert (victim / "precious.txt").read_text() == "mine"
    assert (out / "_SUCCESS").exists() and pq.read_table(out / "features").num_rows == 60


# ------------------------------------------------------------------ resume
def interrupted_featurize(input_root, out):
    """A run killed once every part is staged (the featurize:staged crash point)."""
    proc = run_orchard("run", "-i", input_root, "-o", out, "-q", *PARTS,
                       env={"ORCHARD_FAULT_AT": "featurize:staged"}, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    staged = out / "_temporary" / "features"
    assert sorted(p.name for p in staged.iterdir()) == [f"part-0000{i}.parquet" for i in range(4)]
    return staged


def assert_same_tables(out, clean):
    for table in ("features", "errors", "pca"):
        assert sorted(p.name for p in (out / table).iterdir()) == \
            sorted(p.name for p in (clean / table).iterdir()), table
        assert pq.read_table(out / table).sort_by("path").equals(
            pq.read_table(clean / table).sort_by("path")), table
    model = json.loads((out / "pca_model" / "model.json").read_text())
    assert model["n"] == pq.read_table(out / "features").num_rows


def test_resume_redoes_tampered_staged_parts_and_drops_strays(tmp_path):
    clean = tmp_path / "clean"
    run_orchard("run", "-i", SAMPLE, "-o", clean, "-q", *PARTS)
    out = tmp_path / "out"
    staged = interrupted_featurize(SAMPLE, out)
    # Part 1 replaced by part 0 (rows of another part), part 2 truncated; strays in every
    # folder. Parts 0 and 3 stay good.
    shutil.copy(staged / "part-00000.parquet", staged / "part-00001.parquet")
    data = (staged / "part-00002.parquet").read_bytes()
    (staged / "part-00002.parquet").write_bytes(data[:len(data) // 2])
    (staged / "part-00042.parquet").write_bytes((staged / "part-00000.parquet").read_bytes())
    (staged / "notes.txt").write_text("stray")
    shutil.copy(staged / "part-00000.parquet", out / "_temporary" / "errors" / "part-00077.parquet")
    (out / "_temporary" / "pca").mkdir()
    shutil.copy(staged / "part-00000.parquet", out / "_temporary" / "pca" / "part-00099.parquet")

    proc = run_orchard("run", "-i", SAMPLE, "-o", out, *PARTS, "--resume")
    for name in ("part-00001.parquet", "part-00002.parquet", "part-00042.parquet", "notes.txt",
                 "part-00077.parquet"):
        assert name in proc.stderr, (name, proc.stderr)
    assert "cannot read the Parquet file" in proc.stderr  # the truncated part, named
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["images"]["reused_from_interrupted_run"] == 16 + 12  # parts 0 and 3
    assert_same_tables(out, clean)


def test_resume_featurizes_again_after_an_image_is_replaced_by_one_of_the_same_size(tmp_path):
    data = tmp_path / "in"
    shutil.copytree(SAMPLE, data)
    out = tmp_path / "out"
    interrupted_featurize(data, out)
    victim = sorted(data.rglob("*.jpg"))[5]
    other = min((p for p in SAMPLE.rglob("*.jpg")), key=lambda p: p.stat().st_size)
    size = victim.stat().st_size
    replacement = other.read_bytes()
    assert len(replacement) < size
    victim.write_bytes(replacement + b"\0" * (size - len(replacement)))  # same size
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    proc = run_orchard("run", "-i", data, "-o", out, *PARTS, "--resume", check=False)
    assert proc.returncode == 1 and "different job" in proc.stderr, proc.stderr
    run_orchard("run", "-i", data, "-o", out, "-q", *PARTS, "--overwrite")
    clean = tmp_path / "clean"
    run_orchard("run", "-i", data, "-o", clean, "-q", *PARTS)
    assert_same_tables(out, clean)
