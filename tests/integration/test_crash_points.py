"""fit-pca and project killed at each of their steps never leave a finished-looking output
that lost data, and a re-run completes it (issue 15).

The steps are the ORCHARD_FAULT_AT hooks of util/fault.h: the process SIGKILLs itself there.
"""
import json
import os
import shutil
import signal

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard

PUBLISH_STEPS = [
    "publish:journal-written",
    "publish:success-withdrawn",
    "publish:one-deleted",
    "publish:deleted",
    "publish:one-moved",
    "publish:success-written",
]
FIT_PCA_STEPS = [
    "fit-pca:begun",
    "fit-pca:after-fit",
    "fit-pca:after-report-copy",
    "fit-pca:after-model",
    "fit-pca:after-summary",
    "fit-pca:after-html-report",
    *PUBLISH_STEPS,
    "fit-pca:published",
]
PROJECT_STEPS = [
    "project:begun",
    "project:after-project",
    "project:after-report-copy",
    "project:after-summary",
    "project:after-html-report",
    *PUBLISH_STEPS,
    "project:published",
]
COMMANDS = {
    "fit-pca": ("featurize", ["--pca-k", 3], FIT_PCA_STEPS),
    "project": ("run", [], PROJECT_STEPS),
}


def snapshot(folder):
    """{relative path: bytes} of every file, staging excluded."""
    files = {}
    for root, _, names in os.walk(folder):
        relative_root = os.path.relpath(root, folder)
        if relative_root.split(os.sep)[0] == "_temporary":
            continue
        for name in names:
            relative = os.path.normpath(os.path.join(relative_root, name))
            with open(os.path.join(root, name), "rb") as handle:
                files[relative] = handle.read()
    return files


def inspect(out):
    return json.loads(run_orchard("inspect", out).stdout)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Per command: the output it starts from, and what a clean run of it makes."""
    tmp = tmp_path_factory.mktemp("crash_points")
    result = {}
    for command, (first, args, _) in COMMANDS.items():
        base = tmp / f"base-{command}"
        run_orchard(first, "-i", SAMPLE, "-o", base, "--rows-per-part", 16, "-q",
                    *(["--pca-k", 3] if first == "run" else []))
        finished = tmp / f"finished-{command}"
        shutil.copytree(base, finished)
        run_orchard(command, "-o", finished, "-q", *args)
        result[command] = (base, finished)
    return result


def assert_complete_and_whole(out, command, base, finished):
    """A finished-looking output is exactly the old one or has the whole new result."""
    files = snapshot(out)
    summary = json.loads(files["report/summary.json"])  # never lost nor empty
    assert "report/index.html" in files
    assert inspect(out)["complete"]
    if summary["command"] == command:
        assert set(files) == set(snapshot(finished))
        new = snapshot(finished)
        for name in files:
            if name.startswith(("features/", "errors/", "pca_model/", "pca/")):
                assert files[name] == new[name], name
    else:
        assert files == snapshot(base), "the old output changed"


@pytest.mark.parametrize("command,step", [(command, step) for command, (_, _, steps)
                                          in COMMANDS.items() for step in steps])
def test_killed_at_each_step(bases, tmp_path, command, step):
    base, finished = bases[command]
    _, args, _ = COMMANDS[command]
    out = tmp_path / "out"
    shutil.copytree(base, out)
    proc = run_orchard(command, "-o", out, "-q", *args, env={"ORCHARD_FAULT_AT": step},
                       check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    features_before = {k: v for k, v in snapshot(base).items() if k.startswith("features/")}
    assert {k: v for k, v in snapshot(out).items()
            if k.startswith("features/")} == features_before
    if (out / "_SUCCESS").exists():
        assert_complete_and_whole(out, command, base, finished)
    else:
        # Half-published: not claimed complete, and the journal lets the next run finish it.
        assert not inspect(out)["complete"]
        assert (out / "_temporary" / "_PUBLISHING").exists()

    run_orchard(command, "-o", out, "-q", *args)
    assert not (out / "_temporary").exists()
    assert_complete_and_whole(out, command, base, finished)
    assert json.loads((out / "report" / "summary.json").read_text())["command"] == command


def test_a_kill_while_a_part_is_written_leaves_no_temporary_file_in_the_result(tmp_path):
    """A kill mid-write leaves the writer's temporary file in staging; the resumed run must
    not publish it (readers such as pyarrow read every file of a table's folder). Found by
    the random-kill test of test_robustness.py when a kill landed in the PCA projection."""
    out = tmp_path / "out"
    args = ["run", "-i", SAMPLE, "-o", out, "--rows-per-part", 16, "--pca-k", 3, "-q"]
    proc = run_orchard(*args, env={"ORCHARD_FAULT_AT": "parquet:writer-opened"}, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = [p for p in (out / "_temporary").rglob("*") if ".inprogress-" in p.name]
    assert left, "the kill left no temporary file: the test no longer tests anything"

    run_orchard(*args, "--resume")
    assert not (out / "_temporary").exists()
    assert [p for p in out.rglob("*") if ".inprogress-" in p.name] == []
    clean = tmp_path / "clean"
    run_orchard("run", "-i", SAMPLE, "-o", clean, "--rows-per-part", 16, "--pca-k", 3, "-q")
    for table in ("features", "errors", "pca"):
        assert sorted(p.name for p in (out / table).iterdir()) == \
            sorted(p.name for p in (clean / table).iterdir()), table
        assert pq.read_table(out / table).sort_by("path").equals(
            pq.read_table(clean / table).sort_by("path")), table

