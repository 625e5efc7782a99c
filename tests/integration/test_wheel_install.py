"""The wheel as a user gets it: `pip install --no-index --find-links WHEELHOUSE` of
dist/orchard-*.whl (scripts/build-wheel.sh; scripts/make-wheelhouse.sh fills the
wheelhouse, scripts/test.sh runs both before ctest) into a fresh venv, then, from a folder
outside the source tree with no PYTHONPATH or ORCHARD_MODEL:

- the installed `orchard` command runs the sample and its outputs equal the in-tree
  CLI's row for row; usage errors, --version and Ctrl-C behave as the executable's;
- the Python API (run, read, embed, an error case) gives the same tables and the
  exception class and exit code of the command line.

Registered in ctest as wheel_install_test (label `wheel`). A missing wheel or wheelhouse is
a failure that says what to run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import REPO, SAMPLE, orchard_binary

DIST = REPO / "dist"
WHEELHOUSE = Path(os.environ.get("ORCHARD_WHEELHOUSE", DIST / "wheelhouse"))
BUILD_HINT = "bash scripts/build-wheel.sh && bash scripts/make-wheelhouse.sh"
# The wheel is built with the portable (static) OpenCV, codecs and BLAS: features agree
# with the in-tree build to float rounding, not bit for bit (check_installed_wheel.py).
FEATURE_TOLERANCE = 1e-4


def clean_env(venv: Path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "ORCHARD_MODEL", "ORCHARD_BIN", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    wheels = sorted(DIST.glob("orchard-*.whl"), key=lambda path: path.stat().st_mtime)
    if not wheels:
        pytest.fail(f"no orchard wheel in {DIST}: run `{BUILD_HINT}`", pytrace=False)
    if not WHEELHOUSE.is_dir() or not any(WHEELHOUSE.glob("pyarrow-*.whl")):
        pytest.fail(f"no wheelhouse with pyarrow at {WHEELHOUSE}: run `{BUILD_HINT}`",
                    pytrace=False)
    root = tmp_path_factory.mktemp("wheel_venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    start = time.monotonic()
    proc = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index",
                           "--disable-pip-version-check", "--find-links", WHEELHOUSE, wheels[-1]],
                          capture_output=True, text=True, timeout=900, env=clean_env(venv))
    assert proc.returncode == 0, proc.stderr
    print(f"\n{wheels[-1].name}: {wheels[-1].stat().st_size / 2**20:.1f} MiB, installed into a "
          f"fresh venv in {time.monotonic() - start:.1f} s")
    work = root / "work"  # outside the source tree: nothing imports from it
    work.mkdir()
    return venv, work


def installed(venv_work, *args, timeout=600, **kwargs):
    venv, work = venv_work
    return subprocess.run([str(arg) for arg in args], capture_output=True, text=True, cwd=work,
                          env=clean_env(venv), timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def outputs(venv, tmp_path_factory):
    """The sample through the installed command and through the in-tree executable."""
    out = tmp_path_factory.mktemp("wheel_outputs")
    wheel = installed(venv, venv[0] / "bin" / "orchard", "run", "-i", SAMPLE, "-o", out / "wheel")
    assert wheel.returncode == 0, wheel.stderr
    tree = subprocess.run([orchard_binary(), "run", "-i", SAMPLE, "-o", out / "tree"],
                          capture_output=True, text=True, timeout=600)
    assert tree.returncode == 0, tree.stderr
    return out, wheel, tree


def assert_same_rows(left: Path, right: Path, tolerance: float = FEATURE_TOLERANCE) -> None:
    """Every table of two outputs: the same rows (sorted by path), the same non-float
    columns exactly, vectors within `tolerance`."""
    for name in ("features", "errors", "pca"):
        a = pq.read_table(left / name).sort_by("path")
        b = pq.read_table(right / name).sort_by("path")
        assert a.schema == b.schema and a.num_rows == b.num_rows, name
        for column in a.column_names:
            if column in ("features", "pca"):
                x = np.asarray(a.column(column).to_pylist(), np.float64)
                y = np.asarray(b.column(column).to_pylist(), np.float64)
                assert x.shape == y.shape, (name, column)
                if column == "pca":  # a component's sign is arbitrary up to rounding
                    y = y * np.where(np.sum(x * y, axis=0) < 0, -1, 1)
                assert np.abs(x - y).max(initial=0) <= tolerance * max(1, np.abs(x).max()), \
                    (name, column)
            else:
                assert a.column(column).equals(b.column(column)), (name, column)


def test_the_installed_command_runs_the_sample_as_the_in_tree_cli(venv, outputs):
    out, wheel, tree = outputs
    assert (out / "wheel" / "_SUCCESS").is_file()
    assert_same_rows(out / "wheel", out / "tree")
    summary = {name: json.loads((out / name / "report" / "summary.json").read_text())
               for name in ("wheel", "tree")}
    assert summary["wheel"]["images"] == summary["tree"]["images"]
    assert summary["wheel"]["pca"]["k"] == summary["tree"]["pca"]["k"]
    # The shipped model inside the package, checked as the CLI checks its own.
    assert "site-packages/orchard/models/" in summary["wheel"]["model"]["path"]
    assert summary["wheel"]["model"]["sha256"] == summary["tree"]["model"]["sha256"]
    # The same summary lines on stderr (timings and paths aside).
    keep = ("images ", "pca ")
    assert [line for line in wheel.stderr.splitlines() if line.startswith(keep)] == \
        [line for line in tree.stderr.splitlines() if line.startswith(keep)]


@pytest.mark.parametrize("args", [
    ["--version"],
    ["run", "-i", SAMPLE, "-o", SAMPLE / "inside"],
    ["run", "-i", SAMPLE, "-o", "/tmp/x", "--batch-size", "0"],
    ["fit-pca"],
    ["no-such-command"],
])
def test_the_installed_command_answers_as_the_executable(venv, args):
    wheel = installed(venv, venv[0] / "bin" / "orchard", *args)
    tree = subprocess.run([orchard_binary(), *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert (wheel.returncode, wheel.stdout, wheel.stderr) == \
        (tree.returncode, tree.stdout, tree.stderr)
    module = installed(venv, venv[0] / "bin" / "python", "-m", "orchard", *args)
    assert (module.returncode, module.stdout, module.stderr) == \
        (tree.returncode, tree.stdout, tree.stderr)


def block_sigint_and_send_it():
    """In the child before exec: SIGINT blocked (kept across exec) and already pending, so
    the job's handler takes it as soon as the job starts: a deterministic Ctrl-C."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_cancels_the_installed_command_with_exit_130(venv, tmp_path):
    proc = installed(venv, venv[0] / "bin" / "orchard", "run", "-i", SAMPLE, "-o", tmp_path / "o",
                     "-q", preexec_fn=block_sigint_and_send_it)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().endswith(
        "orchard: interrupted; nothing was published (re-run with --resume)"), proc.stderr
    assert not (tmp_path / "o" / "_SUCCESS").exists()


