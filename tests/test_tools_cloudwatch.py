"""Container Insights tools with boto3 against the local AWS endpoint (moto server, PutMetricData)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps, default_registry

REG = default_registry()


def put_series(aws, metric: str, dims: dict[str, str], values: list[float]) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=[
        {"MetricName": metric, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
         "Timestamp": now - timedelta(minutes=len(values) - i), "Value": v, "Unit": "Percent"}
        for i, v in enumerate(values)])


@pytest.fixture
def deps(aws):
    return ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url=aws.endpoint, cluster_name="demo-cw"))


def test_pod_metrics_summarise_each_series_from_one_batched_request(aws, deps):
    dims = {"ClusterName": "demo-cw", "Namespace": "shop", "PodName": "checkout"}
    put_series(aws, "pod_cpu_utilization", dims, [12, 14, 13, 55, 88, 97, 98])
    put_series(aws, "pod_memory_utilization", dims, [40, 40, 41, 40, 40, 41, 40])
    res = REG.call("container-insight-pod-metrics", {"namespace": "shop", "pod_name": "checkout", "window_minutes": 30}, deps)
    assert res.outcome == "ok", res.error
    by_name = {m["metric"]: m for m in res.data["metrics"]}
    cpu, mem = by_name["pod_cpu_utilization"], by_name["pod_memory_utilization"]
    assert (cpu["count"], cpu["min"], cpu["max"], cpu["last"], cpu["trend"]) == (7, 12, 98, 98, 'rising')
    assert mem["trend"] == "flat" and by_name["pod_number_of_container_restarts"]["trend"] == "no-data"
    assert set(by_name) >= {"pod_cpu_usage_total", "pod_memory_working_set", "pod_network_rx_bytes", "pod_network_tx_bytes"}
    assert res.data["dimensions"] == dims


def test_node_and_cluster_metrics(aws, deps):
    # the set Container Insights publishes node metrics with (tests/fixtures/aws/container-insights-dimension-sets.json)
    put_series(aws, "node_cpu_utilization", {"ClusterName": "demo-cw", "InstanceId": "i-0a1b2c3d4e5f67890",
                                             "NodeName": "ip-10-0-1-5"}, [70, 90, 95, 96])
    put_series(aws, "cluster_node_count", {"ClusterName": "demo-cw"}, [3, 3, 3])
    node = REG.call("container-insight-node-metrics", {"node_name": "ip-10-0-1-5"}, deps)
    assert {m["metric"]: m.get("max") for m in node.data["metrics"]}["node_cpu_utilization"] == 96
    overview = REG.call("container-insight-cluster-overview", {}, deps)
    assert {m["metric"]: m.get("last") for m in overview.data["metrics"]}["cluster_node_count"] == 3


def test_unconfigured_unreachable_and_bad_input(aws):
    assert REG.call("container-insight-pod-metrics", {"namespace": "a", "pod_name": "b"}, ToolDeps(Settings())).outcome == "not-configured"
    down = ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url="http://127.0.0.1:9", cluster_name="x", tool_timeout_seconds=20))
    res = REG.call("container-insight-node-metrics", {"node_name": "n"}, down)
    assert res.outcome == "failed" and "EndpointConnectionError" in res.error
    bad = REG.call("container-insight-pod-metrics", {"namespace": "a"}, down)
    assert bad.outcome == "failed" and "pod_name" in bad.error


def test_large_results_are_cut_with_a_note(aws):
    dims = {"ClusterName": "big", "Namespace": "shop", "PodName": "api"}
    put_series(aws, "pod_cpu_utilization", dims, [float(i % 50) for i in range(300)])
    deps = ToolDeps(Settings(aws_region="ap-northeast-2", aws_endpoint_url=aws.endpoint, tool_output_max_chars=2000))
    res = REG.call("container-insight-pod-metrics", {"cluster_name": "big", "namespace": "shop", "pod_name": "api",
                                                     "window_minutes": 400}, deps)
    assert res.outcome == "ok" and res.truncated and res.note
    cpu = next(m for m in res.data["metrics"] if m["metric"] == "pod_cpu_utilization")
    assert cpu["count"] == 300 and len(cpu["points"]) < 300  # the summary is whole, the points were cut
