"""Security invariants of the CloudFormation templates (cfn-lint/checkov cover the rest)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as their long form."""


def _tag(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def load(name: str) -> dict:
    return yaml.load((TEMPLATES / name).read_text(), Loader=CfnLoader)


@pytest.fixture(scope="module")
def base() -> dict:
    return load("base.yaml")


@pytest.fixture(scope="module")
def cluster() -> dict:
    return load("cluster.yaml")


def resources(t: dict, rtype: str) -> dict:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == rtype}


def statements(t: dict):
    """Every IAM policy statement in the template, with the resource it belongs to."""
    for name, r in t["Resources"].items():
        props = r.get("Properties", {})
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            docs.append(props["PolicyDocument"])
        for doc in docs:
            for st in doc["Statement"]:
                yield name, r["Type"], st


def as_list(x):
    return x if isinstance(x, list) else [x]


def test_buckets_block_public_access_and_encrypt(base):
    buckets = resources(base, "AWS::S3::Bucket")
    assert {"DataBucket", "AccessLogBucket"} <= set(buckets)
    for b in buckets.values():
        p = b["Properties"]
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }
        rule = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert p["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"


def test_every_bucket_policy_denies_plain_http(base):
    policies = resources(base, "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for pol in policies.values():
        denies = [
            s for s in pol["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies and denies[0]["Principal"] == "*" and denies[0]["Action"] == "s3:*"


def test_lifecycle_expires_tmp_and_aborts_multipart(base):
    rules = base["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload") and "Prefix" not in r for r in rules)
    prefixes = {r.get("Prefix") for r in rules if "ExpirationInDays" in r}
    assert {"tmp/", "output/_temporary/", "logs/"} <= prefixes


def test_versioning_and_access_logging_are_parameters(base):
    assert base["Parameters"]["EnableVersioning"]["AllowedValues"] == ["true", "false"]
    assert base["Parameters"]["EnableAccessLogging"]["AllowedValues"] == ["true", "false"]


def test_no_iam_allow_grants_s3_star_or_s3_on_everything(base, cluster):
    for t in (base, cluster):
        for name, rtype, st in statements(t):
            if st["Effect"] != "Allow" or rtype.startswith("AWS::S3::"):
                continue
            actions = as_list(st["Action"])
            assert "*" not in actions and "s3:*" not in actions, name
            if any(a.startswith("s3:") for a in actions):
                assert "*" not in as_list(st["Resource"]), (name, st.get("Sid"))


def test_instance_role_is_limited_to_the_bucket_and_has_ssm(base):
    role = base["Resources"]["EmrInstanceRole"]["Properties"]
    managed = [m["Fn::Sub"] for m in role["ManagedPolicyArns"]]
    assert any(m.endswith("policy/AmazonSSMManagedInstanceCore") for m in managed)
    for st in role["Policies"][0]["PolicyDocument"]["Statement"]:
        if any(a.startswith("s3:") for a in as_list(st["Action"])):
            for res in as_list(st["Resource"]):
                assert res["Fn::Sub"].startswith("arn:${AWS::Partition}:s3:::${BucketName}")
            if "s3:PutObject" in st["Action"]:
                prefixes = {r["Fn::Sub"].split("}/", 1)[1] for r in st["Resource"]}
                assert prefixes == {"output/*", "tmp/*", "logs/*"}


def test_operator_policy_exists_and_is_scoped(base):
    doc = base["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
    star_actions = {
        a for st in doc["Statement"] if st["Effect"] == "Allow" and "*" in as_list(st["Resource"])
        for a in as_list(st["Action"])
    }
    assert star_actions <= {"cloudformation:ValidateTemplate"}


def _operator_statement(base, action):
    doc = base["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
    found = [st for st in doc["Statement"] if action in as_list(st["Action"])]
    assert found, action
    return found


def test_operator_steps_and_termination_only_on_the_projects_clusters(base):
    for action in ("elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:TerminateJobFlows",
                   "elasticmapreduce:CancelSteps", "elasticmapreduce:DescribeStep"):
        for st in _operator_statement(base, action):
            assert st["Condition"] == {
                "StringEquals": {"elasticmapreduce:ResourceTag/Project": {"Ref": "Project"}}}, st
    # and the cluster carries that tag
    c = load("cluster.yaml")["Resources"]["Cluster"]["Properties"]
    assert {"Key": "Project", "Value": {"Ref": "Project"}} in c["Tags"]


def test_operator_session_needs_the_shell_document(base):
    resources = [r["Fn::Sub"] for st in _operator_statement(base, "ssm:StartSession")
                 for r in as_list(st["Resource"])]
    assert any(r.endswith(":document/SSM-SessionManagerRunShell") for r in resources), resources
    instance = [st for st in _operator_statement(base, "ssm:StartSession")
                if st["Resource"]["Fn::Sub"].endswith(":instance/*")]
    assert instance[0]["Condition"]["BoolIfExists"] == {"ssm:SessionDocumentAccessCheck": "true"}


def test_docs_use_only_what_the_operator_policy_allows(base):
    doc = base["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
    allowed = {a for st in doc["Statement"] if st["Effect"] == "Allow" for a in as_list(st["Action"])}
    text = (Path(__file__).resolve().parents[3] / "docs" / "aws.md").read_text()
    assert "emr list-clusters" not in text or "elasticmapreduce:ListClusters" in allowed
    assert "--document-name SSM-SessionManagerRunShell" in text


def test_yarn_places_one_executor_per_node_by_memory_with_the_memory_check(cluster):
    confs = {c["Classification"]: c for c in cluster["Resources"]["Cluster"]["Properties"]["Configurations"]}
    assert confs["capacity-scheduler"]["ConfigurationProperties"] == {
        "yarn.scheduler.capacity.resource-calculator":
            "org.apache.hadoop.yarn.util.resource.DefaultResourceCalculator"}
    assert confs["yarn-site"]["ConfigurationProperties"]["yarn.nodemanager.pmem-check-enabled"] == "true"


def test_security_configuration(cluster):
    sc = cluster["Resources"]["SecurityConfiguration"]["Properties"]["SecurityConfiguration"]
    enc = sc["EncryptionConfiguration"]
    assert enc["EnableAtRestEncryption"] is True
    at_rest = enc["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"]["EncryptionMode"] in ("SSE-S3", "SSE-KMS")
    assert at_rest["LocalDiskEncryptionConfiguration"]["EnableEbsEncryption"] is True
    assert sc["InstanceMetadataServiceConfiguration"]["MinimumInstanceMetadataServiceVersion"] == 2


def test_cluster_is_emr7_with_spark_autotermination_and_bootstrap(cluster):
    assert re.fullmatch(r"emr-7\.\d+\.\d+", cluster["Parameters"]["ReleaseLabel"]["Default"])
    c = cluster["Resources"]["Cluster"]["Properties"]
    assert {"Name": "Spark"} in c["Applications"]
    assert c["AutoTerminationPolicy"] == {"IdleTimeout": {"Ref": "IdleTimeoutSeconds"}}
    assert c["SecurityConfiguration"] == {"Ref": "SecurityConfiguration"}
    path = c["BootstrapActions"][0]["ScriptBootstrapAction"]["Path"]["Fn::Sub"][0]
    assert path.endswith("/artifacts/bootstrap/install-orchard.sh")


def test_cluster_runs_pyspark_on_the_bootstrap_python311_venv(cluster):
    venv_python = "/opt/orchard/venv/bin/python"
    confs = {c["Classification"]: c for c in cluster["Resources"]["Cluster"]["Properties"]["Configurations"]}
    defaults = confs["spark-defaults"]["ConfigurationProperties"]
    assert defaults["spark.pyspark.python"] == venv_python
    assert defaults["spark.pyspark.driver.python"] == venv_python
    export = confs["spark-env"]["Configurations"][0]
    assert export["Classification"] == "export"
    assert export["ConfigurationProperties"]["PYSPARK_PYTHON"] == venv_python
    assert export["ConfigurationProperties"]["PYSPARK_DRIVER_PYTHON"] == venv_python


def test_ssh_only_with_operator_cidr_and_never_world(cluster):
    p = cluster["Parameters"]["OperatorCidr"]
    assert p["Default"] == ""
    pattern = re.compile(p["AllowedPattern"])
    for ok in ["", "203.0.113.7/32", "10.0.0.0/8", "192.168.1.0/24"]:
        assert pattern.fullmatch(ok), ok
    for bad in ["0.0.0.0/0", "10.0.0.0/4", "1.2.3.4", "::/0", "256.1.1.1/32"]:
        assert not pattern.fullmatch(bad), bad
    sg = cluster["Resources"]["SshSecurityGroup"]
    assert sg["Condition"] == "AllowSsh"
    assert cluster["Conditions"]["AllowSsh"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorCidr"}, ""]}]}
    rule = cluster["Rules"]["SshNeverFromTheWholeInternet"]
    asserted = [a["Assert"] for a in rule["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorCidr"}, "0.0.0.0/0"]}]} in asserted
    ingress = sg["Properties"]["SecurityGroupIngress"]
    assert ingress == [{"Description": "SSH from the operator CIDR", "IpProtocol": "tcp",
                        "FromPort": 22, "ToPort": 22, "CidrIp": {"Ref": "OperatorCidr"}}]


def test_no_security_group_opens_ingress_to_the_world(base, cluster):
    for t in (base, cluster):
        for sg in resources(t, "AWS::EC2::SecurityGroup").values():
            for rule in sg["Properties"].get("SecurityGroupIngress", []):
                assert rule.get("CidrIp") != "0.0.0.0/0"


def test_budget_and_spot_tasks_are_optional(base, cluster):
    assert base["Resources"]["MonthlyBudget"]["Condition"] == "CreateBudget"
    assert cluster["Parameters"]["TaskSpotInstanceCount"]["Default"] == 0
    tasks = cluster["Resources"]["Cluster"]["Properties"]["Instances"]["TaskInstanceGroups"]["Fn::If"]
    assert tasks[0] == "UseSpotTasks" and tasks[1][0]["Market"] == "SPOT"


def test_instance_role_s3_statements_are_the_ones_the_scoped_s3_test_enforces(base):
    """tests/integration/test_s3_scoped.py runs orchard against an S3 server that enforces
    these statements, read from emr_instance_role_s3.json: that proof holds only while
    the file and the template say the same."""
    tested = json.loads((TEMPLATES.parents[2] / "tests" / "integration" /
                         "emr_instance_role_s3.json").read_text())["Statement"]
    role = base["Resources"]["EmrInstanceRole"]["Properties"]
    shipped = []
    for st in role["Policies"][0]["PolicyDocument"]["Statement"]:
        if not any(a.startswith("s3:") for a in as_list(st["Action"])):
            continue
        resources = [r["Fn::Sub"] for r in as_list(st["Resource"])]
        shipped.append({**st, "Action": as_list(st["Action"]),
                        "Resource": resources[0] if len(resources) == 1 else resources})
    normalized = [{**st, "Action": as_list(st["Action"])} for st in tested]
    assert shipped == normalized
