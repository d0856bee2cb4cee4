"""The product against AWS's documented shapes (tests/fixtures/aws/, each naming its source; docs/aws-contracts.md),
not against our stand-ins: Metrics Insights labels with ORDER BY ranks and `Other`, DescribeAlarmContributors,
the dimension sets Container Insights publishes, and the SNS notifications of single-metric, metric-math and
Metrics Insights multi-time-series alarms. The stand-ins (local_stack/aws.py) are checked to answer in the same
shapes, so the other tests that use them stay honest."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bridge_lambda.alarm import parse_message
from incident_operator.models.evidence import TimeWindow
from incident_operator.models.spec import Alarm
from incident_operator.settings import Settings
from incident_operator.suspects import contributor_suspects, insights_query, metric_suspects, parse_group_label
from incident_operator.tools import ToolDeps, default_registry

FIXTURES = Path(__file__).parent / "fixtures" / "aws"
REG = default_registry()


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert data["_source"], f"{name} names no source"
    return data


def _times(obj: Any) -> Any:
    """ISO strings in a documented response, as the datetimes botocore's parser would hand back."""
    if isinstance(obj, dict):
        return {k: (datetime.fromisoformat(v.replace("Z", "+00:00")) if k in ("StateTransitionedTimestamp", "StateUpdatedTimestamp") else
                    [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in v] if k == "Timestamps" else _times(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_times(x) for x in obj]
    return obj


def stubbed(operation: str, response: dict[str, Any]):
    """A real boto3 CloudWatch client answering `operation` with `response`; botocore's Stubber checks the
    response against the service model, so the fixture has to be a valid answer of that API."""
    cw = boto3.client("cloudwatch", region_name="ap-northeast-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response(operation, _times(response))
    stub.activate()
    return cw, stub


def window(minutes: int = 30) -> TimeWindow:
    now = datetime.now(timezone.utc)
    return TimeWindow(start=now - timedelta(minutes=minutes), end=now, anchor=now)


CPU_ALARM = Alarm(name="netaiops-cpu-spike", metric={"name": "pod_cpu_utilization", "period": 60}, threshold=80,
                  query=insights_query("pod_cpu_utilization", "demo", 5))


# --- GetMetricData: Metrics Insights GROUP BY + ORDER BY labels --------------------------------------

def test_rank_prefixed_labels_name_pods_and_other_names_none():
    """Documented: with ORDER BY each series is labelled "N - <GROUP BY values>"; a missing key reads Other.
    Before: "1 - shop api" was split into namespace "1", pod "-"; "2 - shop Other" became pod "-" too."""
    gmd = fixture("get-metric-data-insights-group-by.json")
    cw, stub = stubbed("get_metric_data", gmd["response"])
    found = metric_suspects(cw, CPU_ALARM, "demo", window(), limit=5)
    stub.assert_no_pending_responses()
    assert [(s.namespace, s.name) for s in found] == [("shop", "api"), ("shop", "web"), ("kube-system", "coredns")]
    assert found[0].score == 97.3 and found[0].kind == "Pod"


@pytest.mark.parametrize("label,keys,want", [
    ("1 - shop api", ["Namespace", "PodName"], {"Namespace": "shop", "PodName": "api"}),
    ("12 - ip-10-0-1-5.ap-northeast-2.compute.internal", ["NodeName"],
     {"NodeName": "ip-10-0-1-5.ap-northeast-2.compute.internal"}),
    ("shop api", ["Namespace", "PodName"], {"Namespace": "shop", "PodName": "api"}),  # no ORDER BY: no rank
    ("2 - shop Other", ["Namespace", "PodName"], None),
    ("4 - Other Other", ["Namespace", "PodName"], None),
    ("3 - Other", ["NodeName"], None),
    ("1 - shop", ["Namespace", "PodName"], None),  # not one value per key: not guessed at
    ("", ["NodeName"], None),
])
def test_group_label_parsing(label, keys, want):
    assert parse_group_label(label, keys) == want


def test_stand_in_labels_series_like_cloudwatch(aws):
    """The stand-in answers the documented query the way the fixture shows: ranks, GROUP BY order, Other for
    the aggregate sets Container Insights publishes; and SCHEMA keeps only the exact set (no Other)."""
    sets = fixture("container-insights-dimension-sets.json")["pod"]["pod_cpu_utilization"]
    cluster = "demo-labels"
    values = {"api": 97.0, "web": 60.0}
    data = []
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for dims_keys in sets:
        for pod, v in values.items():
            dims = {"ClusterName": cluster, "Namespace": "shop", "PodName": pod, "Service": "shop-svc",
                    "FullPodName": f"{pod}-5d9c7b-x2x7q"}
            data.append({"MetricName": "pod_cpu_utilization", "Timestamp": now - timedelta(minutes=2), "Value": v,
                         "Dimensions": [{"Name": k, "Value": dims[k]} for k in dims_keys]})
    aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=data)
    cw = aws.client("cloudwatch")
    query = fixture("get-metric-data-insights-group-by.json")["request"]["MetricDataQueries"][0]["Expression"]
    res = cw.get_metric_data(MetricDataQueries=[{"Id": "q1", "Period": 60, "Expression": query.replace("'demo'", f"'{cluster}'")}],
                             StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1))
    labels = [r["Label"] for r in res["MetricDataResults"]]
    assert all(re.match(r"^\d+ - \S+ \S+$", label) for label in labels), labels
    assert [int(label.split(" - ")[0]) for label in labels] == list(range(1, len(labels) + 1))
    assert {label.split(" - ", 1)[1] for label in labels} == {"shop api", "shop web", "shop Other", "Other Other"}
    assert labels[0] == "1 - shop api"
    # the product's own query (SCHEMA) through the stand-in: the pods, ranked, never an Other
    found = metric_suspects(cw, Alarm(name="a", metric={"name": "pod_cpu_utilization"}, threshold=80,
                                      query=insights_query("pod_cpu_utilization", cluster, 5)), cluster, window(), 5)
    assert [(s.namespace, s.name) for s in found] == [("shop", "api"), ("shop", "web")]
    assert any(q.startswith("SELECT AVG(pod_cpu_utilization) FROM SCHEMA(") for q in aws.insights.queries)


# --- DescribeAlarmContributors -----------------------------------------------------------------------

def test_contributor_search_with_the_documented_response():
    dac = fixture("describe-alarm-contributors.json")
    cw, stub = stubbed("describe_alarm_contributors", dac["response"])
    found = contributor_suspects(cw, CPU_ALARM, limit=5)
    stub.assert_no_pending_responses()
    assert [(s.kind, s.namespace, s.name) for s in found] == [("Pod", "shop", "api"), ("Pod", "shop", "web")]
    assert "6d442278dba546f6" in found[0].reason and "Threshold Crossed" in found[0].reason


def test_contributor_search_keeps_to_the_tenants_namespace():
    dac = fixture("describe-alarm-contributors.json")
    dac["response"]["AlarmContributors"][1]["ContributorAttributes"]["Namespace"] = "other-team"
    cw, _ = stubbed("describe_alarm_contributors", dac["response"])
    assert [s.name for s in contributor_suspects(cw, CPU_ALARM, limit=5, namespace="shop")] == ["api"]


# --- DescribeAlarms: the alarm's state at the effectiveness check -------------------------------------

def test_alarm_state_read_from_the_documented_describe_alarms_response():
    """Documented (API_DescribeAlarms, API_MetricAlarm): MetricAlarms[] of {AlarmName, AlarmArn, StateValue,
    StateReason, StateUpdatedTimestamp, ...}. One call, AlarmNames=[the name], MaxRecords=1 (the Stubber checks the
    request too), through the operator's own CloudWatch client."""
    from incident_operator.tools.cloudwatch import alarm_now, describe_alarm
    da = fixture("describe-alarms.json")
    cw = boto3.client("cloudwatch", region_name="ap-northeast-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response("describe_alarms", _times(da["response"]), da["request"])
    stub.activate()
    deps = ToolDeps(Settings(aws_region="ap-northeast-2"))
    deps._clients["cloudwatch"] = cw  # the client _cloudwatch(deps) would have built, answering from the fixture
    documented = da["response"]["MetricAlarms"][0]
    now = describe_alarm(deps, "netaiops-cpu-spike", arn=documented["AlarmArn"])
    stub.assert_no_pending_responses()
    assert now.state == "ALARM" and now.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    assert now.updated == datetime(2026, 12, 1, 13, 42, 4, 919000, tzinfo=timezone.utc) and not now.problem
    # an alarm of that name but another ARN (another account's, re-created) is not the one that fired
    other = alarm_now(_times(da["response"]), "netaiops-cpu-spike", arn=documented["AlarmArn"].replace("123456789012", "210987654321"))
    assert other.state is None and "다른 알람" in other.problem
    assert alarm_now({"MetricAlarms": []}, "netaiops-cpu-spike").problem  # deleted since: it cannot confirm
    # an alarm of another region is not asked about in ours (where it would not be found): said, no call made
    away = describe_alarm(deps, "netaiops-cpu-spike", region="us-west-2")
    assert away.state is None and "다른 리전(us-west-2)" in away.problem


# --- Container Insights dimension sets: the node metrics tool ----------------------------------------

def _publish(aws, metric: str, sets: list[list[str]], dims: dict[str, str], values: list[float]) -> None:
    """PutMetricData as Container Insights does: the same datum once per documented dimension set."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=[
        {"MetricName": metric, "Timestamp": now - timedelta(minutes=len(values) - i), "Value": v, "Unit": "Percent",
         "Dimensions": [{"Name": k, "Value": dims[k]} for k in keys]}
        for keys in sets for i, v in enumerate(values)])


def test_node_metrics_read_the_sets_container_insights_publishes(aws):
    """Node metrics exist as {ClusterName, InstanceId, NodeName} and {ClusterName}; the tool is given a node name
    only. Before: it asked for {ClusterName, NodeName}, a set never published, and CloudWatch answered nothing."""
    sets = fixture("container-insights-dimension-sets.json")["node"]
    node = "ip-10-0-1-5.ap-northeast-2.compute.internal"
    dims = {"ClusterName": "demo-nodes", "InstanceId": "i-0a1b2c3d4e5f67890", "NodeName": node}
    _publish(aws, "node_cpu_utilization", sets["node_cpu_utilization"], dims, [70, 90, 95, 96])
    _publish(aws, "node_memory_utilization", sets["node_memory_utilization"], dims, [40, 41, 42])
    # another node of the cluster, and the cluster-wide set, must not leak into this node's series
    _publish(aws, "node_cpu_utilization", sets["node_cpu_utilization"],
             dims | {"InstanceId": "i-0ffffffffffffffff", "NodeName": "ip-10-0-9-9.ap-northeast-2.compute.internal"}, [5, 5, 5, 5])
    deps = ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url=aws.endpoint, cluster_name="demo-nodes"))
    res = REG.call("container-insight-node-metrics", {"node_name": node, "window_minutes": 30}, deps)
    assert res.outcome == "ok", res.error
    by = {m["metric"]: m for m in res.data["metrics"]}
    assert (by["node_cpu_utilization"]["count"], by["node_cpu_utilization"]["max"], by["node_cpu_utilization"]["min"]) == (4, 96, 70)
    assert by["node_memory_utilization"]["last"] == 42 and by["node_filesystem_utilization"]["trend"] == "no-data"
    assert res.data["dimensions"] == {"ClusterName": "demo-nodes", "NodeName": node}
    # the cluster overview reads the {ClusterName} set of the same metric: both nodes, averaged per minute
    overview = REG.call("container-insight-cluster-overview", {"window_minutes": 30}, deps)
    cpu = next(m for m in overview.data["metrics"] if m["metric"] == "node_cpu_utilization")
    assert (cpu["count"], cpu["min"], cpu["max"]) == (4, 37.5, 50.5)


def test_node_name_reused_by_a_new_instance_reads_both(aws):
    sets = fixture("container-insights-dimension-sets.json")["node"]["node_cpu_utilization"]
    node = "ip-10-0-1-6.ap-northeast-2.compute.internal"
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for minutes, instance, value in ((8, "i-0old0000000000000", 30.0), (3, "i-0new0000000000000", 99.0)):
        aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=[
            {"MetricName": "node_cpu_utilization", "Timestamp": now - timedelta(minutes=minutes), "Value": value,
             "Dimensions": [{"Name": k, "Value": {"ClusterName": "demo-reuse", "InstanceId": instance, "NodeName": node}[k]}
                            for k in keys]} for keys in sets])
    deps = ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url=aws.endpoint, cluster_name="demo-reuse"))
    res = REG.call("container-insight-node-metrics", {"node_name": node}, deps)
    cpu = next(m for m in res.data["metrics"] if m["metric"] == "node_cpu_utilization")
    assert (cpu["count"], cpu["min"], cpu["last"]) == (2, 30, 99)


def test_node_metrics_refuse_a_node_name_that_is_not_one(aws):
    deps = ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url=aws.endpoint, cluster_name="demo"))
    res = REG.call("container-insight-node-metrics", {"node_name": "x' OR NodeName != '"}, deps)
    assert res.outcome == "failed" and "node_name" in res.error
    res = REG.call("container-insight-node-metrics", {"node_name": "n1", "cluster_name": "demo' OR ClusterName != '"}, deps)
    assert res.outcome == "failed" and "cluster_name" in res.error


# --- SNS notifications: what the bridge parses -------------------------------------------------------

def test_single_metric_and_metric_math_notifications_parse():
    single = parse_message(fixture("sns-single-metric-alarm.json")["event"]["Records"][0]["Sns"]["Message"])
    assert (single.metric_name, single.dimensions, single.trigger.threshold) == ("NetworkOut", {"InstanceId": "TestInstance"}, 0.0)
    assert not single.is_alarm_level
    math = parse_message(fixture("sns-metric-math-alarm.json")["event"]["Records"][0]["Sns"]["Message"])
    assert (math.metric_name, math.dimensions, math.query) == ("NetworkOut", {"InstanceId": "TestInstance"}, None)
    assert not math.is_alarm_level


def test_metrics_insights_notifications_parse():
    level = parse_message(json.dumps(fixture("sns-metrics-insights-alarm-level.json")["message"]))
    assert level.is_alarm_level and level.dimensions == {"ClusterName": "demo"} and level.metric_name == "pod_cpu_utilization"
    for msg in fixture("sns-metrics-insights-contributors.json")["messages"]:
        c = parse_message(json.dumps(msg))
        assert not c.is_alarm_level and c.contributor_id == msg["AlarmContributorId"]
        assert c.dimensions == {"ClusterName": "demo", "Namespace": "shop", "PodName": msg["AlarmContributorAttributes"]["PodName"]}
        assert c.changed_at == level.changed_at  # one evaluation: the same time at both levels


# --- the multi-time-series alarm through SNS: alarm level and contributors ---------------------------

def _setup_alarms(aws, cluster: str) -> str:
    from incident_operator.alarms import DEFAULT_ALARMS, setup
    return setup(aws.client("cloudwatch"), aws.client("sns"), cluster, None, f"alarms-{cluster}", DEFAULT_ALARMS)["topicArn"]


def test_stand_in_notifies_like_cloudwatch_and_feeds_the_contributor_search(aws):
    """A contributor of the alarm `alarms setup` creates goes to ALARM: SNS carries its own notification and the
    alarm-level one (same time, a count, no contributor); DescribeAlarmContributors then lists it, and the
    suspect search's contributor path finds the pod through boto3. Back to OK: both levels again, list empty."""
    from local_stack.aws import AlarmPipe
    cluster = "demo-pipe"
    pipe = AlarmPipe(aws, _setup_alarms(aws, cluster))
    reason = "Threshold Crossed: 2 datapoints were greater than the threshold (80.0)."
    assert pipe.fire("netaiops-cpu-spike", "ALARM", reason, {"id": "6d442278dba546f6",
                                                             "attributes": {"Namespace": "shop", "PodName": "api"}}) == 2
    raw = [json.loads(r["Sns"]["Message"]) for r in pipe.records(2)]
    # field for field the documented notifications (top level and Trigger)
    want_level = fixture("sns-metrics-insights-alarm-level.json")["message"]
    want_contrib = fixture("sns-metrics-insights-contributors.json")["messages"][0]
    for got in raw:
        want = want_contrib if "AlarmContributorId" in got else want_level
        assert set(got) == set(want) and set(got["Trigger"]) == set(want["Trigger"]), (sorted(got), sorted(want))
        assert set(got["Trigger"]["Metrics"][0]) == set(want["Trigger"]["Metrics"][0])
        for key in ("StateChangeTime", "AlarmConfigurationUpdatedTimestamp"):  # 2026-12-01T13:42:04.919+0000
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$", got[key]), (key, got[key])
    msgs = [parse_message(json.dumps(m)) for m in raw]
    [level] = [m for m in msgs if m.is_alarm_level]
    [contrib] = [m for m in msgs if not m.is_alarm_level]
    assert level.reason == "1 out of 1 time series evaluated to ALARM" and level.dimensions == {"ClusterName": cluster}
    assert contrib.contributor_attributes == {"Namespace": "shop", "PodName": "api"} and contrib.reason == reason
    assert level.changed_at == contrib.changed_at and level.new_state == contrib.new_state == "ALARM"

    alarm = Alarm(name="netaiops-cpu-spike", metric={"name": "pod_cpu_utilization"}, threshold=80, query=level.query)
    found = contributor_suspects(aws.client("cloudwatch"), alarm, limit=5)
    assert [(s.namespace, s.name) for s in found] == [("shop", "api")] and "6d442278dba546f6" in found[0].reason

    # a second contributor: its notification only (the alarm is in ALARM already)
    assert pipe.fire("netaiops-cpu-spike", "ALARM", reason, {"id": "0b7a51c2e9d84f10",
                                                             "attributes": {"Namespace": "shop", "PodName": "web"}}) == 1
    assert [parse_message(r["Sns"]["Message"]).contributor_id for r in pipe.records(1)] == ["0b7a51c2e9d84f10"]
    for cid in ("6d442278dba546f6", "0b7a51c2e9d84f10"):
        pipe.fire("netaiops-cpu-spike", "OK", "Threshold Crossed: no datapoints were greater than the threshold (80.0).",
                  {"id": cid, "attributes": {"Namespace": "shop", "PodName": "api" if cid.startswith("6d") else "web"}})
    oks = [parse_message(r["Sns"]["Message"]) for r in pipe.records(3)]
    assert sorted((m.is_alarm_level, m.new_state) for m in oks) == [(False, "OK"), (False, "OK"), (True, "OK")]
    assert contributor_suspects(aws.client("cloudwatch"), alarm, limit=5) == []


def _record(message: dict[str, Any]) -> dict[str, Any]:
    from incident_operator.scenarios.notifications import notification_record
    return notification_record(json.dumps(message))


def _ok(message: dict[str, Any], reason: str) -> dict[str, Any]:
    """The same alarm's later OK transition (contributors are only ever ALARM or OK, Acting_Alarm_Changes)."""
    return message | {"NewStateValue": "OK", "OldStateValue": "ALARM", "NewStateReason": reason,
                      "StateChangeTime": "2026-12-01T13:52:04.919+0000"}


def test_the_alarm_level_notification_opens_no_second_incident(kube, ns):
    """One evaluation of a multi-time-series alarm: the alarm-level notification and one per contributor, in any
    order, delivered twice. One Incident per contributor, none for the cluster; the OKs recover each.
    Before: the alarm-level notification (dimensions ClusterName only) opened a third, cluster-wide Incident."""
    from kubernetes import client

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter

    writer = IncidentWriter(client.ApiClient(), BridgeConfig(namespace=ns))
    level = fixture("sns-metrics-insights-alarm-level.json")["message"]
    contributors = fixture("sns-metrics-insights-contributors.json")["messages"]
    records = [_record(level)] + [_record(m) for m in contributors]
    out = handle({"Records": records}, None, writer)
    assert [r["status"] for r in out["results"]] == ["alarm-level", "created", "created"]
    again = handle({"Records": list(reversed(records))}, None, writer)
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate", "alarm-level"]
    incidents = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    assert sorted(i["spec"]["target"].get("pod", "-") for i in incidents) == ["api", "web"]
    assert all(i["spec"]["alarm"]["contributor"]["id"] in ("6d442278dba546f6", "0b7a51c2e9d84f10") for i in incidents)

    oks = [_record(_ok(m, "Threshold Crossed: no datapoints were greater than the threshold (80.0).")) for m in contributors]
    oks.insert(1, _record(_ok(level, "0 out of 5 time series evaluated to ALARM")))
    done = handle({"Records": oks}, None, writer)
    assert [r["status"] for r in done["results"]] == ["recovered", "alarm-level", "recovered"]
    incidents = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    assert len(incidents) == 2 and all(i["spec"].get("recovery") for i in incidents)


@pytest.mark.parametrize("expression,alarm_level", [
    ("SELECT AVG(pod_cpu_utilization) FROM SCHEMA(ContainerInsights, ClusterName, Namespace, PodName) "
     "WHERE ClusterName = 'demo' GROUP BY Namespace, PodName ORDER BY AVG() DESC LIMIT 100", True),
    ("select max(node_cpu_utilization) from SCHEMA(ContainerInsights, ClusterName, InstanceId, NodeName) group by NodeName", True),
    # one time series: an aggregate alarm notifies like any alarm (an Incident, found by the suspect search)
    ("SELECT AVG(pod_cpu_utilization) FROM SCHEMA(ContainerInsights, ClusterName) WHERE ClusterName = 'demo'", False),
    ("SELECT AVG(pod_cpu_utilization) FROM SCHEMA(ContainerInsights, ClusterName) WHERE ClusterName = 'a GROUP BY b'", False),
])
def test_which_notifications_are_alarm_level(expression, alarm_level):
    msg = fixture("sns-metrics-insights-alarm-level.json")["message"]
    msg = msg | {"Trigger": msg["Trigger"] | {"Metrics": [msg["Trigger"]["Metrics"][0] | {"Expression": expression}]}}
    assert parse_message(json.dumps(msg)).is_alarm_level is alarm_level
    contributor = msg | {"AlarmContributorId": "6d442278dba546f6", "AlarmContributorAttributes": {"NodeName": "n"}}
    assert parse_message(json.dumps(contributor)).is_alarm_level is False


@pytest.mark.parametrize("name", ["sns-single-metric-alarm.json", "sns-metric-math-alarm.json"])
def test_the_recorded_lambda_sns_events_each_open_an_incident(kube, ns, name):
    """AWS's own recorded Lambda SNS events, handed to the handler whole (placeholders such as region EXAMPLE
    and ARN region REGION included): each opens one Incident with the alarm's metric and dimensions.
    Before: the ARN's placeholder region went into spec.alarm.region and the API rejected the whole record."""
    from kubernetes import client

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter

    writer = IncidentWriter(client.ApiClient(), BridgeConfig(namespace=ns))
    out = handle(fixture(name)["event"], None, writer)
    assert [r["status"] for r in out["results"]] == ["created"], (name, out)
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", out["results"][0]["incident"])
    alarm = inc["spec"]["alarm"]
    assert alarm["metric"]["name"] == "NetworkOut" and alarm["dimensions"] == {"InstanceId": "TestInstance"}
    assert alarm["threshold"] == 0 and "arn" not in alarm and "region" not in alarm  # placeholders: left out
