"""The AWS side as code: deploy/aws/*.yaml (CloudFormation) linted by cfn-lint, deployed into moto's
CloudFormation with production boto3 calls, and held equal to what the code really calls — the IAM
actions of every boto3 call in operator/ and bridge_lambda/ against docs/aws.md's IAM tables and the
templates' policies — and to the alarms `incident-operator alarms setup` creates."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import boto3
import pytest

from bridge_lambda.config import ENV_VARS, BridgeConfig
from incident_operator.alarms import DEFAULT_ALARMS, setup

from .support.iam_calls import boto3_calls

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "deploy" / "aws" / "bridge.yaml"
OPERATOR = ROOT / "deploy" / "aws" / "operator-iam.yaml"
IAM_DOC = ROOT / "docs" / "aws.md"  # the IAM tables, each after an `<!-- iam:ROLE -->` marker
REGION = "eu-west-1"  # apart from the other tests' resources on the shared endpoint
# moto warns (from its server thread) about each resource type of NOT_IN_MOTO below
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto")

# IAM actions a role needs that no boto3 call in our code shows, each with the line of code (or template)
# that makes it needed: if that line goes, the action must go too.
EXTRA_ACTIONS = {
    "bridge": {
        "logs:CreateLogStream": ("bridge_lambda/handler.py", "logging.getLogger", "the Lambda runtime writes the function's log lines to its log group"),
        "logs:PutLogEvents": ("bridge_lambda/handler.py", "logging.getLogger", "the same"),
        "sqs:SendMessage": ("deploy/aws/bridge.yaml", "Destination: !GetAtt FailureQueue.Arn",
                            "Lambda sends the on-failure invocation record with the function's role"),
        **{f"ec2:{a}": ("deploy/aws/bridge.yaml", "VpcConfig: !If", "a function in a VPC (private EKS endpoint): Lambda manages its ENIs with the function's role")
           for a in ("CreateNetworkInterface", "DescribeNetworkInterfaces", "DescribeSubnets", "DeleteNetworkInterface",
                     "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses")},
    },
    "operator": {
        "bedrock:InvokeModel": ("operator/incident_operator/agent/providers.py", "streaming=False",
                                "strands' BedrockModel calls Converse (not streaming), authorised as bedrock:InvokeModel"),
        "es:ESHttpPost": ("operator/incident_operator/tools/opensearch.py", "AWSV4SignerAuth",
                          "SigV4-signed OpenSearch requests: _search and the detector results search are POSTs"),
        "kms:Decrypt": ("operator/incident_operator/settings.py", "WithDecryption=True",
                        "SecureString settings encrypted with a customer managed key"),
    },
    "alarms-setup": {},
}
# called by the code, but IAM never checks them
NO_PERMISSION = {"sts:GetCallerIdentity": "AWS: no permissions are required (the bridge only presigns it for the EKS token)"}


def role_of(path: str) -> str | None:
    """Whose IAM identity makes the calls in a file; None: never against AWS."""
    if path.startswith("bridge_lambda/"):
        return "bridge"
    if path == "operator/incident_operator/alarms.py":
        return "alarms-setup"  # `incident-operator alarms setup`, run by an admin (or the bridge template instead)
    if path.startswith("operator/incident_operator/scenarios/"):
        return None  # scenario replay feeds the local endpoint (moto) only
    return "operator"


@lru_cache(maxsize=1)
def _required_actions() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {role: set() for role in EXTRA_ACTIONS}
    for call in boto3_calls(ROOT, "operator", "bridge_lambda"):
        role = role_of(call.path)
        if role and call.action not in NO_PERMISSION:
            out[role].add(call.action)
    for role, extra in EXTRA_ACTIONS.items():
        out[role] |= set(extra)
    return {role: frozenset(acts) for role, acts in out.items()}


def required_actions() -> dict[str, set[str]]:
    """IAM actions per identity: the code's boto3 calls (one walk per session) plus EXTRA_ACTIONS."""
    return {role: set(acts) for role, acts in _required_actions().items()}


