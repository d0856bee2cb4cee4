"""The bridge Lambda against a real local AWS endpoint (moto server) and the real kube-apiserver."""

from __future__ import annotations

import base64
import json
import logging
import random
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client

from bridge_lambda.config import BridgeConfig
from bridge_lambda.eks_token import TokenProvider
from bridge_lambda.handler import RetryableRecords, handle
from bridge_lambda.incidents import ANN_OCCURRENCES, LABEL_FINGERPRINT, IncidentWriter
from bridge_lambda.kube import eks_api_client
from incident_operator.cli import main as cli

from incident_operator.scenarios.notifications import notification_record

from local_stack.aws import AlarmPipe, cloudwatch_message

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture
def writer(kube, ns):
    cfg = BridgeConfig(namespace=ns, severity_by_alarm={"netaiops-node-cpu-high": "critical"})
    return IncidentWriter(client.ApiClient(), cfg)


def pod_alarm(aws, topic: str, name: str, ns: str, pod: str = "api", threshold: float = 80) -> None:
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=name, Namespace="ContainerInsights", MetricName="pod_cpu_utilization", Statistic="Average",
        Dimensions=[{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": ns},
                    {"Name": "PodName", "Value": pod}],
        Period=60, EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic], OKActions=[topic])


def listed(kube, ns) -> list[dict]:
    return kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]


def test_alarms_setup_creates_the_three_alarms_idempotently(aws, capsys):
    args = ["alarms", "setup", "--cluster", "demo", "--create-topic", "incident-alarms",
            "--endpoint-url", aws.endpoint, "--region", "ap-northeast-2"]
    assert cli(args) == 0 and cli(args) == 0
    topic = json.loads(capsys.readouterr().out.split("\n}\n")[0] + "}")["topicArn"]
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
              if a["AlarmName"].startswith("netaiops-")}
    assert set(alarms) == {"netaiops-cpu-spike", "netaiops-pod-restarts", "netaiops-node-cpu-high"}
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms.values())
    # the query shapes and thresholds: tests/test_real_alarms.py
    assert all(len(a["Metrics"]) == 1 and "'demo'" in a["Metrics"][0]["Expression"] for a in alarms.values())


def test_alarm_state_change_becomes_one_incident_with_the_alarm_in_its_spec(aws, kube, ns, writer):
    topic = aws.client("sns").create_topic(Name=f"t-{ns}")["TopicArn"]
    pod_alarm(aws, topic, f"cpu-{ns}", ns)
    cw = aws.client("cloudwatch")
    now = datetime.now(timezone.utc)
    cw.put_metric_data(Namespace="ContainerInsights", MetricData=[
        {"MetricName": "pod_cpu_utilization", "Timestamp": now - timedelta(minutes=i), "Value": v,
         "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": ns}, {"Name": "PodName", "Value": "api"}]}
        for i, v in enumerate([97.0, 95.5, 91.0, 40.0])])
    pipe = AlarmPipe(aws, topic)
    pipe.fire(f"cpu-{ns}", "ALARM", "Threshold Crossed: 2 out of the last 3 datapoints [97.0, 95.5] were greater than the threshold (80.0).")
    records = pipe.records(1)
    assert records[0]["Sns"]["TopicArn"] == topic and records[0]["EventSource"] == "aws:sns"

    out = handle({"Records": records}, None, writer)
    assert [r["status"] for r in out["results"]] == ["created"]
    [inc] = listed(kube, ns)
    meta, spec = inc["metadata"], inc["spec"]
    assert DNS1123.match(meta["name"]) and len(meta["name"]) <= 63 and meta["name"].startswith(f"cpu-{ns}-")
    assert meta["labels"][LABEL_FINGERPRINT] and meta["annotations"][ANN_OCCURRENCES] == "1"
    assert spec["source"] == "alarm" and spec["severity"] == "high"
    alarm = spec["alarm"]
    assert alarm["name"] == f"cpu-{ns}" and alarm["state"] == "ALARM" and alarm["previousState"] == "OK"
    assert alarm["threshold"] == 80 and alarm["metric"]["name"] == "pod_cpu_utilization"
    assert alarm["metric"]["comparisonOperator"] == "GreaterThanThreshold" and alarm["metric"]["period"] == 60
    assert alarm["dimensions"] == {"ClusterName": "demo", "Namespace": ns, "PodName": "api"}
    assert alarm["arn"].endswith(f":alarm:cpu-{ns}") and alarm["region"] == "ap-northeast-2"
    assert json.loads(alarm["raw"])["Trigger"]["Threshold"] == 80
    assert spec["target"] == {"namespace": ns, "cluster": "demo", "pod": "api"}

    # the same SNS message delivered again changes nothing
    again = handle({"Records": records}, None, writer)
    assert [r["status"] for r in again["results"]] == ["duplicate"]
    assert listed(kube, ns)[0]["metadata"]["annotations"][ANN_OCCURRENCES] == "1"


