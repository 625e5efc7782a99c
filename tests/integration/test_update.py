"""`run --update` (issue 24, item 4): an output brought up to date with its changed input.
Only new, changed and failed-to-read images are featurized; every other row is the old
output's own; rows of deleted images are gone; the PCA is refitted on the new rows; the
result is the output a fresh run of the changed input makes (same rows, labels, errors, PCA
up to float rounding), on the CLI and on Spark. Refusals leave the old output as it was."""
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


def table(out, name):
    return pq.read_table(out / name).sort_by("path").to_pydict()


def summary(out):
    return json.loads((out / "report" / "summary.json").read_text())


def classes():
    return sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())


def make_input(where):
    """The sample, and a FIFO named like an image (its read fails: a "read" error row)."""
    shutil.copytree(SAMPLE, where)
    os.mkfifo(where / classes()[0] / "stuck.jpg")
    return where


def change(where):
    """Adds two images (one in a new class), removes one, replaces one by another image
    (another size), touches one (same bytes, new mtime); the FIFO stays (retried)."""
    first, second = (where / name for name in classes()[:2])
    images = sorted(p for p in first.iterdir() if p.suffix == ".jpg" and p.is_file())
    others = sorted(p for p in second.iterdir() if p.is_file())
    shutil.copy(images[0], first / "added.jpg")
    (where / "New class").mkdir()
    shutil.copy(others[0], where / "New class" / "also added.jpg")
    images[1].unlink()
    shutil.copy(others[1], images[2])  # replaced
    os.utime(images[3], ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))  # touched


def assert_same_output(updated, fresh):
    """What a fresh run of the same input makes: rows, labels, errors, listing, PCA."""
    features, expected = table(updated, "features"), table(fresh, "features")
    assert features["path"] == expected["path"]
    assert features["label"] == expected["label"]
    np.testing.assert_allclose(np.array(features["features"]), np.array(expected["features"]),
                               rtol=0, atol=1e-4)
    errors, expected_errors = table(updated, "errors"), table(fresh, "errors")
    assert errors["path"] == expected_errors["path"]
    assert errors["stage"] == expected_errors["stage"]
    assert (updated / "listing" / "listing.bin").read_bytes() == \
        (fresh / "listing" / "listing.bin").read_bytes()
    got, want = summary(updated)["pca"], summary(fresh)["pca"]
    assert (got["k"], got["n"]) == (want["k"], want["n"])
    assert table(updated, "pca")["path"] == table(fresh, "pca")["path"]
    assert (updated / "_SUCCESS").exists()
    assert not (updated / "_temporary").exists()


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    """An output of the input, then the input changed; -> (input, output before the update)."""
    root = tmp_path_factory.mktemp("update")
    input_dir = make_input(root / "in")
    run_orchard("run", "-i", input_dir, "-o", root / "before", "-q")
    change(input_dir)
    return root, input_dir


def update_copy(root, name):
    out = root / name
    shutil.copytree(root / "before", out)
    return out


def test_update_featurizes_only_what_changed_and_equals_a_fresh_run(changed):
    root, input_dir = changed
    out = update_copy(root, "cli-updated")
    before = table(out, "features")
    proc = run_orchard("run", "--update", "-i", input_dir, "-o", out)
    assert "update     57 reused, 2 added, 2 changed, 1 retried, 1 removed" in proc.stderr
    update = summary(out)["update"]
    assert update == {"reused": 57, "added": 2, "changed": 2, "retried": 1, "removed": 1}
    images = summary(out)["images"]
    assert images["listed"] == 62 and images["ok"] == 61 and images["failed"] == 1
    # Unchanged rows are the old output's bytes, not features computed again.
    after = table(out, "features")
    old = dict(zip(before["path"], before["features"]))
    kept = [(path, row) for path, row in zip(after["path"], after["features"]) if path in old]
    assert len(kept) == 59  # 57 reused, the touched and the replaced ones featurized again
    identical = sum(1 for path, row in kept if row == old[path])
    assert identical >= 57
    run_orchard("run", "-i", input_dir, "-o", root / "fresh", "-q")
    assert_same_output(out, root / "fresh")