def doc_actions() -> dict[str, set[str]]:
    """The IAM tables of docs/aws.md: each follows a `<!-- iam:ROLE -->` marker; the first column names the actions."""
    lines = IAM_DOC.read_text().splitlines()
    out: dict[str, set[str]] = {}
    for i, line in enumerate(lines):
        m = re.match(r"<!-- iam:([\w-]+) -->", line.strip())
        if not m:
            continue
        actions = out.setdefault(m[1], set())
        for row in lines[i + 1:]:
            if not row.startswith("|"):
                break
            actions |= set(re.findall(r"`([a-z0-9-]+:[A-Za-z0-9*]+)`", row.split("|")[1]))
    return out


def load_template(path: Path) -> dict:
    from cfnlint.decode import cfn_yaml
    return cfn_yaml.load(str(path))


def policy_actions(doc) -> set[str]:
    """Every Allow action in a policy document, in every branch of its Fn::If."""
    out: set[str] = set()

    def statements(x):
        if isinstance(x, dict) and "Fn::If" in x:
            for branch in x["Fn::If"][1:]:
                yield from statements(branch)
        elif isinstance(x, list):
            for y in x:
                yield from statements(y)
        elif isinstance(x, dict) and "Effect" in x:
            yield x

    for st in statements(doc.get("Statement", [])):
        assert st["Effect"] == "Allow", st
        acts = st["Action"]
        out |= {acts} if isinstance(acts, str) else set(acts)
    return out


def template_actions(path: Path, resource_type: str) -> set[str]:
    out: set[str] = set()
    for res in load_template(path)["Resources"].values():
        if res["Type"] != resource_type:
            continue
        props = res["Properties"]
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])] + ([props["PolicyDocument"]] if "PolicyDocument" in props else [])
        for d in docs:
            out |= policy_actions(d)
    return out


CFN_LINT = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]


def diff(what: str, have: set[str], want: set[str]) -> str:
    missing, extra = sorted(want - have), sorted(have - want)
    return (f"{what} differs from what the code calls:\n  missing (called, not granted/listed): {missing}\n"
            f"  extra (granted/listed, never called): {extra}")


# --- the templates are valid -------------------------------------------------------------------

