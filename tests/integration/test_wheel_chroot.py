"""The orchard wheel installed the way an EMR node installs it, and run there.

A clean Debian 12 root (`debootstrap --variant=minbase bookworm`: python3.11, python3-venv,
Java 17; glibc 2.36; no build tree, no compiler, no -dev packages; made and cached by
scripts/make-test-chroot.sh under .deps/chroot-bookworm/) runs the EMR bootstrap action
itself, deploy/aws/bootstrap/install-orchard.sh, with `aws s3 cp` served from local
folders: it creates the python3.11 venv /opt/orchard/venv and installs the newest
dist/orchard-*.whl and its dependencies from the wheelhouse alone (`pip install --no-index
--find-links WHEELHOUSE -r requirements.txt`; dist/wheelhouse/ is made by
scripts/make-wheelhouse.sh), then the model and the launcher. pyspark 3.5.x (EMR 7.x's
Spark, which a node has already; ORCHARD_TEST_PYSPARK_VERSION picks another, built into a
wheel once by make-test-chroot.sh) is added to the venv. Then the job runs on data/sample
inside the root: the wheel's `orchard` command (`orchard run -i /sample -o ...`, and a
usage error's exit code 2), `python -m orchard.spark --master local[2] -i /sample -o ...`, and
as the EMR step runs it (spark-submit, the launcher, spark.pyspark.python and
spark.pyspark.driver.python = the venv's python, --model /opt/orchard/...). The outputs are
checked from outside with pyarrow.

Each command runs in a private mount namespace (`unshare --mount`): /proc, the wheelhouse
and pyspark wheels (read-only), the fake bucket, the input, the output, /opt/orchard and
/tmp are mounted for that process tree only, so nothing stays mounted however the run
ends, and the cached root is not written to (beyond empty mount points).

Skips only when this machine cannot make or enter a chroot (not root, no debootstrap, no
Debian mirror in the apt sources, no mount namespaces). A missing wheel or wheelhouse is a
failure that says what to run.

Run: `bash scripts/build-wheel.sh && bash scripts/make-wheelhouse.sh`, then
`ctest --test-dir build -L chroot` (or pytest on this file).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
WHEELHOUSE = Path(os.environ.get("ORCHARD_WHEELHOUSE", DIST / "wheelhouse"))
SAMPLE = ROOT / "data" / "sample"
SAMPLE_IMAGES = 60
BUILD_HINT = "bash scripts/build-wheel.sh && bash scripts/make-wheelhouse.sh"

# What a chroot'ed command sees: no variables of ours (no PYTHONPATH to a build tree).
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    # a chroot has no name for this host: keep Spark on loopback
    "SPARK_LOCAL_IP": "127.0.0.1",
    "SPARK_LOCAL_HOSTNAME": "localhost",
    "PYSPARK_PYTHON": "/opt/orchard/venv/bin/python",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def newest_wheel() -> Path:
    wheels = sorted(DIST.glob("orchard-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        pytest.fail(f"no orchard wheel in {DIST}: run `{BUILD_HINT}`", pytrace=False)
    return wheels[-1]


def check_wheelhouse(wheel: Path) -> None:
    """dist/wheelhouse/ holds exactly this wheel and a requirements.txt."""
    reqs = WHEELHOUSE / "requirements.txt"
    if not reqs.is_file():
        pytest.fail(f"no wheelhouse at {WHEELHOUSE}: run `bash scripts/make-wheelhouse.sh`",
                    pytrace=False)
    copy = WHEELHOUSE / wheel.name
    if not copy.is_file() or sha256(copy) != sha256(wheel):
        pytest.fail(f"{WHEELHOUSE} does not hold the newest wheel {wheel.name}: run "
                    "`bash scripts/make-wheelhouse.sh`", pytrace=False)


def make_test_chroot(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "make-test-chroot.sh"), *args],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode == 77:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no reason given"
        pytest.skip(f"no chroot on this machine: {reason}")
    return proc


@pytest.fixture(scope="module")
def env_ready():
    make_test_chroot("--check")  # skips here, and only here, when no chroot is possible
    wheel = newest_wheel()
    check_wheelhouse(wheel)
    t0 = time.monotonic()
    proc = make_test_chroot()
    assert proc.returncode == 0, f"scripts/make-test-chroot.sh failed:\n{proc.stderr[-6000:]}"
    info = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    print(f"\nchroot setup: {time.monotonic() - t0:.1f} s; wheel {wheel.name}; "
          f"pyspark {info['pyspark_version']}")
    return wheel, Path(info["chroot"]), Path(info["pyspark_wheels"]), info["pyspark_version"]


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below root in this (the host's) mount namespace."""
    prefix = str(root.resolve())
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


