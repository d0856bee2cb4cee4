"""Container Insights on CloudWatch: pod, node and cluster metrics, one batched GetMetricData a call; and an
alarm's state now (one DescribeAlarms, the effectiveness check's evidence)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from .base import NotConfigured, Tool, ToolDeps
from .metrics_math import MetricSummary, summarize

NAMESPACE = "ContainerInsights"
POD_METRICS = ["pod_cpu_utilization", "pod_cpu_utilization_over_pod_limit", "pod_memory_utilization",
               "pod_memory_utilization_over_pod_limit", "pod_cpu_usage_total", "pod_memory_working_set",
               "pod_network_rx_bytes", "pod_network_tx_bytes", "pod_number_of_container_restarts"]
NODE_METRICS = ["node_cpu_utilization", "node_memory_utilization", "node_filesystem_utilization",
                "node_number_of_running_pods", "node_network_total_bytes", "node_cpu_reserved_capacity"]
NODE_SCHEMA = ("ClusterName", "InstanceId", "NodeName")  # the per-node set Container Insights publishes
QUERY_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
INSIGHTS_MAX_AGE = timedelta(hours=3)  # Metrics Insights queries reach the most recent three hours only
CLUSTER_METRICS = ["cluster_node_count", "cluster_failed_node_count", "node_cpu_utilization",
                   "node_memory_utilization", "namespace_number_of_running_pods"]


class _Window(BaseModel):
    cluster_name: str | None = Field(default=None, description="EKS cluster; default: the operator's")
    window_minutes: int = Field(default=60, ge=1, le=1440)
    period: int = Field(default=60, ge=60, description="Seconds per data point")


class PodMetricsInput(_Window):
    namespace: str
    pod_name: str = Field(description="Container Insights PodName (usually the workload name)")


class NodeMetricsInput(_Window):
    node_name: str = Field(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                           description="Kubernetes node name (Container Insights NodeName)")


class ClusterOverviewInput(_Window):
    pass


class MetricsOutput(BaseModel):
    dimensions: dict[str, str]
    start: datetime
    end: datetime
    period: int
    metrics: list[MetricSummary]


CONNECT_TIMEOUT = 5  # seconds; a read waits at most the tool timeout, and one retry (botocore's standard mode)


def _cloudwatch(deps: ToolDeps):
    """The operator's CloudWatch client. Every call is bounded: connect and read timeouts, two attempts at most."""
    s = deps.settings
    if not (s.aws_region or s.aws_endpoint_url):
        raise NotConfigured("AWS 리전이 설정되지 않음 (INCIDENT_AWS_REGION / AWS_REGION)")

    def make():
        import boto3
        from botocore.config import Config
        return boto3.client("cloudwatch", region_name=s.aws_region or "us-east-1", endpoint_url=s.aws_endpoint_url,
                            config=Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=max(1, int(s.tool_timeout_seconds)),
                                          retries={"max_attempts": 2, "mode": "standard"}))
    return deps.client("cloudwatch", make)


def _cluster(args: _Window, deps: ToolDeps) -> str:
    name = args.cluster_name or deps.settings.cluster_name
    if not name:
        raise NotConfigured("클러스터 이름이 설정되지 않음 (INCIDENT_CLUSTER_NAME)")
    return name


