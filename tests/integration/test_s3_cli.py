"""End-to-end tests of the orchard CLI against a real S3-compatible server.

The server (SeaweedFS, see s3server.py) runs on loopback for the whole module. orchard
gets its credentials only from the environment (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY), the endpoint from --endpoint-url or AWS_ENDPOINT_URL. Results
are downloaded with pyarrow and compared with a local run of the same images.

The tests of this module share one server and one bucket and run in file order; the
last test greps everything the others printed or wrote for the secret key.
These fail, not skip, when the server binary is missing: build it with
scripts/install-s3-server.sh.
"""

import concurrent.futures
import json
import os
import pathlib
import shutil
import subprocess
import time

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, orchard_binary, s3_server_with_bucket
from s3server import download_dir, list_files, other_key

BUCKET = "orchard"
SAMPLE_LABELS = ["Apple Braeburn", "Mango", "Tomato Cherry Red"]

# Every orchard invocation of this module: (args, stdout, stderr), for the final
# secret-leak check.
RUNS = []
# Local output folders written by orchard in this module, for the same check.
LOCAL_OUTPUTS = []


# ---------------------------------------------------------------- fixtures, helpers


@pytest.fixture(scope="module")
def s3():
    yield from s3_server_with_bucket(BUCKET)


@pytest.fixture(scope="module")
def sample_in_s3(s3):
    """data/sample uploaded to s3://orchard/in/sample."""
    keys = s3.upload_dir(SAMPLE, BUCKET, "in/sample")
    assert len(keys) == 60
    return f"s3://{BUCKET}/in/sample"


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """A local `orchard run` of data/sample: what every S3 run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "out"
    run(["run", "-i", SAMPLE, "-o", out, "--batch-size", 16], env=clean_env())
    return out


def clean_env(extra=None):
    """os.environ without any AWS setting or ~/.aws files, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE="/nonexistent/aws-config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
               AWS_EC2_METADATA_DISABLED="true")
    env.update(extra or {})
    return env


def s3_env(s3, endpoint_in_env=True, **overrides):
    """Credentials via the environment only; the endpoint too unless told otherwise."""
    extra = {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": "us-east-1",
    }
    if endpoint_in_env:
        extra["AWS_ENDPOINT_URL"] = s3.endpoint
    extra.update(overrides)
    return clean_env(extra)