class Chroot:
    """Runs commands in the cached root, with this run's folders bind-mounted."""

    def __init__(self, root: Path, binds: dict[str, tuple[Path, bool]]):
        self.root = root.resolve()
        self.binds = binds  # mount point in the root -> (host folder, read-only)

    def run(self, argv: list[str], timeout: float, env: dict[str, str] | None = None):
        script = ['set -eu', 'R="$1"; shift', 'mount -t proc proc "$R/proc"']
        args = []
        for i, (point, (src, ro)) in enumerate(self.binds.items()):
            dst = f'"$R/{point.strip("/")}"'
            script.append(f'mkdir -p {dst}; mount --bind "${{SRC{i}}}" {dst}')
            if ro:
                script.append(f"mount -o remount,bind,ro {dst}")
            args.append(f"SRC{i}={src}")
        script.append('exec chroot "$R" "$@"')
        cmd = ["env", *args, "unshare", "--mount", "--propagation", "private", "--",
               "sh", "-c", "\n".join(script), "sh", str(self.root),
               "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in {**CHROOT_ENV, **(env or {})}.items()],
               *argv]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the whole tree (Java, Python workers)
            out, _ = p.communicate()
            raise AssertionError(f"timed out after {timeout} s: {argv}\n{out[-6000:]}")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode, out


# `aws s3 cp` for the bootstrap action in the chroot: the "bucket" s3://orchard-test/artifacts/
# is /artifacts (model, .sha256) and /wheelhouse (dist/wheelhouse, read-only).
FAKE_AWS = r"""#!/bin/bash
set -eu
rec=0; args=()
for a in "$@"; do
  case "$a" in s3 | cp) ;; --recursive) rec=1 ;; --*) ;; *) args+=("$a") ;; esac
done
key=${args[0]#s3://orchard-test/artifacts/}
case "$key" in wheelhouse/*) src=/wheelhouse/${key#wheelhouse/} ;; *) src=/artifacts/$key ;; esac
if ((rec)); then mkdir -p "${args[1]}"; cp -r "$src"/. "${args[1]}"/
else [[ -f "$src" ]] || { echo "fake aws: no $src" >&2; exit 1; }; cp "$src" "${args[1]}"; fi
"""
MODEL = ROOT / "models" / "mobilenet_v2_imagenet.onnx"
NODE_PYTHON = "/opt/orchard/venv/bin/python"  # what the EMR step and cluster config name


