"""The product's main path, end to end: the alarms `incident-operator alarms setup` creates, the notification
CloudWatch publishes for them (per contributor of a multi-time-series alarm) through SNS, the bridge, the
operator, to the culprit. And an alarm made by hand with only `ClusterName`, resolved by the suspect search."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from bridge_lambda.config import BridgeConfig
from bridge_lambda.handler import handle
from bridge_lambda.incidents import IncidentWriter
from incident_operator.cli import main as cli

from local_stack import scenarios, workloads
from local_stack.aws import AlarmPipe
from .conftest import OperatorProcess
from local_stack.cluster import wait_for


@pytest.fixture
def incident_ns(make_namespace):
    """The operator's incident namespace, where the bridge writes."""
    return make_namespace("inc")


@pytest.fixture
def stack(aws, incident_ns, kubeconfig, tmp_path, capsys):
    """`alarms setup` against the local AWS endpoint, the SNS → SQS pipe, the operator on the incident namespace."""
    cluster = f"e2e-{uuid.uuid4().hex[:6]}"
    assert cli(["alarms", "setup", "--cluster", cluster, "--create-topic", f"alarms-{cluster}",
                "--endpoint-url", aws.endpoint, "--region", "ap-northeast-2"]) == 0
    setup = json.loads(capsys.readouterr().out)
    op = OperatorProcess(incident_ns, {"KUBECONFIG": kubeconfig, "INCIDENT_INCIDENT_NAMESPACES": incident_ns,
                                       "INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
                                       "INCIDENT_CLUSTER_NAME": cluster, "AWS_ACCESS_KEY_ID": "testing",
                                       "AWS_SECRET_ACCESS_KEY": "testing"}, tmp_path / "operator.log", ["--standalone"])
    yield {"cluster": cluster, "topic": setup["topicArn"], "pipe": AlarmPipe(aws, setup["topicArn"]),
           "writer": IncidentWriter(client.ApiClient(), BridgeConfig(namespace=incident_ns)), "setup": setup, "operator": op}
    op.kill()


def put(aws, metric: str, dims: dict[str, str], values: list[float]) -> None:
    now = datetime.now(timezone.utc)
    aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=[
        {"MetricName": metric, "Timestamp": now - timedelta(minutes=i), "Value": v,
         "Dimensions": [{"Name": k, "Value": x} for k, x in dims.items()]} for i, v in enumerate(values)])


def deliver(stack, alarm: str, contributor: dict | None = None) -> str:
    """The notifications CloudWatch sends (for a contributor of a multi-time-series alarm: its own, and the
    alarm-level one when the alarm's state changes with it) through SNS to the bridge: one Incident."""
    sent = stack["pipe"].fire(alarm, "ALARM", "Threshold Crossed: 3 datapoints were greater than the threshold.", contributor)
    out = handle({"Records": stack["pipe"].records(sent)}, None, stack["writer"])
    [res] = [r for r in out["results"] if r["status"] != "alarm-level"]
    assert res["status"] == "created" and len(out["results"]) == sent, out
    return res["incident"]


def finished(kube, ns: str, name: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (lambda i: i if (i.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed") else None)(
        kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)), timeout, f"{name} finished")


def test_setup_creates_grouped_metrics_insights_alarms(stack, aws):
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms(
        AlarmNames=["netaiops-cpu-spike", "netaiops-pod-restarts", "netaiops-node-cpu-high"])["MetricAlarms"]}
    for name, group in (("netaiops-cpu-spike", "GROUP BY Namespace, PodName"),
                        ("netaiops-pod-restarts", "GROUP BY Namespace, PodName"),
                        ("netaiops-node-cpu-high", "GROUP BY NodeName")):
        [q] = alarms[name]["Metrics"]
        assert q["Expression"].startswith("SELECT") and group in q["Expression"] and q["ReturnData"] is True
        assert f"WHERE ClusterName = '{stack['cluster']}'" in q["Expression"]
        assert not alarms[name].get("Dimensions")  # no ClusterName-only alarm: one contributor per pod / node
    cpu, restarts, node = (alarms[n] for n in ("netaiops-cpu-spike", "netaiops-pod-restarts", "netaiops-node-cpu-high"))
    assert (cpu["Threshold"], cpu["Metrics"][0]["Period"], cpu["EvaluationPeriods"], cpu["DatapointsToAlarm"]) == (80, 60, 3, 2)
    assert (restarts["Threshold"], restarts["Metrics"][0]["Period"], restarts["EvaluationPeriods"]) == (3, 300, 1)
    assert "MAX(pod_number_of_container_restarts)" in restarts["Metrics"][0]["Expression"]
    assert (node["Threshold"], node["Metrics"][0]["Period"]) == (85, 60)


