"""The Spark job (python -m orchard.spark, local[2]) reading its input from and writing
its output to a real S3-compatible server, addressed as s3a:// (how Spark users write it).

The server is SeaweedFS on loopback (s3server.py). The engine in every task reads and
writes the bucket itself (Arrow's S3 filesystem): no Hadoop S3A connector or jar is
involved. The job takes the endpoint from the S3A setting users already give Spark
(spark.hadoop.fs.s3a.endpoint) and the credentials from the environment only
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the standard AWS chain): the secret key is on
no command line, and the test checks that it appears in nothing the job printed or wrote.

The output is downloaded with pyarrow and compared with a local CLI run on the same
images (spark_parity.assert_parity: same paths, labels and errors, same numbers up to
float rounding). Fails, not skips, when the server binary is missing.
"""
import subprocess
import sys

import pytest

from spark_parity import assert_parity, cli_output, make_input, spark_env

from conftest import s3_server_with_bucket
from s3server import download_dir, list_files

BUCKET = "orchard-spark"


@pytest.fixture(scope="module")
def s3():
    yield from s3_server_with_bucket(BUCKET)


@pytest.fixture(scope="module")
def job(s3, tmp_path_factory):
    """Uploads the test input, runs the Spark job s3a:// -> s3a://, downloads the output."""
    root = tmp_path_factory.mktemp("spark_s3a")
    input_dir = make_input(root)  # data/sample + a corrupt JPEG, a text file, odd names
    keys = s3.upload_dir(input_dir, BUCKET, "in")
    assert len(keys) == 66  # 60 + corrupt.jpg + notes.txt + 3 copies + .hidden.jpg

    settings = {
        "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    }
    args = [sys.executable, "-m", "orchard.spark", "--master", "local[2]",
            "--input", f"s3a://{BUCKET}/in", "--output", f"s3a://{BUCKET}/out",
            "--rows-per-batch", "16", "--batch-size", "8"]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    env = {k: v for k, v in spark_env().items() if not k.startswith("AWS_")}
    env.update(s3.env(), AWS_CONFIG_FILE="/nonexistent/aws-config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"orchard.spark exited {proc.returncode}:\n{proc.stderr[-8000:]}")

    fs = s3.filesystem()
    files = list_files(fs, f"{BUCKET}/out")
    downloaded = download_dir(fs, f"{BUCKET}/out", root / "spark out")
    return {"input": input_dir, "args": args, "proc": proc, "files": files,
            "out": downloaded, "cli": cli_output(input_dir, root / "cli")}


def test_s3a_job_matches_the_cli(job):
    numbers = {}
    assert_parity(job["out"], job["cli"], numbers)
    print(f"\nparity s3a local[2]: {numbers}")
    print("\n".join(l for l in job["proc"].stderr.splitlines() if l.startswith("orchard.spark:")))
    assert "63 images ok, 2 failed" in job["proc"].stderr
    assert "done in" in job["proc"].stderr and f"s3a://{BUCKET}/out" in job["proc"].stderr


def test_s3a_output_is_published_once(job):
    files = job["files"]
    assert "_SUCCESS" in files
    assert not any(f.startswith("_temporary") or "/_temporary" in f for f in files), files
    for sub in ("features", "errors", "pca"):
        assert any(f.startswith(f"{sub}/part-") and f.endswith(".parquet") for f in files), sub
    for name in ("pca_model/model.json", "pca_model/components.parquet",
                 "report/scree.svg", "report/summary.json"):
        assert name in files


def test_no_secret_key_on_the_command_line_in_the_log_or_output(s3, job):
    secret = s3.secret_key
    assert secret not in " ".join(map(str, job["args"]))
    assert secret not in job["proc"].stdout and secret not in job["proc"].stderr
    needle = secret.encode()
    checked = 0
    for path in job["out"].rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path
            checked += 1
    assert checked == len(job["files"]) and checked >= 8