@pytest.fixture(scope="module")
def chroot_run(env_ready, tmp_path_factory):
    """Runs the EMR bootstrap action (deploy/aws/bootstrap/install-orchard.sh) in the root:
    python3.11 venv + `pip install --no-index` from the wheelhouse; adds pyspark (EMR's
    Spark provides it on a node); runs the job on the sample as `python -m orchard.spark`
    and as the EMR step does (spark-submit + the launcher + the venv's python)."""
    wheel, root, pyspark_wheels, pyspark_version = env_ready
    work = tmp_path_factory.mktemp("wheel_chroot")
    for d in ("opt-orchard", "out", "tmp", "artifacts", "fakebin"):
        (work / d).mkdir()
    os.chmod(work / "tmp", 0o1777)
    shutil.copytree(SAMPLE, work / "sample")
    shutil.copy(MODEL, work / "artifacts" / MODEL.name)
    (work / "artifacts" / f"{MODEL.name}.sha256").write_text(f"{sha256(MODEL)}  {MODEL.name}\n")
    (work / "fakebin" / "aws").write_text(FAKE_AWS)
    (work / "fakebin" / "sudo").write_text('#!/bin/sh\nexec "$@"\n')  # already root
    for f in ("aws", "sudo"):
        (work / "fakebin" / f).chmod(0o755)
    shutil.copy(ROOT / "deploy" / "aws" / "bootstrap" / "install-orchard.sh", work / "fakebin")
    box = Chroot(root, {
        "wheelhouse": (WHEELHOUSE.resolve(), True),
        "pyspark-wheels": (pyspark_wheels.resolve(), True),
        "artifacts": (work / "artifacts", True),
        "fakebin": (work / "fakebin", True),
        "sample": (work / "sample", True),
        "opt/orchard": (work / "opt-orchard", False),
        "out": (work / "out", False),
        "tmp": (work / "tmp", False),
    })
    steps = {}
    try:
        def step(name, argv, timeout, env=None):
            t0 = time.monotonic()
            rc, out = box.run(argv, timeout, env)
            steps[name] = (time.monotonic() - t0, rc, out)
            assert rc == 0, f"{name} failed (exit {rc}) in the chroot:\n{out[-8000:]}"
            return out

        fake_path = {"PATH": "/fakebin:" + CHROOT_ENV["PATH"]}
        step("bootstrap action", ["bash", "/fakebin/install-orchard.sh", "orchard-test"], 900,
             fake_path)
        step("pyspark (EMR provides it)", [
            NODE_PYTHON, "-m", "pip", "install", "--no-index", "--no-cache-dir",
            "--disable-pip-version-check", "--find-links", "/pyspark-wheels",
            f"pyspark=={pyspark_version}"], 600)
        step("import", [NODE_PYTHON, "-c",
                        "import orchard, orchard._native, pyspark; "
                        "print(orchard.__file__); print(pyspark.__version__)"], 120)
        # The wheel's `orchard` command (the executable's command line) in the clean root.
        step("orchard command", ["/opt/orchard/venv/bin/orchard", "run", "-i", "/sample",
                                 "-o", "/out/cli", "-q"], 900)
        usage_rc, usage_out = box.run(["/opt/orchard/venv/bin/orchard", "run", "-i", "/sample",
                                       "-o", "/sample/inside"], 120)
        steps["orchard usage error"] = (0.0, usage_rc, usage_out)
        step("python -m orchard.spark", [
            NODE_PYTHON, "-m", "orchard.spark", "--master", "local[2]",
            "-i", "/sample", "-o", "/out/module"], 900)
        step("spark-submit launcher", [
            "/opt/orchard/venv/bin/spark-submit", "--master", "local[2]",
            "--conf", f"spark.pyspark.python={NODE_PYTHON}",
            "--conf", f"spark.pyspark.driver.python={NODE_PYTHON}",
            "/opt/orchard/orchard_spark_main.py", "--input", "/sample", "--output", "/out/step",
            "--model", f"/opt/orchard/{MODEL.name}"], 900)
        extra = {"dpkg": box.run(["dpkg-query", "-W", "-f", "${Package}\\n"], 60)}
    finally:
        left = mounts_under(root)
        for m in sorted(left, key=len, reverse=True):  # never expected: a private namespace
            subprocess.run(["umount", "-l", m], check=False)
        assert not left, f"mounts left behind under {root}: {left}"
        for name, (secs, rc, _) in steps.items():
            print(f"  {name}: {secs:.1f} s (exit {rc})")
    return work / "out", steps, extra


def test_bootstrap_installs_from_the_wheelhouse_into_the_python311_venv(chroot_run):
    _, steps, extra = chroot_run
    log = steps["bootstrap action"][2]
    assert "wheelhouse sha256 ok" in log and "model sha256 ok" in log, log
    lines = steps["import"][2].strip().splitlines()
    assert lines[-2].startswith("/opt/orchard/venv/lib/python3.11/site-packages/orchard/"), lines
    assert lines[-1].startswith("3.5.") or os.environ.get("ORCHARD_TEST_PYSPARK_VERSION"), lines
    rc, packages = extra["dpkg"]
    assert rc == 0, packages
    dev = [p for p in packages.split() if p.endswith("-dev")]
    assert not dev, f"the clean root has -dev packages: {dev}"
    assert not {"gcc", "g++", "cmake", "libopencv-core406", "libopenblas0"} & set(packages.split())


@pytest.mark.parametrize("run", ["module", "step"])
def test_spark_job_runs_in_the_clean_root(chroot_run, run):
    out, steps, _ = chroot_run
    result = out / run
    assert (result / "_SUCCESS").is_file()
    features = pq.read_table(result / "features")
    pca = pq.read_table(result / "pca")
    assert features.num_rows == SAMPLE_IMAGES
    assert pca.num_rows == SAMPLE_IMAGES
    labels = {p.name for p in SAMPLE.iterdir() if p.is_dir()}
    assert set(features.column("label").to_pylist()) == labels
    assert len(features.column("features")[0].as_py()) == 1280


def test_the_installed_orchard_command_runs_in_the_clean_root(chroot_run):
    out, steps, _ = chroot_run
    result = out / "cli"
    assert (result / "_SUCCESS").is_file()
    assert pq.read_table(result / "features").num_rows == SAMPLE_IMAGES
    assert pq.read_table(result / "pca").num_rows == SAMPLE_IMAGES
    assert "images     60 ok, 0 failed" in steps["orchard command"][2]
    _, rc, usage = steps["orchard usage error"]
    assert rc == 2 and "is inside the input" in usage, usage