def test_cpu_spike_contributor_leads_to_the_burner(stack, aws, kube, ns, incident_ns):
    scenarios.cpu_burner(kube, ns, "burner")
    put(aws, "pod_cpu_utilization", {"ClusterName": stack["cluster"], "Namespace": ns, "PodName": "burner"}, [97, 99, 98])
    name = deliver(stack, "netaiops-cpu-spike", {"id": "c0ffee0000000001", "attributes": {"Namespace": ns, "PodName": "burner"}})
    inc = finished(kube, incident_ns, name)
    st = inc["status"]
    assert inc["spec"]["alarm"]["contributor"]["attributes"] == {"Namespace": ns, "PodName": "burner"}
    assert st["incidentType"] == "pod-cpu-spike" and st["topCause"] == "cpu-burner: burner", st.get("lastError")
    assert st["target"]["kind"] == "Deployment" and st["target"]["namespace"] == ns
    assert st["phase"] == "Resolved" and st["actions"][0]["state"] == "succeeded"
    wait_for(lambda: not scenarios.pods_of(kube, ns, "burner"), 30, "burner gone")


def test_pod_restarts_contributor_leads_to_the_crash_loop(stack, aws, kube, ns, incident_ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("crashy", replicas=1, fault="crash-loop"))
    scenarios.wait_pod_state(kube, ns, "crashy", "CrashLoopBackOff")
    put(aws, "pod_number_of_container_restarts", {"ClusterName": stack["cluster"], "Namespace": ns, "PodName": "crashy"}, [7, 6, 5])
    name = deliver(stack, "netaiops-pod-restarts", {"id": "c0ffee0000000002", "attributes": {"Namespace": ns, "PodName": "crashy"}})
    st = finished(kube, incident_ns, name)["status"]
    assert st["incidentType"] == "pod-restarts" and st["topCause"] == "crash-loop: crashy", st.get("lastError")
    assert st["phase"] == "NeedsAction"  # a crash loop has no automatic fix: a person acts


def test_node_cpu_contributor_finds_the_burner_on_that_node(stack, aws, kube, ns, incident_ns):
    scenarios.cpu_burner(kube, ns, "hog")
    node = scenarios.pods_of(kube, ns, "hog")[0].spec.node_name
    name = deliver(stack, "netaiops-node-cpu-high", {"id": "c0ffee0000000003", "attributes": {"NodeName": node}})
    st = finished(kube, incident_ns, name)["status"]
    assert st["incidentType"] == "node-cpu-high" and st["target"]["kind"] == "Node" and st["target"]["name"] == node
    assert st["topCause"].startswith("cpu-burner: "), st.get("lastError")
    assert f"Deployment/{ns}/hog" in [c.get("resource") for c in st["causes"] if c["kind"] == "cpu-burner"]


