"""Offline tests of deploy/aws/orchard-aws: the --dry-run calls and the error paths.

No AWS account, no network: the script runs with a scrubbed environment, an empty
AWS config and (unless a test says otherwise) no `aws` executable on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parent
ROOT = DEPLOY.parent.parent
SCRIPT = DEPLOY / "orchard-aws"
REGION = "eu-west-1"
BUCKET = "orchard-test-bucket"

# Tools the script uses; linked into a private bin dir so `aws` is surely absent.
TOOLS = [
    "bash", "env", "dirname", "basename", "date", "find", "sort", "tail", "cut", "sed",
    "grep", "tr", "awk", "sha256sum", "cat", "gzip", "mktemp", "rm", "mkdir", "touch",
    "cp", "mv", "head", "wc", "du",  # scripts/make-wheelhouse.sh (upload)
    "sleep",  # the step poll (wait_step)
]


@pytest.fixture(scope="session")
def bin_without_aws(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bin")
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (d / tool).symlink_to(found)
    assert not (d / "aws").exists()
    return d


@pytest.fixture()
def env(tmp_path, bin_without_aws) -> dict[str, str]:
    """A clean environment: no AWS variables, no config, no credentials, no aws CLI."""
    e = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ORCHARD_")) and k not in {"PATH", "HOME"}
    }
    e.update(
        PATH=str(bin_without_aws),
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        ORCHARD_POLL_SECONDS="0",
    )
    return e


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def calls(out: str) -> list[list[str]]:
    """The DRY-RUN lines as argument vectors (starting after 'aws')."""
    result = []
    for line in out.splitlines():
        if line.startswith("DRY-RUN: "):
            argv = shlex.split(line[len("DRY-RUN: "):])
            assert argv[0] == "aws", line
            result.append(argv[1:])
    return result


def dry(env: dict[str, str], *args: str) -> list[list[str]]:
    p = run(env, "--dry-run", "--region", REGION, "--bucket", BUCKET, *args)
    assert p.returncode == 0, p.stderr
    cs = calls(p.stdout)
    for c in cs:  # every call names the region explicitly
        assert c[-2:] == ["--region", REGION], c
    return cs


def opt(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def overrides(call: list[str]) -> dict[str, str]:
    """--parameter-overrides K=V ... up to the next option."""
    i = call.index("--parameter-overrides") + 1
    out = {}
    while i < len(call) and not call[i].startswith("--"):
        k, _, v = call[i].partition("=")
        out[k] = v
        i += 1
    return out


def ops(cs: list[list[str]]) -> list[str]:
    return [" ".join(c[:2]) for c in cs]


# ----------------------------------------------------------------- usage + errors


def test_help_lists_every_command(env):
    p = run(env, "--help")
    assert p.returncode == 0
    for cmd in ["up", "upload", "submit", "status", "logs", "fetch", "down", "run", "--dry-run"]:
        assert cmd in p.stdout


def test_unknown_command_exits_2(env):
    p = run(env, "--dry-run", "--region", REGION, "frobnicate")
    assert p.returncode == 2
    assert "unknown command: frobnicate" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert calls(p.stdout) == []


def test_unknown_option_exits_2(env):
    p = run(env, "--dry-run", "--region", REGION, "up", "--frobnicate")
    assert p.returncode == 2
    assert "unknown option: --frobnicate" in p.stderr


def test_no_command_exits_2_with_usage(env):
    p = run(env)
    assert p.returncode == 2
    assert "usage:" in p.stderr


def test_missing_region_fails_early_with_the_fix(env):
    p = run(env, "--dry-run", "status")
    assert p.returncode == 3
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no AWS region" in lines[0] and "--region" in lines[0] and "AWS_REGION" in lines[0]
    assert calls(p.stdout) == []


@pytest.mark.parametrize("var", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_region_from_environment(env, var):
    env[var] = "us-west-2"
    p = run(env, "--dry-run", "--bucket", BUCKET, "down")
    assert p.returncode == 0, p.stderr
    assert all(c[-2:] == ["--region", "us-west-2"] for c in calls(p.stdout))


def test_region_from_aws_config_file(env, tmp_path):
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\nregion = ap-southeast-2\n")
    env["AWS_CONFIG_FILE"] = str(cfg)
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("reading the AWS config needs the aws CLI")
    env["PATH"] = os.environ["PATH"]  # the real PATH: a pyenv shim needs its tools
    p = run(env, "--dry-run", "--bucket", BUCKET, "down")
    assert p.returncode == 0, p.stderr
    assert all(c[-2:] == ["--region", "ap-southeast-2"] for c in calls(p.stdout))


def test_region_flag_beats_environment(env):
    env["AWS_REGION"] = "us-west-2"
    cs = dry(env, "down")
    assert cs


@pytest.mark.parametrize(
    "cidr,needle",
    [
        ("0.0.0.0/0", "whole internet"),
        ("10.0.0.0/4", "too wide"),
        ("300.1.2.3/32", "above 255"),
        ("203.0.113.7", "not an IPv4 CIDR"),
        ("::/0", "whole internet"),
    ],
)
def test_bad_operator_cidr_is_refused_before_any_call(env, cidr, needle):
    p = run(env, "--dry-run", "--region", REGION, "--bucket", BUCKET, "up",
            "--operator-cidr", cidr, "--key-name", "k")
    assert p.returncode == 2
    assert needle in p.stderr
    assert calls(p.stdout) == []


def test_operator_cidr_needs_a_key_pair(env):
    p = run(env, "--dry-run", "--region", REGION, "up", "--operator-cidr", "203.0.113.7/32")
    assert p.returncode == 2
    assert "--key-name" in p.stderr


def test_bad_bucket_name_exits_2(env):
    p = run(env, "--dry-run", "--region", REGION, "--bucket", "Bad_Bucket", "status")
    assert p.returncode == 2


def test_without_dry_run_missing_aws_cli_fails_early(env):
    p = run(env, "--region", REGION, "status")
    assert p.returncode == 3
    assert "AWS CLI not found" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_without_dry_run_missing_credentials_fails_early(env, tmp_path):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    log = tmp_path / "aws-calls.log"
    (fake / "aws").write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "Unable to locate credentials" >&2\nexit 255\n')
    (fake / "aws").chmod(0o755)
    env["PATH"] = f"{fake}:{env['PATH']}"
    p = run(env, "--region", REGION, "up")
    assert p.returncode == 3
    assert "credentials" in p.stderr and ("aws configure" in p.stderr or "AWS_PROFILE" in p.stderr)
    # the only call made was the identity check
    assert log.read_text().split()[:2] == ["sts", "get-caller-identity"]


def test_dry_run_works_without_aws_cli_or_credentials(env):
    assert shutil.which("aws", path=env["PATH"]) is None
    assert dry(env, "status")


# -------------------------------------------------------------------------- up


def test_up_deploys_base_then_artifacts_then_cluster(env):
    cs = dry(env, "up")
    assert ops(cs)[0] == "sts get-caller-identity"
    deploys = [c for c in cs if c[:2] == ["cloudformation", "deploy"]]
    assert [opt(c, "--stack-name") for c in deploys] == ["orchard-base", "orchard-cluster"]

    base, cluster = deploys
    assert Path(opt(base, "--template-file")) == DEPLOY / "templates" / "base.yaml"
    assert Path(opt(cluster, "--template-file")) == DEPLOY / "templates" / "cluster.yaml"
    for c in deploys:
        assert Path(opt(c, "--template-file")).is_file()
        assert "--no-fail-on-empty-changeset" in c
    assert opt(base, "--capabilities") == "CAPABILITY_IAM"
    assert overrides(base) == {
        "Project": "orchard", "ClusterStackName": "orchard-cluster", "BucketName": BUCKET,
    }
    # the cluster stack is created by CloudFormation's deploy role, not the operator
    assert "--role-arn" in cluster
    ov = overrides(cluster)
    assert ov["BaseStackName"] == "orchard-base"
    # SSH stays closed unless asked for: always passed, empty by default
    assert ov["OperatorCidr"] == "" and ov["KeyName"] == "" and ov["TlsCertificateZipS3Uri"] == ""

    # artifacts are uploaded between the two stacks (the bootstrap action needs them)
    i_base, i_cluster = cs.index(base), cs.index(cluster)
    copies = [c for c in cs[i_base:i_cluster] if c[:2] in (["s3", "cp"], ["s3", "sync"])]
    dests = [c[-3] for c in copies]
    assert f"s3://{BUCKET}/artifacts/mobilenet_v2_imagenet.onnx" in dests
    assert f"s3://{BUCKET}/artifacts/mobilenet_v2_imagenet.onnx.sha256" in dests
    assert f"s3://{BUCKET}/artifacts/bootstrap/install-orchard.sh" in dests
    assert f"s3://{BUCKET}/artifacts/wheelhouse/" in dests


def test_up_passes_cluster_and_budget_options(env):
    cs = dry(env, "up", "--operator-cidr", "203.0.113.7/32", "--key-name", "ops",
             "--core-count", "6", "--core-type", "c6i.2xlarge", "--task-spot-count", "4",
             "--idle-timeout", "900", "--release", "emr-7.12.0",
             "--budget-usd", "100", "--budget-email", "ops@example.com", "--versioning", "true",
             "--tls-zip", "s3://certs-bucket/emr/certs.zip")
    base, cluster = [c for c in cs if c[:2] == ["cloudformation", "deploy"]]
    assert overrides(base) | {} == {
        "Project": "orchard", "ClusterStackName": "orchard-cluster", "BucketName": BUCKET,
        "MonthlyBudgetUsd": "100", "BudgetEmail": "ops@example.com", "EnableVersioning": "true",
    }
    ov = overrides(cluster)
    assert ov["OperatorCidr"] == "203.0.113.7/32"
    assert ov["KeyName"] == "ops"
    assert ov["CoreInstanceCount"] == "6"
    assert ov["CoreInstanceType"] == "c6i.2xlarge"
    assert ov["TaskSpotInstanceCount"] == "4"
    assert ov["IdleTimeoutSeconds"] == "900"
    assert ov["ReleaseLabel"] == "emr-7.12.0"
    assert ov["TlsCertificateZipS3Uri"] == "s3://certs-bucket/emr/certs.zip"


def test_up_no_upload_skips_artifacts(env):
    cs = dry(env, "up", "--no-upload")
    assert not [c for c in cs if c[0] == "s3"]


def test_prefix_renames_both_stacks(env):
    cs = dry(env, "--prefix", "orchard-dev", "up")
    names = [opt(c, "--stack-name") for c in cs if c[:2] == ["cloudformation", "deploy"]]
    assert names == ["orchard-dev-base", "orchard-dev-cluster"]


# ---------------------------------------------------------------------- upload


def test_upload_sample_and_artifacts(env):
    cs = dry(env, "upload")
    syncs = [c for c in cs if c[:2] == ["s3", "sync"]]
    assert len(syncs) == 2
    wheelhouse, data = syncs
    # the wheelhouse (wheel + dependencies, scripts/make-wheelhouse.sh) replaces the
    # bucket's copy exactly, so the nodes see one orchard wheel
    assert Path(wheelhouse[-4]) == ROOT / "dist" / "wheelhouse"
    assert wheelhouse[-3] == f"s3://{BUCKET}/artifacts/wheelhouse/"
    assert "--delete" in wheelhouse
    src, dst = data[-4], data[-3]
    assert Path(src) == ROOT / "data" / "sample"
    assert dst == f"s3://{BUCKET}/input/"
    copies = [c[-3] for c in cs if c[:2] == ["s3", "cp"]]
    assert copies == [f"s3://{BUCKET}/artifacts/mobilenet_v2_imagenet.onnx",
                      f"s3://{BUCKET}/artifacts/mobilenet_v2_imagenet.onnx.sha256",
                      f"s3://{BUCKET}/artifacts/bootstrap/install-orchard.sh"]
    # no separate wheel upload any more: the bootstrap installs from the wheelhouse
    assert not [c for c in cs if any(a.endswith(".whl") for a in c)]


def test_upload_given_wheelhouse(env, tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / "requirements.txt").write_text("orchard==0.1.0\n")
    cs = dry(env, "upload", "--artifacts-only", "--wheelhouse", str(wh))
    syncs = [c for c in cs if c[:2] == ["s3", "sync"]]
    assert len(syncs) == 1 and syncs[0][-4] == str(wh)
    assert syncs[0][-3] == f"s3://{BUCKET}/artifacts/wheelhouse/"


def test_real_upload_builds_the_wheelhouse_with_the_script(env, tmp_path):
    """Outside dry-run, upload runs scripts/make-wheelhouse.sh on the wheel, then syncs."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    log = tmp_path / "aws.log"
    (fake / "aws").write_text(f'#!/bin/sh\necho "$@" >> {log}\necho 123456789012\n')
    (fake / "aws").chmod(0o755)
    env["PATH"] = f"{fake}:{env['PATH']}"
    wheel = tmp_path / "orchard-9.9.9-cp311-cp311-manylinux_2_34_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    env["ORCHARD_WHEELHOUSE"] = str(tmp_path / "wheelhouse")  # never the real dist/
    p = run(env, "--region", REGION, "--bucket", BUCKET, "upload", "--artifacts-only",
            "--wheel", str(wheel), "--model", str(model))
    # make-wheelhouse.sh reads the wheel's metadata: this fake one makes it fail, and
    # upload stops before any upload with the script's message.
    assert p.returncode == 1, p.stderr
    assert "make-wheelhouse" in p.stderr and "not a wheel" in p.stderr
    assert "s3 " not in (log.read_text() if log.exists() else "")
    assert not (tmp_path / "wheelhouse").exists()


