"""SIGINT and SIGTERM to the driver of `python -m orchard.spark` (as Ctrl-C, `timeout` or a
scheduler send them): the Spark jobs are cancelled, the driver says, as the CLI does, that
nothing was published and that --resume continues, and exits 130; a --resume run then
completes, reusing the parts the interrupted run had finished.

The job runs in local mode on a copy of 24 label folders of the bench images
(/work/shared/data/fruits360-bench, or data/sample when the bench set is absent), with
parts small enough for a dozen or more of them, so that the first finished part appears
early and most are still to come: the signal is sent once a finished part exists in the
staging folder (a real point in the job, not a delay)."""
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, SAMPLE
from spark_parity import spark_env

BENCH = REPO.parent / "shared" / "data" / "fruits360-bench"
LABELS = 24


def make_images(root):
    source = BENCH if BENCH.is_dir() else SAMPLE
    target = root / "images"
    for label in sorted(p for p in source.iterdir() if p.is_dir())[:LABELS]:
        shutil.copytree(label, target / label.name)
    return target


def finished_parts(output):
    """Parquet parts already complete under the output (the writer names unfinished files
    with an '.inprogress-' marker)."""
    return [p for p in output.rglob("part-*.parquet") if ".inprogress-" not in p.name]


# Rows per part: the bench copy (~1,200 images) in parts of 64, the 60-image sample in 4.
ROWS_PER_PART = 64 if BENCH.is_dir() else 4


def start_job(images, output, *extra):
    rows = ROWS_PER_PART
    command = [sys.executable, "-m", "orchard.spark", "--master", "local[2]",
               "--input", str(images), "--output", str(output),
               "--rows-per-part", str(rows), "--batch-size", str(min(rows, 32)),
               "--partitions", "64", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=spark_env(), start_new_session=True)


def wait_for(predicate, proc, what, limit=600):
    """Polls predicate() while proc runs; fails if proc ends first. `limit` only bounds a
    hung run (it is no timing assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the job ended ({proc.returncode}) before {what}:\n{err[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {limit}s")
        time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_cancels_publishes_nothing_and_resume_completes(tmp_path, signum):
    images = make_images(tmp_path)
    output = tmp_path / "out"
    proc = start_job(images, output)
    try:
        wait_for(lambda: finished_parts(output), proc, "a finished part")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-4000:]
    name = signal.Signals(signum).name
    assert (f"orchard.spark: interrupted ({name}): the Spark jobs were cancelled; nothing "
            "was published (re-run with --resume to continue)") in err
    assert "Traceback" not in err and "Py4JError" not in err, err[-4000:]
    assert not (output / "_SUCCESS").exists()
    assert not (output / "features").exists()  # nothing published
    done_before = len(finished_parts(output))
    assert done_before >= 1

    resumed = start_job(images, output, "--resume")
    out, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err[-4000:]
    assert "resuming: parts already written are reused" in err
    assert "reused from the interrupted run" in err
    assert (output / "_SUCCESS").exists()
    summary = json.loads((output / "report" / "summary.json").read_text())
    images = summary["images"]
    listed = images["listed"]
    # ok/failed count what this run computed; the rest came from the interrupted run
    assert 0 < images["reused_from_interrupted_run"] < listed
    assert images["ok"] + images["failed"] == listed  # the rows of the two tables
    features = sorted(p.name for p in (output / "features").glob("part-*.parquet"))
    assert len(features) == -(-listed // ROWS_PER_PART)
    assert not any(".inprogress-" in p.name for p in output.rglob("*"))