def test_cfn_lint_passes_on_the_templates():
    res = subprocess.run([*CFN_LINT, str(BRIDGE), str(OPERATOR)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_cfn_lint_catches_a_broken_template(tmp_path):
    """The lint step can fail: a wrong runtime and a misspelt IAM action are reported."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(BRIDGE.read_text().replace("Runtime: python3.11", "Runtime: python2.11")
                      .replace("Action: sqs:SendMessage", "Action: sqs:SendMesage"))
    res = subprocess.run([*CFN_LINT, str(broken)], capture_output=True, text=True)
    assert res.returncode != 0 and "python2.11" in res.stdout and "sendmesage" in res.stdout.lower()


# --- IAM: code == docs/aws.md == templates ----------------------------------------------------

def test_the_code_walk_finds_every_client_pattern(tmp_path):
    """The walk that everything below relies on: clients made, cached, handed in and returned."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "import boto3\n"
        "def _c(service, cfg):\n    return boto3.client(service, region_name=cfg)\n"
        "def direct():\n    s3 = boto3.client('s3')\n    s3.list_buckets()\n"
        "    for p in boto3.client('ssm').get_paginator('get_parameters_by_path').paginate(Path='/x'): pass\n"
        "def via_session(session):\n    sqs = session.client('sqs')\n    sqs.send_message(QueueUrl='q', MessageBody='b')\n"
        "def wrapped(cfg):\n    return _c('eks', cfg).describe_cluster(name='x')\n"
        "def cached(deps):\n    def make():\n        return boto3.client('logs')\n    return deps.client('logs', make)\n"
        "def uses_cached(deps):\n    cached(deps).put_log_events(logGroupName='g', logStreamName='s', logEvents=[])\n"
        "def handed(cw):\n    cw.get_metric_data(MetricDataQueries=[])\n"
        "def caller():\n    handed(boto3.client('cloudwatch'))\n"
        "def named(sts):\n    return sts.generate_presigned_url('get_caller_identity')\n"
        "def make_sts():\n    return boto3.client('sts')\n"
        "def not_aws(deps):\n    def make():\n        return object()\n    deps.client('opensearch', make).search(index='i')\n")
    found = {(c.action, c.function) for c in boto3_calls(tmp_path, "pkg")}
    assert found == {("s3:ListBuckets", "direct"), ("ssm:GetParametersByPath", "direct"),
                     ("sqs:SendMessage", "via_session"), ("eks:DescribeCluster", "wrapped"),
                     ("logs:PutLogEvents", "uses_cached"), ("cloudwatch:GetMetricData", "handed"),
                     ("sts:GetCallerIdentity", "named")}


def test_every_extra_action_still_has_its_reason_in_the_code():
    for role, extra in EXTRA_ACTIONS.items():
        for act, (path, witness, why) in extra.items():
            assert witness in (ROOT / path).read_text(), f"{role} {act} ({why}): {witness!r} is gone from {path}"


def test_the_code_makes_the_aws_calls_the_docs_and_templates_are_checked_against():
    """A floor for the walk: the calls docs/aws.md has always promised are among those found."""
    req = required_actions()
    assert {"cloudwatch:GetMetricData", "cloudwatch:DescribeAlarmContributors",
            "ssm:GetParametersByPath", "ssm:GetParameters"} <= req["operator"]
    assert "eks:DescribeCluster" in req["bridge"]
    assert req["alarms-setup"] == {"cloudwatch:PutMetricAlarm", "sns:CreateTopic"}


@pytest.mark.parametrize("role", ["operator", "bridge", "alarms-setup"])
def test_doc_iam_tables_list_exactly_what_the_code_calls(role):
    tables = doc_actions()
    assert role in tables, f"docs/aws.md has no `<!-- iam:{role} -->` table"
    want = required_actions()[role]
    assert tables[role] == want, diff(f"docs/aws.md IAM table `{role}`", tables[role], want)


@pytest.mark.parametrize("role,path,resource_type", [
    ("bridge", BRIDGE, "AWS::IAM::Role"),
    ("operator", OPERATOR, "AWS::IAM::ManagedPolicy"),
])
def test_template_policies_grant_exactly_what_the_code_calls(role, path, resource_type):
    have = template_actions(path, resource_type)
    want = required_actions()[role]
    assert have == want, diff(f"{path.name} {resource_type} policy", have, want)


def test_the_comparison_fails_on_a_missing_or_extra_action():
    want = required_actions()["operator"]
    assert "missing (called, not granted/listed): ['cloudwatch:GetMetricData']" in diff("x", want - {"cloudwatch:GetMetricData"}, want)
    assert "extra (granted/listed, never called): ['ssm:GetParameter']" in diff("x", want | {"ssm:GetParameter"}, want)


# --- the alarms: one definition ----------------------------------------------------------------

def test_template_alarms_are_the_alarms_of_alarms_setup(aws):
    """`incident-operator alarms setup` (production code, against the local endpoint) and the template's
    AWS::CloudWatch::Alarm resources define the same three alarms, field by field."""
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=aws.endpoint)
    sns = boto3.client("sns", region_name=REGION, endpoint_url=aws.endpoint)
    cluster = "${ClusterName}"  # the template's query is a Fn::Sub over the parameter
    out = setup(cw, sns, cluster, None, "iac-alarms", DEFAULT_ALARMS)
    made = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=[a.name for a in DEFAULT_ALARMS])["MetricAlarms"]}
    template = {r["Properties"]["AlarmName"]: r["Properties"] for r in load_template(BRIDGE)["Resources"].values()
                if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(template) == set(made) == {a.name for a in DEFAULT_ALARMS}
    for name, alarm in made.items():
        t = template[name]
        assert alarm["AlarmActions"] == alarm["OKActions"] == [out["topicArn"]]
        assert t["AlarmActions"] == t["OKActions"] == [{"Ref": "AlarmTopic"}]
        for key in ("AlarmDescription", "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator",
                    "TreatMissingData", "ActionsEnabled"):
            assert t[key] == alarm[key], (name, key)
        assert float(t["Threshold"]) == alarm["Threshold"], name
        assert len(t["Metrics"]) == len(alarm["Metrics"]) == 1
        q, tq = alarm["Metrics"][0], t["Metrics"][0]
        assert tq["Expression"] == {"Fn::Sub": q["Expression"]}, name
        assert (tq["Id"], tq["Label"], tq["Period"], tq["ReturnData"]) == (q["Id"], q["Label"], q["Period"], q["ReturnData"])


# --- deployed into moto's CloudFormation -------------------------------------------------------

# What moto's CloudFormation cannot do, so the deployment checks leave it out (each checked another way):
# - these resource types: checked statically (and by cfn-lint), not deployed;
# - AWS::NoValue from Fn::If inside a list stays a null there (AWS drops it): a managed policy with a
#   dropped statement is rejected as malformed, so the operator policy is deployed with every option set;
#   the bridge role's inline policy takes the null, which the checks skip (so its conditions are deployed).
NOT_IN_MOTO = {
    "AWS::CloudWatch::Alarm": "moto has no CloudFormation model for alarms; test_template_alarms_are_the_alarms_of_alarms_setup",
    "AWS::Lambda::EventInvokeConfig": "moto has no CloudFormation model for it; test_on_failure_destination_is_the_queue_redrive_reads",
    "AWS::EKS::AccessEntry": "moto has no CloudFormation model for it; test_the_access_entry_maps_the_role_to_the_group_the_manifests_bind",
}


def test_the_access_entry_maps_the_role_to_the_group_the_manifests_bind():
    """Issue 23, finding 4: the bridge's identity is a group that manifests/rbac-bridge.yaml (and the chart) bind to
    its Role and admission.yaml narrows to its own ConfigMaps; the template's access entry maps the role to it."""
    import yaml

    template = load_template(BRIDGE)
    entry = template["Resources"]["BridgeAccessEntry"]
    assert entry["Condition"] == "WithAccessEntry" and entry["Properties"]["Type"] == "STANDARD"
    assert entry["Properties"]["KubernetesGroups"] == [{"Ref": "KubernetesGroup"}]
    assert "AccessPolicies" not in entry["Properties"]  # RBAC in the cluster, nothing cluster-wide from EKS
    group = template["Parameters"]["KubernetesGroup"]["Default"]
    binding = next(d for d in yaml.safe_load_all((ROOT / "manifests" / "rbac-bridge.yaml").read_text()) if d["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]
    assert f"'{group}' in request.userInfo.groups" in (ROOT / "manifests" / "admission.yaml").read_text()
    chart = yaml.safe_load((ROOT / "charts" / "incident-operator" / "values.yaml").read_text())
    assert chart["bridge"]["kubernetesGroup"] == group


def _clients(aws):
    return {s: boto3.client(s, region_name=REGION, endpoint_url=aws.endpoint)
            for s in ("cloudformation", "s3", "lambda", "sns", "iam", "sqs", "logs", "ec2")}


def _code_bucket(c) -> str:
    bucket = "iac-bridge-code"
    if bucket not in [b["Name"] for b in c["s3"].list_buckets()["Buckets"]]:
        c["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # the package itself; moto stores the code, it does not run it
        for f in sorted((ROOT / "bridge_lambda").glob("*.py")):
            z.write(f, f"bridge_lambda/{f.name}")
    c["s3"].put_object(Bucket=bucket, Key="bridge-lambda.zip", Body=buf.getvalue())
    return bucket


def _deploy(c, name: str, template: Path, params: dict[str, str], false_conditions: frozenset = frozenset()) -> tuple[dict, dict]:
    """create_stack, then: every declared resource whose condition holds is there (except the types moto
    cannot create, NOT_IN_MOTO), and none whose condition does not."""
    c["cloudformation"].create_stack(
        StackName=name, TemplateBody=template.read_text(), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    stack = c["cloudformation"].describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = {r["LogicalResourceId"]: r for r in c["cloudformation"].describe_stack_resources(StackName=name)["StackResources"]
                 if "LogicalResourceId" in r}  # moto lists what it could not create without a name
    for logical, res in load_template(template)["Resources"].items():
        if res.get("Condition") in false_conditions:
            assert logical not in resources, f"{logical} was deployed although {res['Condition']} is false"
        elif res["Type"] not in NOT_IN_MOTO:
            assert resources.get(logical, {}).get("ResourceStatus") == "CREATE_COMPLETE", f"{logical} ({res['Type']}) was not deployed"
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, resources


def _role_policy(c, role_name: str) -> dict:
    names = c["iam"].list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == ["bridge"]
    doc = c["iam"].get_role_policy(RoleName=role_name, PolicyName="bridge")["PolicyDocument"]
    if isinstance(doc, str):  # moto answers the document as text
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = ast.literal_eval(doc)
    # AWS drops a statement that is Fn::If -> AWS::NoValue; moto leaves a null in the list
    return {st["Sid"]: st for st in doc["Statement"] if st is not None}


def test_the_bridge_stack_deploys_with_its_wiring(aws):
    c = _clients(aws)
    assert set(NOT_IN_MOTO) <= {r["Type"] for r in load_template(BRIDGE)["Resources"].values()}
    bucket = _code_bucket(c)
    out, resources = _deploy(c, "iac-bridge", BRIDGE, {"ClusterName": "demo", "CodeS3Bucket": bucket,
                                                      "FunctionName": "iac-bridge", "TopicName": "iac-bridge-alarms",
                                                      "SeverityByAlarm": '{"netaiops-node-cpu-high": "critical"}'})
    fn = c["lambda"].get_function_configuration(FunctionName="iac-bridge")
    assert (fn["Runtime"], fn["Handler"], fn["Timeout"], fn["MemorySize"]) == ("python3.11", "bridge_lambda.handler.handle", 30, 256)
    assert fn["Role"] == out["RoleArn"] and fn["FunctionArn"] == out["FunctionArn"]
    assert not (fn.get("VpcConfig") or {}).get("SubnetIds")
    env = fn["Environment"]["Variables"]
    assert set(env) <= set(ENV_VARS.values()), f"the bridge does not read {set(env) - set(ENV_VARS.values())}"
    cfg = BridgeConfig.from_env(env)  # the bridge's own reading of the function's environment
    assert (cfg.cluster_name, cfg.namespace, cfg.remediation, cfg.cluster_endpoint) == ("demo", "incident-operator", "auto", None)
    assert cfg.severity_for("netaiops-node-cpu-high") == "critical"

    # SNS -> Lambda: the subscription, and the permission that lets only this topic invoke the function
    subs = c["sns"].list_subscriptions_by_topic(TopicArn=out["TopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("lambda", fn["FunctionArn"])]
    policy = json.loads(c["lambda"].get_policy(FunctionName="iac-bridge")["Policy"])
    [grant] = policy["Statement"]
    assert grant["Principal"] == {"Service": "sns.amazonaws.com"} and grant["Action"] == "lambda:InvokeFunction"
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == out["TopicArn"]

    # the role: only what the code needs, on its own resources
    statements = _role_policy(c, out["RoleArn"].split("/")[-1])
    assert set(statements) == {"Logs", "OnFailureDestination", "DescribeCluster"}
    account = out["TopicArn"].split(":")[4]
    assert statements["DescribeCluster"]["Resource"] == f"arn:aws:eks:{REGION}:{account}:cluster/demo"
    queue_arn = c["sqs"].get_queue_attributes(QueueUrl=out["FailureQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert statements["OnFailureDestination"]["Resource"] == queue_arn["QueueArn"]
    assert queue_arn["MessageRetentionPeriod"] == "1209600"
    assert statements["Logs"]["Resource"] == f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/iac-bridge:*"
    [group] = c["logs"].describe_log_groups(logGroupNamePrefix="/aws/lambda/iac-bridge")["logGroups"]
    assert group["retentionInDays"] == 30


def test_a_private_endpoint_bridge_runs_in_the_vpc_and_needs_no_eks_permission(aws):
    """With subnets and security groups the function is in the VPC (and may manage its ENIs); with the
    endpoint and CA given it never calls eks:DescribeCluster, so its role cannot."""
    c = _clients(aws)
    vpc = c["ec2"].create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = c["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = c["ec2"].create_security_group(GroupName="iac-bridge", Description="bridge", VpcId=vpc)["GroupId"]
    out, _ = _deploy(c, "iac-bridge-vpc", BRIDGE, {
        "ClusterName": "private", "CodeS3Bucket": _code_bucket(c), "FunctionName": "iac-bridge-vpc",
        "TopicName": "iac-bridge-vpc-alarms", "CreateAlarms": "false", "SubnetIds": subnet, "SecurityGroupIds": sg,
        "ClusterEndpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com", "ClusterCertificateAuthority": "LS0tLS1CRUdJTg=="},
        frozenset({"WithAlarms"}))
    fn = c["lambda"].get_function_configuration(FunctionName="iac-bridge-vpc")
    assert fn["VpcConfig"]["SubnetIds"] == [subnet] and fn["VpcConfig"]["SecurityGroupIds"] == [sg]
    cfg = BridgeConfig.from_env(fn["Environment"]["Variables"])
    assert cfg.cluster_endpoint == "https://ABC.gr7.eu-west-1.eks.amazonaws.com" and cfg.cluster_ca == "LS0tLS1CRUdJTg=="
    statements = _role_policy(c, out["RoleArn"].split("/")[-1])
    assert set(statements) == {"Logs", "OnFailureDestination", "VpcNetworkInterfaces"}
    assert "ec2:CreateNetworkInterface" in statements["VpcNetworkInterfaces"]["Action"]


def test_on_failure_destination_is_the_queue_redrive_reads():
    """EventInvokeConfig (not deployable in moto): retries then the SQS queue, whose messages are the
    invocation records bridge_lambda.handler.redrive() takes."""
    from bridge_lambda.handler import failed_event
    res = load_template(BRIDGE)["Resources"]
    cfg = res["BridgeInvokeConfig"]["Properties"]
    assert cfg["FunctionName"] == {"Ref": "BridgeFunction"} and cfg["Qualifier"] == "$LATEST"
    assert cfg["MaximumRetryAttempts"] == {"Ref": "MaximumRetryAttempts"}
    assert cfg["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}}
    assert res["FailureQueue"]["Type"] == "AWS::SQS::Queue" and "FifoQueue" not in res["FailureQueue"]["Properties"]
    # an SQS message body from that destination, as Lambda documents it
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "{}"}}]}
    body = json.dumps({"version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
                       "requestPayload": event, "responsePayload": {"errorMessage": "1 record(s) to retry: m"}})
    assert failed_event(body) == event


def test_the_operator_policy_and_irsa_role_deploy(aws):
    c = _clients(aws)
    out, resources = _deploy(c, "iac-operator", OPERATOR, {
        "OidcIssuer": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "SsmPath": "/app/incident", "AgentCoreSsmPrefix": "/app/incident/agentcore/",
        "LlmModelId": "global.anthropic.claude-opus-4-6-v1", "AlarmNamePattern": "netaiops-*",
        "SsmKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "OpenSearchDomainArn": "arn:aws:es:eu-west-1:123456789012:domain/logs"})
    assert "OperatorRole" in resources
    iam = c["iam"]
    policy = iam.get_policy(PolicyArn=out["PolicyArn"])["Policy"]
    doc = iam.get_policy_version(PolicyArn=out["PolicyArn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert policy_actions(doc) == required_actions()["operator"]
    assert by_sid["SettingsFromSsm"]["Resource"][1].endswith(":parameter/app/incident/*")
    assert by_sid["AgentCoreFromSsm"]["Resource"].endswith(":parameter/app/incident/agentcore/*")
    assert by_sid["AlarmContributors"]["Resource"].endswith(":alarm:netaiops-*")
    role = iam.get_role(RoleName=out["RoleArn"].split("/")[-1])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    [st] = trust["Statement"]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    issuer = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert st["Condition"]["StringEquals"] == {f"{issuer}:sub": "system:serviceaccount:incident-operator:incident-operator",
                                               f"{issuer}:aud": "sts.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["PolicyArn"]]