def test_upload_given_folder_to_given_prefix(env, tmp_path):
    data = tmp_path / "fruits"
    (data / "Apple").mkdir(parents=True)
    cs = dry(env, "upload", str(data), "--input-prefix", "input/fruits360", "--data-only")
    assert [c[:2] for c in cs if c[0] == "s3"] == [["s3", "sync"]]
    sync = cs[-1]
    assert sync[-4] == str(data)
    assert sync[-3] == f"s3://{BUCKET}/input/fruits360/"


def test_upload_refuses_prefix_outside_input(env):
    p = run(env, "--dry-run", "--region", REGION, "--bucket", BUCKET, "upload", "--input-prefix", "output/")
    assert p.returncode == 2


# ---------------------------------------------------------------------- submit


def _step(cs):
    adds = [c for c in cs if c[:2] == ["emr", "add-steps"]]
    assert len(adds) == 1
    steps = json.loads(opt(adds[0], "--steps"))
    assert len(steps) == 1
    return adds[0], steps[0]


def test_submit_adds_one_spark_step(env):
    cs = dry(env, "submit", "--run-id", "run-42")
    add, step = _step(cs)
    assert opt(add, "--cluster-id") == "j-DRYRUNCLUSTER"  # from the cluster stack's output
    assert step["Jar"] == "command-runner.jar"
    assert step["ActionOnFailure"] == "CONTINUE"
    args = step["Args"]
    assert args[0] == "spark-submit"
    assert args[args.index("--master") + 1] == "yarn"
    # driver and executors run the bootstrap action's python3.11 venv
    confs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    assert "spark.pyspark.python=/opt/orchard/venv/bin/python" in confs
    assert "spark.pyspark.driver.python=/opt/orchard/venv/bin/python" in confs
    assert "/opt/orchard/orchard_spark_main.py" in args
    assert args[args.index("--input") + 1] == f"s3://{BUCKET}/input/"
    assert args[args.index("--output") + 1] == f"s3://{BUCKET}/output/run-42"
    assert args[args.index("--model") + 1] == "/opt/orchard/mobilenet_v2_imagenet.onnx"
    # the launcher comes before the orchard.spark arguments
    assert args.index("/opt/orchard/orchard_spark_main.py") < args.index("--input")


