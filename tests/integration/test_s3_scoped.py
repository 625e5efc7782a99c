"""orchard under the EMR instance role's least privilege, against an S3 server that
enforces it.

The role: the S3 statements of EmrInstanceRole in deploy/aws/templates/base.yaml, kept
verbatim in emr_instance_role_s3.json (deploy/aws/tests/test_templates.py fails when the
two differ). SeaweedFS evaluates an identity's attached IAM policy like AWS IAM does
(actions, Resource ARNs with wildcards, Conditions such as s3:prefix), so the server gets
that document as the policy of one identity, and variants of it as the policies of others:

- "instance-role": exactly the shipped role (s3:ListBucket on the whole bucket, GetObject
  on input/* and artifacts/*, Get/Put/Delete on output/*, tmp/*, logs/*);
- "prefix-scoped": the same with s3:ListBucket limited by an s3:prefix condition to the
  role's prefixes (a tighter role users may write; HeadBucket is then refused);
- "no-output-write" / "no-output-delete" / "no-output-read": the role without
  s3:PutObject / s3:DeleteObject / s3:GetObject on output/*: each is needed, and its
  absence is named in the error.

Before anything relies on it, the module proves that the server enforces these policies
(reads outside input/, writes outside output/, wrong keys: refused). Then the CLI runs as
`orchard-aws run` makes the Spark job read and write (input s3://B/input/, output
s3://B/output/RUN), and the Spark job itself runs (local[1]) with the very orchard.spark
arguments deploy/aws/lib/spark-step.sh builds. Fails, not skips, when the server binary
is missing.
"""
import copy
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import REPO, SAMPLE, orchard_binary
from s3server import S3Server, S3ServerNotInstalled, _random_key, download_dir, find_binary
from s3server import list_files, other_key
from spark_parity import spark_env

BUCKET = "orchard-data"  # the ${BucketName} of the role
ROLE_FILE = pathlib.Path(__file__).with_name("emr_instance_role_s3.json")
STEP_LIBRARY = REPO / "deploy" / "aws" / "lib" / "spark-step.sh"
MODEL = REPO / "models" / "mobilenet_v2_imagenet.onnx"
# The role's prefixes (base.yaml: artifacts/ and input/ read, output/ tmp/ logs/ written).
ROLE_PREFIXES = ["artifacts/*", "input/*", "output/*", "tmp/*", "logs/*"]


def role_statements():
    """The role's S3 statements with base.yaml's !Sub variables filled in."""
    def sub(value):
        if isinstance(value, str):
            return value.replace("${AWS::Partition}", "aws").replace("${BucketName}", BUCKET)
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value
    return sub(json.loads(ROLE_FILE.read_text())["Statement"])


def statement(statements, sid):
    return next(s for s in statements if s["Sid"] == sid)


def role_variants():
    exact = role_statements()
    prefix_scoped = copy.deepcopy(exact)
    statement(prefix_scoped, "ListTheBucket")["Condition"] = {
        "StringLike": {"s3:prefix": ROLE_PREFIXES}}
    no_write = copy.deepcopy(exact)
    statement(no_write, "ReadWriteOutputTmpLogs")["Action"].remove("s3:PutObject")
    no_delete = copy.deepcopy(exact)
    statement(no_delete, "ReadWriteOutputTmpLogs")["Action"].remove("s3:DeleteObject")
    no_read = copy.deepcopy(exact)
    statement(no_read, "ReadWriteOutputTmpLogs")["Action"].remove("s3:GetObject")
    return {"instance-role": exact, "prefix-scoped": prefix_scoped,
            "no-output-write": no_write, "no-output-delete": no_delete,
            "no-output-read": no_read}


class Keys:
    def __init__(self):
        self.access_key = _random_key(20)
        self.secret_key = _random_key(40)