API_SCRIPT = r"""
import json, sys
import numpy as np
import orchard
sample, out, inside = sys.argv[1:4]
assert "site-packages" in orchard.__file__, orchard.__file__
summary = orchard.run(sample, out)
tables = orchard.read(out)
features = tables["features"].sort_by("path")
paths = [sample + "/" + p for p in features.column("path").to_pylist()[:4]]
vectors = orchard.embed(paths)
same = np.array_equal(vectors, np.asarray(features.column("features").to_pylist()[:4], np.float32))
try:
    orchard.run(sample, inside)
    error = None
except orchard.OrchardError as caught:
    error = [type(caught).__name__, caught.exit_code, str(caught)]
print(json.dumps({"images": summary.images.ok, "k": summary.pca.k,
                  "tables": {name: table.num_rows for name, table in tables.items()},
                  "embed_equals_features": bool(same), "error": error}))
"""


def test_the_installed_python_api(venv, outputs):
    out, _, _ = outputs
    proc = installed(venv, venv[0] / "bin" / "python", "-c", API_SCRIPT, SAMPLE, out / "api",
                     SAMPLE / "inside")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    tree = json.loads((out / "tree" / "report" / "summary.json").read_text())
    assert result["images"] == tree["images"]["ok"] and result["k"] == tree["pca"]["k"]
    assert result["tables"] == {"features": 60, "errors": 0, "pca": 60}
    assert result["embed_equals_features"]
    assert_same_rows(out / "api", out / "tree")
    usage = subprocess.run([orchard_binary(), "run", "-i", SAMPLE, "-o", SAMPLE / "inside"],
                           capture_output=True, text=True, timeout=120)
    message = usage.stderr.strip().splitlines()[-1].removeprefix("orchard: error: ")
    assert result["error"] == ["UsageError", usage.returncode, message] and usage.returncode == 2