def run(args, env, check=True, timeout=900):
    args = [str(a) for a in args]
    proc = subprocess.run([orchard_binary(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    RUNS.append((args, proc.stdout, proc.stderr))
    for i, a in enumerate(args):
        if a in ("-o", "--output") and not args[i + 1].startswith("s3://"):
            LOCAL_OUTPUTS.append(pathlib.Path(args[i + 1]))
    if check and proc.returncode != 0:
        raise AssertionError(f"orchard {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc




def download(s3, s3_uri, dest):
    """Copies everything below s3://bucket/prefix to the local folder dest."""
    return download_dir(s3.filesystem(), s3_uri[len("s3://"):], dest)


def assert_published(s3, s3_uri):
    fs = s3.filesystem()
    base = s3_uri[len("s3://"):]
    files = list_files(fs, base)
    assert "_SUCCESS" in files, files
    assert not any(f.startswith("_temporary") for f in files), files


def assert_not_published(s3, s3_uri):
    files = list_files(s3.filesystem(), s3_uri[len("s3://"):])
    assert "_SUCCESS" not in files, files


def read_sorted(folder, column):
    table = pq.read_table(folder).sort_by("path")
    return table, np.array(table.column(column).to_pylist(), dtype=np.float32)


def assert_same_result(actual, expected, with_pca=True):
    """Same rows (paths, labels), features within 1e-5, same PCA k."""
    actual, expected = pathlib.Path(actual), pathlib.Path(expected)
    assert (actual / "_SUCCESS").exists()
    got, got_x = read_sorted(actual / "features", "features")
    want, want_x = read_sorted(expected / "features", "features")
    assert got.column("path").to_pylist() == want.column("path").to_pylist()
    assert got.column("label").to_pylist() == want.column("label").to_pylist()
    np.testing.assert_allclose(got_x, want_x, rtol=0, atol=1e-5)
    assert pq.read_table(actual / "errors").num_rows == pq.read_table(expected / "errors").num_rows
    if with_pca:
        got_k = json.loads((actual / "pca_model" / "model.json").read_text())["k"]
        want_k = json.loads((expected / "pca_model" / "model.json").read_text())["k"]
        assert got_k == want_k
        pca, _ = read_sorted(actual / "pca", "pca")
        assert pca.num_rows == got.num_rows


def make_copies(dest, labels, per_label, name=lambda i, src: f"{i:05d}_{src.name}"):
    """per_label distinct files under dest/<label>/, cycled from the sample's JPEGs."""
    sources = sorted(SAMPLE.rglob("*.jpg"))
    for label in labels:
        folder = dest / label
        folder.mkdir(parents=True)
        for i in range(per_label):
            src = sources[(i + len(label)) % len(sources)]
            shutil.copyfile(src, folder / name(i, src))
    return dest


# ---------------------------------------------------------------- tests


def test_s3_to_s3_equals_local_run(s3, sample_in_s3, local_reference, tmp_path):
    out = f"s3://{BUCKET}/out/s3-to-s3"
    # Endpoint by flag; credentials by environment only.
    proc = run(["run", "-i", sample_in_s3, "-o", out, "--batch-size", 16,
                "--endpoint-url", s3.endpoint], env=s3_env(s3, endpoint_in_env=False))
    assert "images" in proc.stderr
    assert_published(s3, out)
    assert_same_result(download(s3, out, tmp_path / "dl"), local_reference)
    summary = json.loads((tmp_path / "dl" / "report" / "summary.json").read_text())
    assert summary["images"] == {"listed": 60, "ok": 60, "failed": 0,
                                 "reused_from_interrupted_run": 0}


def test_endpoint_from_environment_without_flag(s3, sample_in_s3, local_reference, tmp_path):
    out = f"s3://{BUCKET}/out/env-endpoint"
    run(["run", "-i", sample_in_s3, "-o", out, "--batch-size", 16], env=s3_env(s3))
    assert_published(s3, out)
    assert_same_result(download(s3, out, tmp_path / "dl"), local_reference)


def test_local_input_to_s3_output(s3, local_reference, tmp_path):
    out = f"s3://{BUCKET}/out/local-to-s3"
    run(["run", "-i", SAMPLE, "-o", out, "--batch-size", 16], env=s3_env(s3))
    assert_published(s3, out)
    assert_same_result(download(s3, out, tmp_path / "dl"), local_reference)


def test_s3_input_to_local_output(s3, sample_in_s3, local_reference, tmp_path):
    out = tmp_path / "out"
    run(["run", "-i", sample_in_s3, "-o", out, "--batch-size", 16,
         "--endpoint-url", s3.endpoint], env=s3_env(s3, endpoint_in_env=False))
    assert not (out / "_temporary").exists()
    assert_same_result(out, local_reference)


def test_1500_objects_under_one_prefix_are_all_listed_and_read(s3, tmp_path):
    # ListObjectsV2 pages hold at most 1,000 keys: 1,500 take two pages.
    src = make_copies(tmp_path / "many", SAMPLE_LABELS, 500)
    keys = s3.upload_dir(src, BUCKET, "in/many", workers=8)
    assert len(keys) == 1500
    out = f"s3://{BUCKET}/out/many"
    run(["featurize", "-i", f"s3://{BUCKET}/in/many", "-o", out, "--io-threads", 16,
         "--json"], env=s3_env(s3))
    assert_published(s3, out)
    local = download(s3, out, tmp_path / "dl")
    features = pq.read_table(local / "features")
    assert features.num_rows == 1500
    paths = features.column("path").to_pylist()
    assert len(set(paths)) == 1500
    assert sorted(paths) == sorted(k[len("in/many/"):] for k in keys)
    assert pq.read_table(local / "errors").num_rows == 0
    summary = json.loads((local / "report" / "summary.json").read_text())
    assert summary["images"]["listed"] == 1500 and summary["images"]["ok"] == 1500


def test_wrong_credentials_fail_cleanly(s3, sample_in_s3):
    s3.assert_auth_enforced()
    out = f"s3://{BUCKET}/out/wrong-credentials"
    bad_secret = other_key(s3.secret_key)
    for env in (s3_env(s3, AWS_SECRET_ACCESS_KEY=bad_secret),
                s3_env(s3, AWS_ACCESS_KEY_ID=other_key(s3.access_key))):
        proc = run(["run", "-i", sample_in_s3, "-o", out], env=env, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "error:" in proc.stderr
        assert any(w in proc.stderr.lower() for w in ("access", "credentials", "signature")), \
            proc.stderr
        assert bad_secret not in proc.stderr + proc.stdout
    assert list_files(s3.filesystem(), out[len("s3://"):]) == []


def test_wrong_credentials_for_the_output_only(s3, tmp_path):
    s3.assert_auth_enforced()
    out = f"s3://{BUCKET}/out/wrong-credentials-output"
    proc = run(["run", "-i", SAMPLE, "-o", out],
               env=s3_env(s3, AWS_SECRET_ACCESS_KEY=other_key(s3.secret_key)), check=False)
    assert proc.returncode == 1, proc.stderr
    assert any(w in proc.stderr.lower() for w in ("access", "credentials", "signature")), \
        proc.stderr
    assert list_files(s3.filesystem(), out[len("s3://"):]) == []


def test_missing_bucket_fails_cleanly(s3, sample_in_s3):
    proc = run(["run", "-i", "s3://no-such-bucket/in", "-o", f"s3://{BUCKET}/out/nobucket-in"],
               env=s3_env(s3), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "bucket 'no-such-bucket'" in proc.stderr and "does not exist" in proc.stderr
    assert list_files(s3.filesystem(), f"{BUCKET}/out/nobucket-in") == []

    proc = run(["run", "-i", sample_in_s3, "-o", "s3://no-such-bucket/out"], env=s3_env(s3),
               check=False)
    assert proc.returncode == 1, proc.stderr
    assert "bucket 'no-such-bucket'" in proc.stderr and "does not exist" in proc.stderr
    fs = s3.filesystem()
    buckets = [i.path for i in fs.get_file_info(pafs.FileSelector(""))]
    assert "no-such-bucket" not in buckets  # orchard must not create buckets


def test_missing_prefix_fails_cleanly(s3):
    out = f"s3://{BUCKET}/out/noprefix"
    proc = run(["run", "-i", f"s3://{BUCKET}/in/no-such-prefix", "-o", out], env=s3_env(s3),
               check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"s3://{BUCKET}/in/no-such-prefix" in proc.stderr
    assert "does not exist" in proc.stderr
    assert_not_published(s3, out)
    assert list_files(s3.filesystem(), out[len("s3://"):]) == []


def test_keys_with_spaces_and_non_ascii(s3, tmp_path):
    labels = ["Äpfel Braeburn", "Birnen Conférence", "日本 梨"]
    src = make_copies(tmp_path / "src", labels, 8, name=lambda i, s: f"ä b {i} ß.jpg")
    s3.upload_dir(src, BUCKET, "in/unicode äö")
    local = tmp_path / "local"
    run(["run", "-i", src, "-o", local, "--pca-k", 2], env=clean_env())
    out = f"s3://{BUCKET}/out/unicode ü/ergebnis"
    run(["run", "-i", f"s3://{BUCKET}/in/unicode äö", "-o", out, "--pca-k", 2], env=s3_env(s3))
    assert_published(s3, out)
    got = download(s3, out, tmp_path / "dl")
    assert_same_result(got, local)
    features = pq.read_table(got / "features")
    assert sorted(set(features.column("label").to_pylist())) == sorted(labels)
    assert "Äpfel Braeburn/ä b 0 ß.jpg" in features.column("path").to_pylist()


@pytest.fixture(scope="module")
def outage_input(s3, tmp_path_factory):
    """600 images in S3 and a clean local result of them (features, PCA k=2)."""
    src = make_copies(tmp_path_factory.mktemp("outage") / "src", SAMPLE_LABELS, 200)
    s3.upload_dir(src, BUCKET, "in/outage", workers=8)
    clean = tmp_path_factory.mktemp("outage-clean") / "out"
    run(["run", "-i", src, "-o", clean, "--pca-k", 2], env=clean_env())
    return f"s3://{BUCKET}/in/outage", clean


def test_server_outage_in_the_middle_of_a_run(s3, outage_input, tmp_path):
    s3_in, clean = outage_input
    out = f"s3://{BUCKET}/out/outage"
    staging = f"{BUCKET}/out/outage/_temporary/features"
    args = ["run", "-i", s3_in, "-o", out, "--pca-k", 2, "--batch-size", 16,
            "--rows-per-part", 64]
    proc = subprocess.Popen([orchard_binary(), *map(str, args)], env=s3_env(s3),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait until the run is really in the middle: some parts staged, not all.
        watcher = s3.filesystem(connect_timeout=2, request_timeout=5)
        deadline = time.monotonic() + 300
        staged = []
        while time.monotonic() < deadline and proc.poll() is None:
            staged = list_files(watcher, staging)
            if staged:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before the outage could start"
        assert staged, "no part was staged within 300 s"
        s3.stop()
        time.sleep(4)
        s3.start()
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    RUNS.append(([str(a) for a in args], stdout, stderr))
    # Shown with pytest -rP: which of the two acceptable outcomes happened.
    print(f"run during the outage: exit {proc.returncode}; "
          f"{stderr.strip().splitlines()[-1] if stderr.strip() else ''}")

    if proc.returncode == 0:
        # The retries bridged the outage: the result must be complete and right.
        assert_published(s3, out)
        assert_same_result(download(s3, out, tmp_path / "first"), clean)
        rerun = args + ["--overwrite"]
    else:
        # A clean failure: a message, nothing published, staging kept for --resume.
        assert proc.returncode == 1, stderr
        assert "error:" in stderr
        assert_not_published(s3, out)
        rerun = args + ["--resume"]
    run(rerun, env=s3_env(s3))
    assert_published(s3, out)
    assert_same_result(download(s3, out, tmp_path / "rerun"), clean)


def test_no_secret_key_in_any_output(s3, tmp_path):
    # Runs after every other test of this module (file order).
    assert len(RUNS) >= 15, "the other tests of this module did not run first"
    secret = s3.secret_key
    for args, stdout, stderr in RUNS:
        assert secret not in stdout and secret not in stderr, args
        assert secret not in " ".join(args)
    needle = secret.encode()
    checked = 0
    finished = 0
    # Every output orchard wrote to the bucket (the inputs are the tests' own uploads).
    dl = download(s3, f"s3://{BUCKET}/out", tmp_path / "bucket")
    for folder in [dl, *LOCAL_OUTPUTS]:
        for path in pathlib.Path(folder).rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), path
                checked += 1
                finished += path.name == "_SUCCESS"
    # A finished output holds at least 8 files (features, errors, pca, model.json,
    # components, scree, summary, _SUCCESS): the outputs of the other tests were all read.
    assert finished >= 8 and checked >= 8 * finished