def test_an_update_with_nothing_changed_reuses_every_row(changed):
    root, input_dir = changed
    out = root / "settled"
    run_orchard("run", "-i", input_dir, "-o", out, "-q")
    before = table(out, "features")
    run_orchard("run", "--update", "-i", input_dir, "-o", out, "-q")
    update = summary(out)["update"]
    assert update == {"reused": 61, "added": 0, "changed": 0, "retried": 1, "removed": 0}
    assert table(out, "features") == before


def test_featurize_update_keeps_a_featurize_output(changed):
    root, input_dir = changed
    out = root / "features only"
    run_orchard("featurize", "-i", SAMPLE, "-o", out, "-q")  # the sample, without the FIFO
    run_orchard("featurize", "--update", "-i", input_dir, "-o", out, "-q")
    assert summary(out)["update"] == {"reused": 57, "added": 3, "changed": 2, "retried": 0,
                                      "removed": 1}
    assert not (out / "pca").exists() and (out / "_SUCCESS").exists()
    assert len(table(out, "features")["path"]) == 61


def test_featurize_update_of_a_run_output_drops_the_pca_made_of_the_old_features(changed):
    root, input_dir = changed
    out = update_copy(root, "run then featurize --update")
    assert (out / "pca").exists() and (out / "pca_model").exists()
    run_orchard("featurize", "--update", "-i", input_dir, "-o", out, "-q")
    assert not (out / "pca").exists() and not (out / "pca_model").exists()
    assert (out / "_SUCCESS").exists() and summary(out)["update"]["added"] == 2


def test_refusals_name_the_reason_and_leave_the_output_as_it_was(changed, tmp_path):
    root, input_dir = changed
    # Nothing there, or an interrupted run: --update needs a finished output.
    proc = run_orchard("run", "--update", "-i", input_dir, "-o", tmp_path / "none", check=False)
    assert proc.returncode != 0 and "_SUCCESS" in proc.stderr
    # An output of an older orchard (no listing/).
    old = update_copy(root, "no listing")
    shutil.rmtree(old / "listing")
    proc = run_orchard("run", "--update", "-i", input_dir, "-o", old, check=False)
    assert proc.returncode == 1 and "listing/" in proc.stderr and "--overwrite" in proc.stderr
    # A listing that was tampered with (one byte).
    tampered = update_copy(root, "tampered listing")
    listing = tampered / "listing" / "listing.bin"
    data = bytearray(listing.read_bytes())
    data[100] ^= 1
    listing.write_bytes(bytes(data))
    features_before = table(tampered, "features")
    proc = run_orchard("run", "--update", "-i", input_dir, "-o", tampered, check=False)
    assert proc.returncode == 1 and "checksum" in proc.stderr
    assert table(tampered, "features") == features_before
    # A features part that lost a row: named, and the output left whole.
    cut = update_copy(root, "cut part")
    part = cut / "features" / "part-00000.parquet"
    rows = pq.read_table(part)
    pq.write_table(rows.slice(1), part)
    proc = run_orchard("run", "--update", "-i", input_dir, "-o", cut, check=False)
    assert proc.returncode == 1 and "part-00000.parquet" in proc.stderr
    assert (cut / "_SUCCESS").exists() and not (cut / "_temporary" / "features").exists()
    # --update with --overwrite or --resume is a usage error.
    proc = run_orchard("run", "--update", "--overwrite", "-i", input_dir, "-o", cut, check=False)
    assert proc.returncode == 2


def test_spark_update_equals_the_cli_update(changed):
    root, input_dir = changed
    out = update_copy(root, "spark-updated")
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "--master", "local[2]",
                           "--input", str(input_dir), "--output", str(out), "--update",
                           "--rows-per-part", "16", "--partitions", "3"],
                          capture_output=True, text=True, env=spark_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert summary(out)["update"] == {"reused": 57, "added": 2, "changed": 2, "retried": 1,
                                      "removed": 1}
    cli = root / "cli-updated"
    if not cli.exists():
        cli = update_copy(root, "cli-updated-for-spark")
        run_orchard("run", "--update", "-i", input_dir, "-o", cli, "-q")
    got, want = table(out, "features"), table(cli, "features")
    assert got["path"] == want["path"] and got["label"] == want["label"]
    np.testing.assert_allclose(np.array(got["features"]), np.array(want["features"]), atol=1e-4)
    assert summary(out)["pca"]["k"] == summary(cli)["pca"]["k"]