def test_severity_comes_from_configuration(aws, kube, ns, writer):
    alarm = {"AlarmName": "netaiops-node-cpu-high", "AlarmArn": "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:netaiops-node-cpu-high",
             "MetricName": "node_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
             "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "NodeName", "Value": "ip-10-0-1-5"}],
             "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 85}
    rec = notification_record(cloudwatch_message(alarm, "OK", "ALARM", "x"))
    handle({"Records": [rec]}, None, writer)
    [inc] = listed(kube, ns)
    assert inc["spec"]["severity"] == "critical"
    assert inc["spec"]["target"] == {"cluster": "demo", "node": "ip-10-0-1-5", "kind": "Node", "name": "ip-10-0-1-5"}


def _synthetic(alarm_no: int, state: str = "ALARM", message_id: str | None = None) -> dict:
    name = f"storm-{alarm_no:02d}"
    alarm = {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}",
             "MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
             "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": "shop"},
                            {"Name": "PodName", "Value": f"svc-{alarm_no}"}],
             "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80}
    return notification_record(cloudwatch_message(alarm, "OK" if state == "ALARM" else "ALARM", state, "storm"),
                               message_id=message_id)


def test_storm_of_500_notifications_for_20_alarms_yields_20_incidents(kube, ns, writer):
    records = [_synthetic(i % 20) for i in range(500)]
    records += random.Random(7).sample(records, 40)  # SNS redelivers some of them
    random.Random(8).shuffle(records)
    batches = [records[i:i + 3] for i in range(0, len(records), 3)]
    with ThreadPoolExecutor(max_workers=12) as pool:  # concurrent Lambda invocations
        results = [r for out in pool.map(lambda b: handle({"Records": b}, None, writer), batches) for r in out["results"]]
    statuses = [r["status"] for r in results]
    assert statuses.count("created") == 20 and set(statuses) <= {"created", "bumped", "duplicate", "stale"}
    assert statuses.count("duplicate") + statuses.count("stale") >= 40  # every redelivery is recognised
    items = listed(kube, ns)
    assert len(items) == 20
    # occurrences count the newer notifications applied in order; overtaken ones are stale, not counted twice
    assert all(1 <= int(i["metadata"]["annotations"][ANN_OCCURRENCES]) <= 25 for i in items)
    assert sum(int(i["metadata"]["annotations"][ANN_OCCURRENCES]) for i in items) == 20 + statuses.count("bumped")


def test_ok_marks_the_open_incident_recovered_and_a_new_alarm_opens_a_new_one(kube, ns, writer):
    first = handle({"Records": [_synthetic(1)]}, None, writer)["results"][0]
    ok = _synthetic(1, "OK")
    assert handle({"Records": [ok]}, None, writer)["results"][0] == {
        "messageId": ok["Sns"]["MessageId"], "alarm": "storm-01", "state": "OK", "status": "recovered",
        "incident": first["incident"], "occurrences": None}
    assert handle({"Records": [ok]}, None, writer)["results"][0]["status"] == "duplicate"  # redelivered
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", first["incident"])
    assert inc["spec"]["recovery"]["reason"] == "storm" and inc["spec"]["recovery"]["recoveredAt"]
    second = handle({"Records": [_synthetic(1)]}, None, writer)["results"][0]
    assert second["status"] == "created" and second["incident"] != first["incident"]


def test_insufficient_data_is_logged_and_creates_nothing(kube, ns, writer, caplog):
    caplog.set_level(logging.INFO, "incident_bridge")
    out = handle({"Records": [_synthetic(3, "INSUFFICIENT_DATA")]}, None, writer)
    assert out["results"][0]["status"] == "ignored" and listed(kube, ns) == []
    assert "alarm.insufficient_data" in caplog.text


