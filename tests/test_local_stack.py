"""The local stack's own parts, as pure functions: alarm evaluation, Container Insights formulas, images."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime, timedelta, timezone

import pytest

from local_stack import images
from local_stack.alarm_evaluator import evaluate
from local_stack.container_insights import Rates, instance_id, node_metrics, workload_name

T0 = datetime(2026, 12, 6, 21, 0, tzinfo=timezone.utc)


def pts(*values):
    return [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


# -------------------------------------------------------------- alarm evaluation (AWS "Evaluating an alarm")

def test_m_out_of_n_breaching_is_alarm_with_cloudwatchs_wording():
    v = evaluate(pts(10.0, 92.1, 88.0), 80, "GreaterThanThreshold", 3, 2, "notBreaching", "OK")
    assert v.state == "ALARM"
    assert v.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [")
    assert "were greater than the threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition)." in v.reason
    assert "88.0 (06/12/26 21:02:00)" in v.reason  # newest first, CloudWatch's dd/mm/yy stamp


def test_fewer_breaching_than_datapoints_to_alarm_is_ok():
    v = evaluate(pts(10.0, 92.1, 20.0), 80, "GreaterThanThreshold", 3, 2, "notBreaching", "ALARM")
    assert v.state == "OK" and "not greater than" in v.reason


@pytest.mark.parametrize("treat,current,expected", [
    ("missing", "OK", "INSUFFICIENT_DATA"),   # all missing: insufficient data (the default treatment)
    ("ignore", "ALARM", "ALARM"),             # the current state is kept
    ("notBreaching", "ALARM", "OK"),          # missing counts as good
    ("breaching", "OK", "ALARM"),             # missing counts as bad
])
def test_missing_data_treatments(treat, current, expected):
    assert evaluate(pts(None, None, None), 80, "GreaterThanThreshold", 3, 2, treat, current).state == expected


def test_less_than_operators_and_single_datapoint():
    v = evaluate(pts(5.0), 10, "LessThanThreshold", 1, 1, "missing", "OK")
    assert v.state == "ALARM" and "1 out of the last 1 datapoints" in v.reason and "was less than" in v.reason


# -------------------------------------------------------------- Container Insights formulas and dimension sets

NODE = {"metadata": {"name": "real-node"}, "status": {"capacity": {"cpu": "2", "memory": "4Gi"}}}
POD = {"metadata": {"name": "api-7d4b9c-x2x", "namespace": "shop", "labels": {"app": "api", "pod-template-hash": "7d4b9c"},
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d4b9c"}]},
       "spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}]},
       "status": {"phase": "Running", "containerStatuses": [{"restartCount": 4, "state": {"running": {}}}]}}
SUMMARY = {"node": {"cpu": {"usageNanoCores": 1_500_000_000}, "memory": {"workingSetBytes": 2 * 2**30},
                    "fs": {"usedBytes": 25, "capacityBytes": 100}},
           "pods": [{"podRef": {"name": "api-7d4b9c-x2x", "namespace": "shop"},
                     "containers": [{"name": "a", "cpu": {"usageNanoCores": 400_000_000}, "memory": {"workingSetBytes": 128 * 2**20}}]}]}


def by(data, name):
    return {tuple(sorted(d.dimensions)): d.value for d in data if d.name == name}


def test_formulas_and_dimension_sets_follow_the_container_insights_docs():
    svc = [{"metadata": {"name": "api", "namespace": "shop"}, "spec": {"selector": {"app": "api"}}}]
    data = node_metrics("prod", NODE, SUMMARY, [POD], svc, Rates(), 0.0)
    node_cpu = by(data, "node_cpu_utilization")
    assert node_cpu == {("ClusterName", "InstanceId", "NodeName"): 75.0, ("ClusterName",): 75.0}  # 1.5 of 2 cores
    cpu = by(data, "pod_cpu_utilization")
    assert cpu[("ClusterName", "Namespace", "PodName")] == 20.0                 # 400m / node_cpu_limit 2000m
    assert set(cpu) == {("ClusterName", "Namespace", "PodName"), ("ClusterName", "Namespace"),
                        ("ClusterName", "Namespace", "Service"), ("ClusterName",)}
    assert by(data, "pod_cpu_utilization_over_pod_limit")[("ClusterName", "Namespace", "PodName")] == 80.0  # 400m / 500m
    assert by(data, "pod_memory_utilization_over_pod_limit")[("ClusterName", "Namespace", "PodName")] == 50.0
    assert by(data, "pod_number_of_container_restarts") == {("ClusterName", "Namespace", "PodName"): 4.0}
    pod_dims = next(d.dimensions for d in data if d.name == "pod_cpu_utilization" and "PodName" in d.dimensions)
    assert pod_dims == {"ClusterName": "prod", "Namespace": "shop", "PodName": "api"}  # the workload, not the pod
    node_dims = next(d.dimensions for d in data if d.name == "node_cpu_utilization" and "NodeName" in d.dimensions)
    assert node_dims["InstanceId"] == instance_id("real-node") and node_dims["InstanceId"].startswith("i-0")


def test_over_limit_is_absent_when_a_container_has_no_limit():
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"].append({"name": "b"})
    data = node_metrics("prod", NODE, SUMMARY, [pod], [], Rates(), 0.0)
    assert by(data, "pod_cpu_utilization_over_pod_limit") == {}
    assert by(data, "pod_cpu_utilization")


def test_network_is_a_rate_between_ticks():
    rates = Rates()
    s1 = {**SUMMARY, "node": {**SUMMARY["node"], "network": {"rxBytes": 1000, "txBytes": 0}}}
    s2 = {**SUMMARY, "node": {**SUMMARY["node"], "network": {"rxBytes": 6000, "txBytes": 1000}}}
    assert by(node_metrics("c", NODE, s1, [], [], rates, 0.0), "node_network_total_bytes") == {}
    assert by(node_metrics("c", NODE, s2, [], [], rates, 10.0), "node_network_total_bytes")[("ClusterName",)] == 600.0


@pytest.mark.parametrize("pod,name", [
    (POD, "api"),
    ({"metadata": {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db"}]}}, "db"),
    ({"metadata": {"name": "lonely"}}, "lonely"),
])
def test_pod_name_dimension_is_the_workload(pod, name):
    assert workload_name(pod) == name


# -------------------------------------------------------------- images

def test_images_are_reproducible_oci_layouts_named_for_the_cri(tmp_path):
    img = images.Image("tiny:1", files={"/hello": b"hi\n"}, entrypoint=["/hello"])
    a, b = images.oci_archive(img), images.oci_archive(img)
    assert a == b
    with tarfile.open(fileobj=io.BytesIO(a)) as tar:
        index = json.loads(tar.extractfile("index.json").read())
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        names = tar.getnames()
    ann = index["manifests"][0]["annotations"]
    assert ann["io.containerd.image.name"] == "docker.io/local/tiny:1"
    assert all(n.startswith("blobs/sha256/") or n in ("index.json", "oci-layout") for n in names)


# -------------------------------------------------------------- the evaluator against the local CloudWatch

def test_evaluator_fires_a_contributor_and_the_alarm_then_returns_to_ok(aws):
    """Datapoints in the local CloudWatch → the seed's Metrics Insights alarm → one contributor in ALARM
    (its own notification, naming the pod) and the alarm-level one; no data afterwards (notBreaching) → OK."""
    from incident_operator.alarms import setup
    from local_stack.alarm_evaluator import Evaluator
    from local_stack.loop import fast_alarms

    # the session's local AWS endpoint (moto keeps one state per process)
    cw, sns, sqs = aws.client("cloudwatch"), aws.client("sns"), aws.client("sqs")
    alarms = fast_alarms(period=10, cpu_threshold=40)
    topic = setup(cw, sns, "c1", None, "t", alarms)["topicArn"]
    queue = sqs.create_queue(QueueName="evaluator-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    now = datetime.now(timezone.utc)
    base = datetime.fromtimestamp(int(now.timestamp()) // 10 * 10, timezone.utc)
    dims = [{"Name": "ClusterName", "Value": "c1"}, {"Name": "Namespace", "Value": "demo"}, {"Name": "PodName", "Value": "burner"}]
    for i, value in ((1, 55.0), (2, 61.0), (3, 12.0)):
        cw.put_metric_data(Namespace="ContainerInsights", MetricData=[{
            "MetricName": "pod_cpu_utilization", "Value": value, "Unit": "Percent", "Dimensions": dims,
            "Timestamp": base - timedelta(seconds=10 * i) + timedelta(seconds=2)}])
    clock = [base + timedelta(seconds=1)]
    ev = Evaluator(cw, sns, now=lambda: clock[0], alarm_names=["netaiops-cpu-spike"])
    ev.tick()
    assert [(h["new"], h["contributor"]) for h in ev.history] == [
        ("ALARM", {"Namespace": "demo", "PodName": "burner"}), ("ALARM", None)]
    assert "2 out of the last 3 datapoints" in ev.history[0]["reason"]
    assert cw.describe_alarms(AlarmNames=["netaiops-cpu-spike"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in
              sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bool(b.get("AlarmContributorId")) for b in bodies) == [False, True]
    contributor = next(b for b in bodies if b.get("AlarmContributorId"))
    assert contributor["AlarmContributorAttributes"] == {"Namespace": "demo", "PodName": "burner"}
    assert contributor["NewStateValue"] == "ALARM"
    clock[0] = base + timedelta(seconds=41)   # three periods later, nothing reported: notBreaching
    ev.tick()
    assert [(h["old"], h["new"]) for h in ev.history[2:]] == [("ALARM", "OK"), ("ALARM", "OK")]
    assert cw.describe_alarms(AlarmNames=["netaiops-cpu-spike"])["MetricAlarms"][0]["StateValue"] == "OK"


def test_a_container_without_a_cpu_rate_yet_gets_no_cpu_datapoint():
    """A container started since cAdvisor's last sample has no usageNanoCores: no CPU datapoint that tick (a 0
    would drag the minute's average under what the container really burns), memory still published."""
    fresh = json.loads(json.dumps(SUMMARY))
    del fresh["pods"][0]["containers"][0]["cpu"]["usageNanoCores"]
    data = node_metrics("prod", NODE, fresh, [POD], [], Rates(), 0.0)
    assert by(data, "pod_cpu_utilization") == {} and by(data, "pod_cpu_utilization_over_pod_limit") == {}
    assert by(data, "pod_memory_utilization_over_pod_limit")[("ClusterName", "Namespace", "PodName")] == 50.0


def test_forgetting_a_finished_runs_metrics_keeps_every_other_cluster(aws):
    """Modules whose agents publish the real node's metrics drop them when they end (moto scans all it holds on
    each read: late in a session the operator's metric reads timed out)."""
    from datetime import datetime, timezone
    cw, now = aws.client("cloudwatch"), datetime.now(timezone.utc)
    for cluster in ("forget-keep", "forget-drop"):
        cw.put_metric_data(Namespace="ContainerInsights", MetricData=[
            {"MetricName": "pod_cpu_utilization", "Dimensions": [{"Name": "ClusterName", "Value": cluster}],
             "Timestamp": now, "Value": 1.0}] * 3)
    assert aws.forget_metrics("forget-drop") == 3
    names = {d["Value"] for m in cw.list_metrics(Namespace="ContainerInsights")["Metrics"] for d in m["Dimensions"]}
    assert "forget-keep" in names and "forget-drop" not in names