def _literal(value: str) -> str:
    """A Metrics Insights string literal: single-quoted, a quote inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def get_metrics(deps: ToolDeps, dims: dict[str, str], names: list[str], window_minutes: int, period: int,
                schema: tuple[str, ...] | None = None) -> MetricsOutput:
    """Each metric over the window, from one batched GetMetricData.

    CloudWatch stores a metric per exact dimension set, so `dims` must be a set Container Insights publishes
    (tests/fixtures/aws/container-insights-dimension-sets.json). When part of the set is not known to the
    caller (a node's InstanceId), `schema` names the whole set and `dims` the part to filter on: each metric
    is then a Metrics Insights query, `SELECT AVG(m) FROM SCHEMA(ContainerInsights, <schema>) WHERE ...`,
    which only reaches the last three hours (the window is cut to that)."""
    cw = _cloudwatch(deps)
    end = datetime.now(timezone.utc)
    start = end - timedelta(minutes=window_minutes)
    if schema:
        start = max(start, end - INSIGHTS_MAX_AGE)
        where = " AND ".join(f"{k} = {_literal(v)}" for k, v in dims.items())
        queries = [{"Id": f"m{i}", "Label": name, "ReturnData": True, "Period": period,
                    "Expression": f"SELECT AVG({name}) FROM SCHEMA({NAMESPACE}, {', '.join(schema)}) WHERE {where}"}
                   for i, name in enumerate(names)]
    else:
        dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
        queries = [{"Id": f"m{i}", "Label": name, "ReturnData": True,
                    "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                                   "Period": period, "Stat": "Average"}} for i, name in enumerate(names)]
    points: dict[str, list] = {n: [] for n in names}
    token = None
    while True:  # one request, and its pages when CloudWatch splits the answer
        kw = {"NextToken": token} if token else {}
        res = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending", **kw)
        for r in res.get("MetricDataResults", []):
            name = names[int(r["Id"][1:])]
            points[name] += list(zip(r.get("Timestamps", []), r.get("Values", [])))
        token = res.get("NextToken")
        if not token:
            break
    return MetricsOutput(dimensions=dims, start=start, end=end, period=period,
                         metrics=[summarize(n, points[n]) for n in names])


def pod_metrics(args: PodMetricsInput, deps: ToolDeps) -> MetricsOutput:
    deps.effective_scope().require_namespace(args.namespace, "지표")
    dims = {"ClusterName": _cluster(args, deps), "Namespace": args.namespace, "PodName": args.pod_name}
    return get_metrics(deps, dims, POD_METRICS, args.window_minutes, args.period)


def node_metrics(args: NodeMetricsInput, deps: ToolDeps) -> MetricsOutput:
    deps.effective_scope().require_cluster_wide("노드 지표")
    # published per node as {ClusterName, InstanceId, NodeName} (and {ClusterName} for the cluster): the
    # instance ID is not known here, so the query names the set and filters on the cluster and node
    cluster = _cluster(args, deps)
    if not QUERY_SAFE.match(cluster):  # it goes into a query: a name, not syntax
        raise ValueError(f"cluster_name {cluster[:100]!r} is not a cluster name (letters, digits, . _ - only)")
    dims = {"ClusterName": cluster, "NodeName": args.node_name}
    return get_metrics(deps, dims, NODE_METRICS, args.window_minutes, args.period, schema=NODE_SCHEMA)


def cluster_overview(args: ClusterOverviewInput, deps: ToolDeps) -> MetricsOutput:
    deps.effective_scope().require_cluster_wide("클러스터 지표")
    return get_metrics(deps, {"ClusterName": _cluster(args, deps)}, CLUSTER_METRICS, args.window_minutes, args.period)


# ---- an alarm's state now ----------------------------------------------------------------------------------------
StateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class AlarmNow(BaseModel):
    """What CloudWatch says of one metric alarm now. `state` None: it could not say (`problem` says why, Korean)."""

    name: str
    state: StateValue | None = None
    reason: str = ""  # StateReason, cut
    updated: datetime | None = None  # StateUpdatedTimestamp
    problem: str = ""


REASON_MAX = 300


def alarm_now(response: dict[str, Any], name: str, arn: str | None = None) -> AlarmNow:
    """DescribeAlarms' answer about `name` (AlarmNames=[name]): `MetricAlarms[]` of MetricAlarm, each with AlarmName,
    AlarmArn, StateValue (OK | ALARM | INSUFFICIENT_DATA), StateReason, StateUpdatedTimestamp
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html,
    .../API_MetricAlarm.html). An alarm of the same name but another ARN than the notification's is not ours."""
    found = [a for a in response.get("MetricAlarms") or [] if a.get("AlarmName") == name]
    if not found:
        return AlarmNow(name=name, problem="CloudWatch에 이 이름의 메트릭 알람이 없음 (삭제되었거나 다른 계정·리전)")
    a = found[0]
    if arn and a.get("AlarmArn") and a["AlarmArn"] != arn:
        return AlarmNow(name=name, problem=f"같은 이름의 다른 알람 ({str(a['AlarmArn'])[:200]})")
    updated = a.get("StateUpdatedTimestamp")
    if isinstance(updated, str):
        updated = datetime.fromisoformat(updated.replace("Z", "+00:00"))
    state = a.get("StateValue")
    reason = str(a.get("StateReason") or "")[:REASON_MAX]
    if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        return AlarmNow(name=name, reason=reason, updated=updated, problem=f"알 수 없는 상태 {str(state)[:40]}")
    return AlarmNow(name=name, state=state, reason=reason, updated=updated)


def describe_alarm(deps: ToolDeps, name: str, arn: str | None = None, region: str | None = None) -> AlarmNow:
    """One DescribeAlarms call (metric alarms of that exact name, one record) through the operator's client, in the
    operator's region: an alarm of another region is not asked about (it could not be found there)."""
    home = deps.settings.aws_region or "us-east-1"
    if region and region != home:
        return AlarmNow(name=name, problem=f"알람이 다른 리전({region})에 있음: 운영자는 {home}의 CloudWatch에 묻습니다")
    cw = _cloudwatch(deps)
    res = cw.describe_alarms(AlarmNames=[name], MaxRecords=1)
    return alarm_now(res, name, arn)


TOOLS = [
    Tool("container-insight-pod-metrics", "파드의 Container Insights 지표(CPU, 메모리, 네트워크, 재시작)와 추세",
         PodMetricsInput, MetricsOutput, pod_metrics, "cloudwatch"),
    Tool("container-insight-node-metrics", "노드의 Container Insights 지표(CPU, 메모리, 파일시스템, 파드 수)와 추세",
         NodeMetricsInput, MetricsOutput, node_metrics, "cloudwatch"),
    Tool("container-insight-cluster-overview", "클러스터 전체 개요: 노드 수, 실패 노드, 평균 CPU/메모리, 실행 파드",
         ClusterOverviewInput, MetricsOutput, cluster_overview, "cloudwatch"),
]