def clean_env(s3, keys):
    """This process's environment without AWS settings or files, with `keys`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3.env(keys.access_key, keys.secret_key),
               AWS_CONFIG_FILE="/nonexistent/aws-config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
    return env


def refused(action, what):
    """Runs action(); asserts S3 refused it for want of permission (or of valid keys)."""
    with pytest.raises(OSError) as error:
        action()
    text = str(error.value).upper().replace("_", "")
    assert any(w in text for w in ("ACCESSDENIED", "SIGNATURE", "INVALIDACCESSKEY")), (
        what, str(error.value))


def put(fs, path, data=b"x"):
    with fs.open_output_stream(path) as out:
        out.write(data)


def prove_enforced(s3, keys):
    """The server grants each identity its policy and nothing else, and refuses wrong keys."""
    s3.assert_auth_enforced()
    role = s3.filesystem(access_key=keys["instance-role"].access_key,
                         secret_key=keys["instance-role"].secret_key)
    # Allowed: list the input, read below input/, write and delete below output/.
    listed = role.get_file_info(pafs.FileSelector(f"{BUCKET}/input", recursive=True))
    assert sum(i.type == pafs.FileType.File for i in listed) == 60
    with role.open_input_stream(f"{BUCKET}/input/Mango/{sorted(os.listdir(SAMPLE / 'Mango'))[0]}") as f:
        assert len(f.read()) > 0
    put(role, f"{BUCKET}/output/probe/allowed")
    role.delete_file(f"{BUCKET}/output/probe/allowed")
    # Refused: reads outside input/ (even the key "input" itself), writes and deletes
    # outside output/, anything with a wrong secret or an unknown access key.
    refused(lambda: role.open_input_stream(f"{BUCKET}/private/secret.txt").read(),
            "read outside input/")
    refused(lambda: role.get_file_info(f"{BUCKET}/input"), "HEAD of the key 'input'")
    refused(lambda: put(role, f"{BUCKET}/input/planted.jpg"), "write into input/")
    refused(lambda: put(role, f"{BUCKET}/private/planted"), "write outside output/")
    refused(lambda: role.delete_file(f"{BUCKET}/private/secret.txt"), "delete outside output/")
    for wrong in (dict(secret_key=other_key(keys["instance-role"].secret_key)),
                  dict(access_key=other_key(keys["instance-role"].access_key))):
        fs = s3.filesystem(**{"access_key": keys["instance-role"].access_key,
                              "secret_key": keys["instance-role"].secret_key, **wrong})
        refused(lambda: fs.get_file_info(pafs.FileSelector(f"{BUCKET}/input")), f"{wrong}")
    # The prefix-scoped role lists its prefixes only; HeadBucket (no prefix) is refused.
    scoped = s3.filesystem(access_key=keys["prefix-scoped"].access_key,
                           secret_key=keys["prefix-scoped"].secret_key)
    assert scoped.get_file_info(pafs.FileSelector(f"{BUCKET}/input", recursive=True))
    refused(lambda: scoped.get_file_info(BUCKET), "HeadBucket with a prefix condition")
    refused(lambda: scoped.get_file_info(pafs.FileSelector(f"{BUCKET}/private")),
            "listing outside the role's prefixes")
    # The variants lack exactly what they say.
    no_write = s3.filesystem(access_key=keys["no-output-write"].access_key,
                             secret_key=keys["no-output-write"].secret_key)
    refused(lambda: put(no_write, f"{BUCKET}/output/probe/denied"), "write without PutObject")
    no_delete = s3.filesystem(access_key=keys["no-output-delete"].access_key,
                              secret_key=keys["no-output-delete"].secret_key)
    put(no_delete, f"{BUCKET}/output/probe/kept")
    refused(lambda: no_delete.delete_file(f"{BUCKET}/output/probe/kept"),
            "delete without DeleteObject")
    s3.filesystem().delete_dir(f"{BUCKET}/output/probe")


@pytest.fixture(scope="module")
def scoped_s3():
    """The server with one identity per role variant, the sample below input/ and a
    private object outside the role's prefixes; enforcement proven. Yields (s3, keys)."""
    try:
        find_binary()
    except S3ServerNotInstalled as error:
        pytest.fail(str(error), pytrace=False)
    variants = role_variants()
    keys = {name: Keys() for name in variants}
    identities = [{"name": name,
                   "credentials": [{"accessKey": keys[name].access_key,
                                    "secretKey": keys[name].secret_key}],
                   "policyNames": [f"{name}-policy"]} for name in variants]
    policies = [{"name": f"{name}-policy",
                 "content": json.dumps({"Version": "2012-10-17", "Statement": statements})}
                for name, statements in variants.items()]
    with S3Server(identities=identities, policies=policies) as s3:
        s3.make_bucket(BUCKET)
        assert len(s3.upload_dir(SAMPLE, BUCKET, "input")) == 60
        put(s3.filesystem(), f"{BUCKET}/private/secret.txt", b"not for the role")
        prove_enforced(s3, keys)
        yield s3, keys


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("scoped_ref") / "out"
    run_cli(["run", "-i", SAMPLE, "-o", out, "--batch-size", 16], dict(os.environ))
    return out