def test_a_cluster_name_only_alarm_made_by_hand_still_finds_the_culprit(stack, aws, kube, ns, incident_ns):
    """The alarm names no pod: the suspect search (Metrics Insights top pods, unhealthy scan) does."""
    scenarios.cpu_burner(kube, ns, "miner")
    scenarios.apply_deployment(kube, ns, workloads.deployment("web", replicas=1))
    cluster = stack["cluster"]
    put(aws, "pod_cpu_utilization", {"ClusterName": cluster, "Namespace": ns, "PodName": "miner"}, [99, 98, 97])
    put(aws, "pod_cpu_utilization", {"ClusterName": cluster, "Namespace": ns, "PodName": "web"}, [12, 9, 11])
    cw = aws.client("cloudwatch")
    cw.put_metric_alarm(AlarmName=f"hand-made-{cluster}", Namespace="ContainerInsights", MetricName="pod_cpu_utilization",
                        Dimensions=[{"Name": "ClusterName", "Value": cluster}], Statistic="Average", Period=60,
                        EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=80, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[stack["topic"]], OKActions=[stack["topic"]])
    name = deliver(stack, f"hand-made-{cluster}")
    st = finished(kube, incident_ns, name)["status"]
    assert st["topCause"] == "cpu-burner: miner", (st.get("lastError"), st.get("affected"))
    first = st["affected"][0]
    assert first["kind"] == "Deployment" and first["name"] == "miner" and "pod_cpu_utilization 상위" in first["reason"]
    assert any(q.startswith("SELECT AVG(pod_cpu_utilization)") and f"'{cluster}'" in q for q in aws.insights.queries)


def test_an_unknown_notification_shape_is_invalid_with_its_alarm_name(kube, ns, caplog):
    import logging
    from incident_operator.scenarios.notifications import notification_record
    caplog.set_level(logging.INFO, "incident_bridge")
    weird = json.dumps({"AlarmName": "composite-thing", "NewStateValue": "ALARM", "OldStateValue": "OK",
                        "StateChangeTime": "2026-11-25T01:00:00.000+0000", "Trigger": {"Rule": "ALARM(a) OR ALARM(b)"}})
    good = json.dumps({"AlarmName": "fine", "NewStateValue": "ALARM", "StateChangeTime": "2026-11-25T01:00:00.000+0000",
                       "AlarmArn": "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:fine",
                       "Trigger": {"MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights",
                                   "Dimensions": [{"name": "Namespace", "value": ns}], "Threshold": 80}})
    writer = IncidentWriter(client.ApiClient(), BridgeConfig(namespace=ns))
    out = handle({"Records": [notification_record(weird), notification_record(good)]}, None, writer)
    assert [r["status"] for r in out["results"]] == ["invalid", "created"]
    assert "unknown notification shape" in out["results"][0]["reason"]
    line = next(l for l in caplog.text.splitlines() if "record.invalid" in l)
    assert '"alarm": "composite-thing"' in line


def test_a_hanging_cloudwatch_does_not_hold_the_suspect_search(kube, ns):
    """Nothing external blocks analysis: each search has the source timeout, and the others still answer."""
    import time

    from incident_operator.models.evidence import TimeWindow
    from incident_operator.models.spec import Alarm
    from incident_operator.settings import Settings
    from incident_operator.suspects import find
    from incident_operator.tools import ToolDeps

    from local_stack.http_stub import StubServer

    hanging = StubServer()
    hanging.fault("POST", ".*", status=0, delay=20, times=10)
    try:
        scenarios.apply_deployment(kube, ns, workloads.deployment("crashy", replicas=1, fault="crash-loop"))
        scenarios.wait_pod_state(kube, ns, "crashy", "CrashLoopBackOff")
        deps = ToolDeps(settings=Settings(aws_endpoint_url=hanging.url, aws_region="ap-northeast-2", source_timeout_seconds=1),
                        kube=kube)
        alarm = Alarm(name="hand-made", metric={"name": "pod_cpu_utilization"}, threshold=80,
                      query="SELECT AVG(pod_cpu_utilization) FROM SCHEMA(ContainerInsights, ClusterName, Namespace, PodName)")
        now = datetime.now(timezone.utc)
        started = time.monotonic()
        found, failed = find(deps, alarm, "demo", TimeWindow(start=now - timedelta(minutes=30), end=now, anchor=now), 5, ns)
        assert time.monotonic() - started < 5
        assert sorted(f.split(":")[0] for f in failed) == ["contributors", "metrics"]
        assert [s.name for s in found][:1] and found[0].name.startswith("crashy")  # the unhealthy scan still answered
    finally:
        hanging.stop()
