"""Shared fixtures of the integration tests: the orchard binary and the sample data."""
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"


def orchard_binary() -> str:
    path = os.environ.get("ORCHARD_BIN", str(REPO / "build" / "apps" / "orchard" / "orchard"))
    if not os.path.exists(path):
        pytest.fail(f"orchard binary not found at {path}: build first (make build)")
    return path


def run_orchard(*args, env=None, check=True, timeout=600):
    """Runs the CLI; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run([orchard_binary(), *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"orchard {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture
def sample_copy(tmp_path):
    """A writable copy of the 60-image sample."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target)
    return target


def s3_server_with_bucket(bucket):
    """Generator for module fixtures: a real S3 server on loopback with one bucket.

    Fails (never skips) when the server binary is not installed.
    """
    from s3server import S3Server, S3ServerNotInstalled, find_binary

    try:
        find_binary()
    except S3ServerNotInstalled as error:
        pytest.fail(str(error), pytrace=False)
    with S3Server() as server:
        server.make_bucket(bucket)
        yield server