def test_submit_sizes_the_executors_from_the_core_instance_type(env):
    """Dry run: the cluster stack's parameters read as the defaults (2 x m5.xlarge): one
    4-core executor per node, its container = EMR's 12288 MiB YARN memory - 1024 for an
    application master, 1024 heap + the rest overhead; dynamic allocation up to the nodes."""
    _, step = _step(dry(env, "submit", "--run-id", "r1"))
    args = step["Args"]
    confs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    for setting in ("spark.executor.cores=4", "spark.task.cpus=4", "spark.executor.memory=1024m",
                    "spark.executor.memoryOverhead=10240m", "spark.dynamicAllocation.enabled=true",
                    "spark.dynamicAllocation.shuffleTracking.enabled=true",
                    "spark.dynamicAllocation.maxExecutors=2",
                    "spark.dynamicAllocation.initialExecutors=2",
                    "spark.executorEnv.MALLOC_ARENA_MAX=2",
                    "spark.executorEnv.OPENBLAS_NUM_THREADS=4", "spark.executorEnv.OMP_NUM_THREADS=4"):
        assert setting in confs, setting
    assert args[args.index("--deploy-mode") + 1] == "client"


def _size(*call, **env):
    lib = Path(__file__).resolve().parents[1] / "lib" / "spark-step.sh"
    script = 'source "$0"; size_executors "$@" && echo "$EXECUTOR_CORES $EXECUTOR_MEMORY_MB $EXECUTOR_OVERHEAD_MB $MAX_EXECUTORS"'
    return subprocess.run(["bash", "-c", script, str(lib), *call], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_executor_sizing_table_and_overrides():
    assert _size("c5.4xlarge", "3").stdout.split() == ["16", "1024", "22528", "3"]
    assert _size("r5.xlarge", "1").stdout.split() == ["4", "1024", "22528", "1"]
    unknown = _size("x9.huge", "2")
    assert unknown.returncode == 1 and "ORCHARD_EXECUTOR_CORES" in unknown.stderr
    assert _size("x9.huge", "2", ORCHARD_EXECUTOR_CORES="8", ORCHARD_NODE_YARN_MB="16384").stdout.split() \
        == ["8", "1024", "14336", "2"]
    small = _size("x9.huge", "2", ORCHARD_EXECUTOR_CORES="8", ORCHARD_NODE_YARN_MB="3072")
    assert small.returncode == 1 and "more memory per vCPU" in small.stderr


def test_submit_forwards_extra_args_and_input_prefix(env):
    cs = dry(env, "submit", "--run-id", "r1", "--input-prefix", "input/fruits360/",
             "--", "--partitions", "400")
    _, step = _step(cs)
    args = step["Args"]
    assert args[-2:] == ["--partitions", "400"]
    assert args[args.index("--input") + 1] == f"s3://{BUCKET}/input/fruits360/"


def test_submit_default_run_id_is_a_timestamp(env):
    _, step = _step(dry(env, "submit"))
    out = step["Args"][step["Args"].index("--output") + 1]
    run_id = out.rsplit("/", 1)[1]
    assert run_id.startswith("run-") and run_id.endswith("Z") and len(run_id) == len("run-20250101T000000Z")


def test_submit_wait_polls_the_step(env):
    cs = dry(env, "submit", "--run-id", "r1", "--wait")
    assert ops(cs)[-1] == "emr describe-step"
    assert opt(cs[-1], "--step-id") == "s-DRYRUNSTEP"


def test_step_json_is_accepted_by_the_aws_cli(env, tmp_path):
    """The real AWS CLI parses the --steps JSON (then stops: there are no credentials)."""
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("aws CLI not installed")
    add, _ = _step(dry(env, "submit", "--run-id", "r1", "--", "--note", 'a "quoted" word'))
    env["PATH"] = os.environ["PATH"]  # the real PATH: a pyenv shim needs its tools
    p = subprocess.run([aws, *add], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "Parameter validation failed" not in p.stderr
    assert "credentials" in p.stderr.lower()


# ------------------------------------------------------------------------ down


def test_down_deletes_only_the_cluster_stack(env):
    cs = dry(env, "down")
    assert ops(cs) == [
        "sts get-caller-identity",
        "cloudformation delete-stack",
        "cloudformation wait",
    ]
    assert opt(cs[1], "--stack-name") == "orchard-cluster"
    assert cs[2][2] == "stack-delete-complete" and opt(cs[2], "--stack-name") == "orchard-cluster"


def test_down_purge_needs_yes(env, tmp_path):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "aws").write_text("#!/bin/sh\necho 123456789012\n")
    (fake / "aws").chmod(0o755)
    env["PATH"] = f"{fake}:{env['PATH']}"
    p = run(env, "--region", REGION, "--bucket", BUCKET, "down", "--purge")
    assert p.returncode == 2
    assert "--yes" in p.stderr


def test_down_purge_empties_bucket_then_deletes_base(env):
    cs = dry(env, "down", "--purge", "--yes")
    names = [(c[:2], opt(c, "--stack-name")) for c in cs if c[0] == "cloudformation" and c[1] == "delete-stack"]
    assert [n for _, n in names] == ["orchard-cluster", "orchard-base"]
    o = ops(cs)
    assert o.index("s3api delete-objects") < len(o) - 1 - o[::-1].index("cloudformation delete-stack")
    revokes = [c for c in cs if c[:2] == ["ec2", "revoke-security-group-ingress"]]
    assert len(revokes) == 2


# --------------------------------------------------------------- status/logs/fetch


def test_status_logs_fetch_are_read_only(env):
    read_only = ("describe-", "list-", "get-", "wait")
    for cmd in (["status"], ["logs"], ["logs", "--bootstrap"], ["fetch", "--run-id", "r1"]):
        for c in dry(env, *cmd):
            if c[0] == "s3":  # only downloads: the source is in the bucket
                positional = [a for a in c[2:-2] if not a.startswith("--")]
                assert c[1] in ("cp", "sync") and positional[0].startswith(f"s3://{BUCKET}/"), c
            else:
                assert c[1].startswith(read_only), c


def test_fetch_downloads_the_run_to_out(env):
    cs = dry(env, "fetch", "--run-id", "run-7")
    sync = cs[-1]
    assert sync[:2] == ["s3", "sync"]
    assert f"s3://{BUCKET}/output/run-7/" in sync
    assert str(ROOT / "out" / "aws" / "run-7") in sync


# ------------------------------------------------------------------------- run


def test_run_does_everything_in_order_and_tears_down(env):
    cs = dry(env, "run", "--run-id", "r9")
    o = ops(cs)
    first = {k: o.index(k) for k in ("cloudformation deploy", "s3 sync", "emr add-steps", "cloudformation delete-stack")}
    assert first["cloudformation deploy"] < first["s3 sync"] < first["emr add-steps"] < first["cloudformation delete-stack"]
    assert o[-1] == "cloudformation wait"
    assert any(c[:2] == ["s3", "sync"] and f"s3://{BUCKET}/output/r9/" in c for c in cs)


# ------------------------------------------------------------------- bootstrap


def test_bootstrap_installs_wheel_model_and_launcher():
    text = (DEPLOY / "bootstrap" / "install-orchard.sh").read_text()
    assert "orchard-*.whl" in text
    assert "mobilenet_v2_imagenet.onnx" in text
    assert "/opt/orchard" in text
    assert 'run_module("orchard.spark"' in text
    assert "sha256sum" in text


def test_bootstrap_uses_python311_venv_and_the_wheelhouse_only():
    text = (DEPLOY / "bootstrap" / "install-orchard.sh").read_text()
    assert "dnf install -y -q python3.11 python3.11-pip" in text
    assert '-m venv "$VENV"' in text and "VENV=$DEST/venv" in text
    install = text[text.index('"$VENV/bin/python" -m pip install'):]
    install = install[:install.index("||")]
    assert "--no-index" in install and '--find-links "$work/wheelhouse"' in install
    assert '-r "$work/wheelhouse/requirements.txt"' in install
    assert "s3://$BUCKET/$PREFIX/wheelhouse/" in text
    assert "SHA256SUMS" in text


def _fake_node(tmp_path, bucket_files):
    """A fake EMR node for the bootstrap script: `aws s3 cp` copies from a folder, `sudo`
    runs the command as is, python3.11 is this interpreter's venv-capable python3."""
    import sys
    s3 = tmp_path / "s3"
    for rel, data in bucket_files.items():
        f = s3 / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    bin_ = tmp_path / "nodebin"
    bin_.mkdir()
    (bin_ / "aws").write_text(f"""#!/bin/bash
# aws s3 cp [--only-show-errors] [--recursive] SRC DST
args=(); rec=0
for a in "$@"; do case "$a" in --recursive) rec=1 ;; --*|s3|cp) ;; *) args+=("$a") ;; esac; done
src="{s3}/${{args[0]#s3://}}"; dst="${{args[1]}}"
if [[ $rec == 1 ]]; then mkdir -p "$dst"; [[ -d "$src" ]] && cp -r "$src"/. "$dst"/; exit 0  # like S3: an empty prefix copies nothing
else [[ -f "$src" ]] || exit 1; cp "$src" "$dst"; fi
""")
    (bin_ / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_ / "dnf").write_text('#!/bin/sh\necho "dnf $*" >> "$DNF_LOG"\nexit 1\n')
    for f in ("aws", "sudo", "dnf"):
        (bin_ / f).chmod(0o755)
    return bin_, sys.executable


def test_bootstrap_refuses_a_bucket_without_wheelhouse(tmp_path):
    bin_, _ = _fake_node(tmp_path, {"b/artifacts/mobilenet_v2_imagenet.onnx": b"m"})
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "DNF_LOG": str(tmp_path / "dnf.log")}
    p = subprocess.run(["bash", str(DEPLOY / "bootstrap" / "install-orchard.sh"), "b"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "wheelhouse" in p.stderr and "orchard-aws upload" in p.stderr


def test_bootstrap_refuses_a_corrupt_wheelhouse(tmp_path):
    import hashlib
    good = b"wheel bytes"
    files = {
        "b/artifacts/wheelhouse/orchard-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl": b"truncated",
        "b/artifacts/wheelhouse/requirements.txt": b"orchard==0.1.0\n",
        "b/artifacts/wheelhouse/SHA256SUMS":
            f"{hashlib.sha256(good).hexdigest()}  orchard-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl\n".encode(),
        "b/artifacts/mobilenet_v2_imagenet.onnx": b"m",
    }
    bin_, _ = _fake_node(tmp_path, files)
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "DNF_LOG": str(tmp_path / "dnf.log")}
    p = subprocess.run(["bash", str(DEPLOY / "bootstrap" / "install-orchard.sh"), "b"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "checksum mismatch" in p.stderr


def test_bootstrap_installs_python311_with_dnf_when_missing(tmp_path):
    import hashlib
    whl = b"wheel bytes"
    name = "orchard-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl"
    files = {
        f"b/artifacts/wheelhouse/{name}": whl,
        "b/artifacts/wheelhouse/requirements.txt": b"orchard==0.1.0\n",
        "b/artifacts/wheelhouse/SHA256SUMS": f"{hashlib.sha256(whl).hexdigest()}  {name}\n".encode(),
        "b/artifacts/mobilenet_v2_imagenet.onnx": b"m",
    }
    bin_, _ = _fake_node(tmp_path, files)
    dnf_log = tmp_path / "dnf.log"
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "DNF_LOG": str(dnf_log),
           "ORCHARD_PYTHON": "python3.11-not-on-this-node"}
    p = subprocess.run(["bash", str(DEPLOY / "bootstrap" / "install-orchard.sh"), "b"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1  # the fake dnf fails
    assert "sha256 ok" in p.stderr
    assert dnf_log.read_text().splitlines()[0] == "dnf install -y -q python3.11 python3.11-pip"
    assert "cannot install python3.11" in p.stderr


# ------------------------------------------------ real mode against a fake `aws`

FAKE_AWS = r"""#!/bin/bash
echo "$*" >> "$FAKE_AWS_LOG"
case "$1 $2" in
  "sts get-caller-identity") echo 123456789012 ;;
  "cloudformation describe-stacks")
    case "$*" in
      *StackStatus*) echo CREATE_COMPLETE ;;
      *BucketName*) echo fake-bucket ;;
      *ClusterId*) echo j-FAKE ;;
      *CfnDeployRoleArn*) echo arn:aws:iam::123456789012:role/deploy ;;
      *SecurityGroupId*) echo sg-0fake ;;
    esac ;;
  "emr describe-cluster") echo WAITING ;;
  "emr add-steps") echo s-FAKESTEP ;;
  "emr describe-step") echo "${FAKE_STEP_STATE:-COMPLETED}" ;;
  "s3api list-objects-v2") printf 'output/run-a/\toutput/run-b/\toutput/_temporary/\n' ;;
  "s3api list-object-versions") echo '{"Objects": null, "Quiet": true}' ;;
  "ec2 describe-security-groups") echo '[]' ;;
  "s3 sync") mkdir -p "$5"; [[ "$4" == s3://* ]] && touch "$5/_SUCCESS" ;;
esac
exit 0
"""


@pytest.fixture()
def fake_aws(env, tmp_path):
    d = tmp_path / "fake-aws-bin"
    d.mkdir()
    (d / "aws").write_text(FAKE_AWS)
    (d / "aws").chmod(0o755)
    log = tmp_path / "aws.log"
    env["PATH"] = f"{d}:{env['PATH']}"
    env["FAKE_AWS_LOG"] = str(log)
    env["AWS_REGION"] = REGION
    return log


def test_real_submit_wait_uses_the_stack_outputs(env, fake_aws):
    p = run(env, "submit", "--wait", "--run-id", "r1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "s-FAKESTEP"
    log = fake_aws.read_text()
    assert "s3://fake-bucket/output/r1" in log  # bucket from the base stack's output
    assert "emr add-steps --cluster-id j-FAKE" in log


def test_real_submit_wait_fails_when_the_step_fails(env, fake_aws):
    env["FAKE_STEP_STATE"] = "FAILED"
    p = run(env, "submit", "--wait")
    assert p.returncode == 1
    assert "orchard-aws logs --step-id s-FAKESTEP" in p.stderr


def test_real_submit_wait_cancels_a_step_past_its_deadline(env, fake_aws):
    env["FAKE_STEP_STATE"] = "RUNNING"
    env["ORCHARD_POLL_SECONDS"] = "1"
    p = run(env, "submit", "--wait", "--run-id", "r9", "--step-timeout", "2")
    assert p.returncode == 1
    assert "emr cancel-steps --cluster-id j-FAKE --step-ids s-FAKESTEP " \
        "--step-cancellation-option SEND_INTERRUPT" in fake_aws.read_text()
    assert "after 2s (--step-timeout): cancelling it" in p.stderr
    assert "orchard-aws submit --run-id r9 --wait -- --resume" in p.stderr


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_bad_step_timeout_exits_2(env, value):
    p = run(env, "submit", "--wait", "--step-timeout", value)
    assert p.returncode == 2 and "--step-timeout" in p.stderr


def test_real_fetch_picks_the_latest_run(env, fake_aws, tmp_path):
    p = run(env, "fetch", "--dest", str(tmp_path / "got"))
    assert p.returncode == 0, p.stderr
    assert "s3://fake-bucket/output/run-b/" in fake_aws.read_text()
    assert (tmp_path / "got" / "_SUCCESS").is_file()


def test_real_up_keeps_an_existing_base_stack(env, fake_aws):
    p = run(env, "up", "--no-upload")
    assert p.returncode == 0, p.stderr
    deploys = [l for l in fake_aws.read_text().splitlines() if l.startswith("cloudformation deploy")]
    assert len(deploys) == 1 and "--stack-name orchard-cluster" in deploys[0]
    assert "--role-arn arn:aws:iam::123456789012:role/deploy" in deploys[0]


def test_real_down_purge_finishes(env, fake_aws):
    p = run(env, "down", "--purge", "--yes")
    assert p.returncode == 0, p.stderr
    lines = fake_aws.read_text().splitlines()
    deletes = [l.split()[3] for l in lines if l.startswith("cloudformation delete-stack")]
    assert deletes == ["orchard-cluster", "orchard-base"]