def run_cli(args, env, check=True):
    args = [str(a) for a in args]
    proc = subprocess.run([orchard_binary(), *args], capture_output=True, text=True, env=env,
                          timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"orchard {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def assert_same_features(s3, prefix, dest, reference):
    out = download_dir(s3.filesystem(), f"{BUCKET}/{prefix}", dest)
    files = list_files(s3.filesystem(), f"{BUCKET}/{prefix}")
    assert "_SUCCESS" in files and not any("_temporary" in f for f in files), files
    got = pq.read_table(out / "features").sort_by("path")
    want = pq.read_table(pathlib.Path(reference) / "features").sort_by("path")
    assert got.column("path").to_pylist() == want.column("path").to_pylist()
    assert got.column("label").to_pylist() == want.column("label").to_pylist()
    np.testing.assert_allclose(np.array(got.column("features").to_pylist(), dtype=np.float32),
                               np.array(want.column("features").to_pylist(), dtype=np.float32),
                               rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- tests


def test_the_server_enforces_the_roles(scoped_s3):
    s3, keys = scoped_s3
    prove_enforced(s3, keys)  # again, now that the module's fixture is set up


@pytest.mark.parametrize("role", ["instance-role", "prefix-scoped"])
def test_cli_run_with_the_role_publishes_and_overwrites(scoped_s3, local_reference, role,
                                                        tmp_path):
    """`orchard run` as orchard-aws lays it out (input s3://B/input/, output
    s3://B/output/RUN) under the role: published; then again with --overwrite, which
    deletes the published result and moves the new one into place."""
    s3, keys = scoped_s3
    env = clean_env(s3, keys[role])
    output = f"s3://{BUCKET}/output/{role}-run1"
    for attempt, extra in enumerate(([], ["--overwrite"])):
        run_cli(["run", "-i", f"s3://{BUCKET}/input/", "-o", output, "--batch-size", 16, *extra],
                env)
        assert_same_features(s3, f"output/{role}-run1", tmp_path / f"out{attempt}",
                             local_reference)


@pytest.mark.parametrize("role, output, action, resource", [
    ("no-output-write", "output/denied-write", "s3:PutObject",
     f"arn:aws:s3:::{BUCKET}/output/denied-write/_temporary/"),
    ("no-output-delete", "output/denied-delete", "s3:DeleteObject",
     f"arn:aws:s3:::{BUCKET}/output/denied-delete/_temporary/"),
    ("no-output-read", "output/denied-read", "s3:GetObject",
     f"arn:aws:s3:::{BUCKET}/output/denied-read"),
    ("prefix-scoped", "private/run", "s3:ListBucket",
     f"arn:aws:s3:::{BUCKET} (prefix 'private/run/')"),
])
def test_a_missing_permission_names_the_action_and_the_key(scoped_s3, role, output, action,
                                                            resource):
    s3, keys = scoped_s3
    proc = run_cli(["run", "-i", f"s3://{BUCKET}/input/", "-o", f"s3://{BUCKET}/{output}",
                    "--batch-size", 16], clean_env(s3, keys[role]), check=False)
    assert proc.returncode == 1, proc.stderr
    error = proc.stderr[proc.stderr.index("orchard: error:"):]
    print(f"\n{role}: {error}")
    assert "ACCESS_DENIED" in error, error
    assert f"needs {action} on {resource}" in error, error
    assert "IAM policy" in error, error
    if role != "prefix-scoped":
        assert "_SUCCESS" not in list_files(s3.filesystem(), f"{BUCKET}/{output}")


def test_wrong_keys_are_refused_before_any_work(scoped_s3):
    s3, keys = scoped_s3
    wrong = Keys()
    wrong.access_key = keys["instance-role"].access_key
    wrong.secret_key = other_key(keys["instance-role"].secret_key)
    proc = run_cli(["run", "-i", f"s3://{BUCKET}/input/", "-o",
                    f"s3://{BUCKET}/output/wrong-key"], clean_env(s3, wrong), check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot access bucket '{BUCKET}'" in proc.stderr, proc.stderr
    assert "Check the credentials" in proc.stderr and "images" not in proc.stdout


def step_job_args(output_uri):
    """The orchard.spark arguments of the EMR step (orchard_step_args of spark-step.sh,
    for orchard-aws's default input and this output): everything after the launcher."""
    env = dict(os.environ, REMOTE_PYTHON=sys.executable, REMOTE_LAUNCHER="LAUNCHER",
               REMOTE_MODEL=str(MODEL), ORCHARD_EXECUTOR_CORES="4",
               ORCHARD_NODE_YARN_MB="12288")
    script = 'set -e; source "$1"; shift; size_executors test-node 2; orchard_step_args "$@"'
    proc = subprocess.run(["bash", "-c", script, "bash", str(STEP_LIBRARY),
                           f"s3://{BUCKET}/input/", output_uri],
                          capture_output=True, text=True, env=env, check=True)
    args = proc.stdout.splitlines()
    assert args[0] == "spark-submit", args
    return args[args.index("LAUNCHER") + 1:]


def run_spark_job(s3, keys, output_uri):
    job_args = step_job_args(output_uri)
    assert job_args[:2] == ["--input", f"s3://{BUCKET}/input/"], job_args
    env = {k: v for k, v in spark_env().items() if not k.startswith("AWS_")}
    env.update(clean_env(s3, keys))
    command = [sys.executable, "-m", "orchard.spark", "--master", "local[1]", *job_args,
               "--batch-size", "16"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def test_spark_job_as_orchard_aws_submits_it_runs_under_the_role(scoped_s3, local_reference,
                                                                 tmp_path):
    s3, keys = scoped_s3
    proc = run_spark_job(s3, keys["instance-role"], f"s3://{BUCKET}/output/spark-run1")
    if proc.returncode != 0:
        raise AssertionError(f"orchard.spark exited {proc.returncode}:\n{proc.stderr[-8000:]}")
    assert "60 images ok" in proc.stderr, proc.stderr[-3000:]
    assert_same_features(s3, "output/spark-run1", tmp_path / "spark", local_reference)


def test_spark_job_names_a_missing_permission(scoped_s3):
    s3, keys = scoped_s3
    proc = run_spark_job(s3, keys["no-output-write"], f"s3://{BUCKET}/output/spark-denied")
    assert proc.returncode != 0
    print("\n" + "\n".join(line for line in proc.stderr.splitlines() if "needs s3:" in line))
    assert (f"needs s3:PutObject on arn:aws:s3:::{BUCKET}/output/spark-denied/"
            in proc.stderr), proc.stderr[-3000:]
    assert "_SUCCESS" not in list_files(s3.filesystem(), f"{BUCKET}/output/spark-denied")