def test_malformed_records_get_clear_errors_and_good_ones_still_land(kube, ns, writer, caplog):
    good = _synthetic(4)
    broken_fields = _synthetic(5)
    msg = json.loads(broken_fields["Sns"]["Message"])
    del msg["StateChangeTime"]
    broken_fields["Sns"]["Message"] = json.dumps(msg)
    records = [
        {"Sns": {"MessageId": "m1", "Message": "{not json"}},
        {"Sns": {"MessageId": "m2", "Message": json.dumps({"hello": "world"})}},
        broken_fields, good, {"EventSource": "aws:sqs"},
    ]
    out = handle({"Records": records}, None, writer)
    statuses = [r["status"] for r in out["results"]]
    assert statuses == ["invalid", "invalid", "invalid", "created", "invalid"]
    reasons = [r.get("reason", "") for r in out["results"]]
    assert "not JSON" in reasons[0] and "not a CloudWatch alarm" in reasons[1]
    assert "StateChangeTime" in reasons[2] and "not an SNS notification" in reasons[4]
    assert len(listed(kube, ns)) == 1
    assert caplog.text.count("record.invalid") == 4


def test_unreachable_cluster_makes_the_batch_retry_but_invalid_records_do_not(ns):
    conf = client.Configuration()
    conf.host = "https://127.0.0.1:9"
    conf.retries = False
    dead = IncidentWriter(client.ApiClient(conf), BridgeConfig(namespace=ns))
    with pytest.raises(RetryableRecords) as err:
        handle({"Records": [_synthetic(6, message_id="will-retry"), {"Sns": {"MessageId": "bad", "Message": "x"}}]}, None, dead)
    assert "will-retry" in str(err.value) and "bad" not in str(err.value)


def test_eks_token_shape_and_cache(aws, caplog):
    made = []

    def sts():
        made.append(1)
        return aws.client("sts")
    clock = [1000.0]
    tokens = TokenProvider(sts, "prod-cluster", clock=lambda: clock[0])
    token = tokens.token()
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    raw = token[len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    q = parse_qs(urlparse(url).query)
    assert q["Action"] == ["GetCallerIdentity"] and q["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in q["X-Amz-SignedHeaders"][0].split(";")
    assert "prod-cluster" not in url  # the cluster goes in the signed header, not the query
    assert urlparse(url).netloc == urlparse(aws.endpoint).netloc  # signed for the configured STS endpoint
    assert tokens.token() == token and len(made) == 1  # cached
    clock[0] += 13 * 60
    tokens.token()
    assert len(made) == 1
    clock[0] += 60 + 1  # within a minute of the 15-minute expiry: a fresh one
    assert tokens.token().startswith("k8s-aws-v1.") and len(made) == 2
    assert "k8s-aws-v1." not in caplog.text and "prod-cluster" in repr(tokens)


def test_eks_client_takes_endpoint_and_ca_from_describe_cluster(aws):
    eks = aws.client("eks")
    iam_role = "arn:aws:iam::123456789012:role/eks"
    try:
        eks.create_cluster(name="prod", roleArn=iam_role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    except eks.exceptions.ResourceInUseException:
        pass
    described = eks.describe_cluster(name="prod")["cluster"]
    cfg = BridgeConfig(cluster_name="prod", region="ap-northeast-2", sts_endpoint_url=aws.endpoint,
                       eks_endpoint_url=aws.endpoint)
    api = eks_api_client(cfg)
    assert api.configuration.host == described["endpoint"]
    assert open(api.configuration.ssl_ca_cert, "rb").read() == base64.b64decode(described["certificateAuthority"]["data"])
    auth = api.configuration.auth_settings()["BearerToken"]["value"]
    assert auth.startswith("Bearer k8s-aws-v1.")


def test_lambda_zip_runs_with_only_what_it_packs(lambda_zip):
    import subprocess
    import sys
    import zipfile

    from local_stack.lambda_runtime import unzip

    with zipfile.ZipFile(lambda_zip) as z:
        names = z.namelist()
        assert "bridge_lambda/handler.py" in names and not any(n.startswith(("kopf/", "incident_operator/")) for n in names)
    task_root = unzip(lambda_zip)  # extracted once per session (tests/test_bridge_runtime.py runs it in Lambda's runtime)
    # -S: no site-packages, so only the zip's contents (and the stdlib) can be imported
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from bridge_lambda.handler import handle; "
             "print(handle({'Records': [{'Sns': {'MessageId': 'm', 'Message': 'nope'}}]}, None, writer=object())['results'][0]['status'])")
    out = subprocess.run([sys.executable, "-S", "-B", "-c", probe, str(task_root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "invalid"
