"""orchard against a throttling S3: the loopback S3 server (s3server.py) behind
delay_proxy.py, which answers chosen GETs with 503 SlowDown itself.

- a key the store never stops throttling is one "read" error row after its attempts are
  spent, the other images are features and the run finishes; a later run reads it again;
- 5 % of all GETs answered 503 (as S3 does while it scales a prefix) lose no image;
- a store that refuses every read stops the run (nothing published) instead of recording
  every image as an error.

AWS_MAX_ATTEMPTS makes the retries short where the test spends them all on purpose.
These fail, not skip, when the server binary is missing (scripts/install-s3-server.sh).
"""

import json
import pathlib

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard, s3_server_with_bucket
from delay_proxy import DelayProxy

BUCKET = "orchard"
PREFIX = "in/sample"
THROTTLED = "Mango/" + sorted(p.name for p in (SAMPLE / "Mango").iterdir())[0]


@pytest.fixture(scope="module")
def s3():
    yield from s3_server_with_bucket(BUCKET)


@pytest.fixture(scope="module")
def sample_in_s3(s3):
    keys = s3.upload_dir(SAMPLE, BUCKET, PREFIX)
    assert len(keys) == 60
    assert f"{PREFIX}/{THROTTLED}" in keys
    return f"s3://{BUCKET}/{PREFIX}"


def env_through(s3, proxy, **extra):
    return {**s3.env(), "AWS_ENDPOINT_URL": proxy.endpoint, **extra}


def featurize(s3_in, out, env, *more, check=True):
    return run_orchard("featurize", "-i", s3_in, "-o", out, "-q", "--json", *more, env=env,
                       check=check)


def test_a_key_throttled_on_every_attempt_is_an_error_row_and_the_run_goes_on(
        s3, sample_in_s3, tmp_path):
    out = tmp_path / "out"
    with DelayProxy(s3.port, fail_paths=(f"/{BUCKET}/{PREFIX}/{THROTTLED}",)) as proxy:
        proc = featurize(sample_in_s3, out, env_through(s3, proxy, AWS_MAX_ATTEMPTS="3"))
        stats = proxy.stats()
    summary = json.loads(proc.stdout)
    assert summary["images"] == {"listed": 60, "ok": 59, "failed": 1,
                                 "reused_from_interrupted_run": 0}
    # One GET per attempt, every attempt spent: retried, and no HEAD before the GETs.
    assert stats["failed_paths"] == {f"/{BUCKET}/{PREFIX}/{THROTTLED}": 3}
    assert stats["failed"] == 3
    errors = pq.read_table(out / "errors").to_pylist()
    assert [(row["path"], row["stage"]) for row in errors] == [(THROTTLED, "read")]
    message = errors[0]["message"]
    assert message.startswith("still failing after its retries"), message
    assert "SERVICE_UNAVAILABLE" in message or "SlowDown" in message, message
    features = pq.read_table(out / "features")
    assert features.num_rows == 59
    assert THROTTLED not in features.column("path").to_pylist()
    assert (out / "_SUCCESS").exists()

    # Once the store answers again, a later run reads the image.
    with DelayProxy(s3.port) as proxy:
        proc = featurize(sample_in_s3, out, env_through(s3, proxy), "--overwrite")
    assert json.loads(proc.stdout)["images"]["ok"] == 60
    assert pq.read_table(out / "errors").num_rows == 0
    assert THROTTLED in pq.read_table(out / "features").column("path").to_pylist()


def test_five_percent_of_gets_answered_503_lose_no_image(s3, sample_in_s3, tmp_path):
    out = tmp_path / "out"
    # seed 22: among the first 61 GETs (the listing and one per image), four are 503s.
    with DelayProxy(s3.port, fail_fraction=0.05, seed=22) as proxy:
        proc = featurize(sample_in_s3, out, env_through(s3, proxy))
        stats = proxy.stats()
    assert stats["failed"] >= 4, stats
    summary = json.loads(proc.stdout)
    assert summary["images"]["ok"] == 60, summary
    assert summary["images"]["failed"] == 0
    assert pq.read_table(out / "features").num_rows == 60


def test_a_store_that_refuses_every_read_stops_the_run(s3, sample_in_s3, tmp_path):
    out = tmp_path / "out"
    # Every object GET is refused; the listing (a GET of the bucket) is answered.
    with DelayProxy(s3.port, fail_paths=(f"/{BUCKET}/{PREFIX}/",)) as proxy:
        proc = featurize(sample_in_s3, out, env_through(s3, proxy, AWS_MAX_ATTEMPTS="2"),
                         check=False)
    assert proc.returncode == 1, proc.stderr
    assert "32 reads in a row failed after their retries" in proc.stderr, proc.stderr
    assert "--resume" in proc.stderr
    assert not (out / "_SUCCESS").exists()
    assert not (out / "features").exists()
    assert not pathlib.Path(out / "errors").exists()
