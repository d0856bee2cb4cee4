"""OpenSearch tools with opensearch-py against a real OpenSearch node (local_stack/opensearch-node)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps, default_registry

REG = default_registry()
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


def log(minutes_ago: float, level: str, message: str, pod: str = "checkout-7d9f-abc", service: str = "checkout",
        error_type: str | None = None, namespace: str = "shop") -> dict:
    doc = {"@timestamp": (NOW - timedelta(minutes=minutes_ago)).isoformat(), "level": level, "message": message,
           "service": service, "kubernetes": {"pod_name": pod, "namespace_name": namespace}}
    if error_type:
        doc["error_type"] = error_type
    return doc


@pytest.fixture(scope="module")
def index(opensearch) -> str:
    name = f"eks-app-logs-{uuid.uuid4().hex[:6]}"
    docs = [log(50 - i, "INFO", f"GET /cart 200 in {20 + i}ms") for i in range(40)]
    docs += [log(12 + i / 10, "ERROR", "payments: connection refused (10.0.3.7:8443)", error_type="ConnectionRefused") for i in range(25)]
    docs += [log(11, "FATAL", "circuit breaker open for payments", error_type="CircuitOpen")]
    docs += [log(30, "ERROR", "slow query on carts", pod="catalog-1", service="catalog", error_type="SlowQuery")]
    opensearch.bulk(name, docs)
    return name


@pytest.fixture
def deps(opensearch, index):
    return ToolDeps(Settings(opensearch_url=opensearch.url, opensearch_index=index, tool_timeout_seconds=20))


def test_search_logs_newest_first_within_scope(deps):
    res = REG.call("opensearch-search-logs", {"query": "level:ERROR", "pod": "checkout", "size": 5}, deps)
    assert res.outcome == "ok", res.error
    assert res.data["total"] == 25 and len(res.data["hits"]) == 5
    times = [h["timestamp"] for h in res.data["hits"]]
    assert times == sorted(times, reverse=True)
    assert all(h["pod"].startswith("checkout") and h["error_type"] == "ConnectionRefused" for h in res.data["hits"])


def test_error_summary_groups_errors_with_first_and_last_seen(deps):
    res = REG.call("opensearch-get-error-summary", {"window_minutes": 120}, deps)
    groups = {g["error_type"]: g for g in res.data["groups"]}
    assert res.data["total_errors"] == 27
    assert groups["ConnectionRefused"]["count"] == 25 and "connection refused" in groups["ConnectionRefused"]["sample"]
    assert groups["ConnectionRefused"]["first_seen"] < groups["ConnectionRefused"]["last_seen"]
    assert groups["CircuitOpen"]["count"] == 1 and groups["SlowQuery"]["count"] == 1
    assert sum(h["count"] for h in res.data["hourly"]) == 27
    only_catalog = REG.call("opensearch-get-error-summary", {"window_minutes": 120, "service": "catalog"}, deps)
    assert [g["error_type"] for g in only_catalog.data["groups"]] == ["SlowQuery"]


def test_anomaly_detection_finds_the_error_burst(deps):
    res = REG.call("opensearch-anomaly-detection", {"window_minutes": 60, "interval": "1m", "k": 3}, deps)
    assert res.outcome == "ok", res.error
    data = res.data
    assert data["detector_plugin"] == "not-installed" and data["buckets"] >= 60
    assert data["anomalies"] and all(a["count"] > data["threshold"] for a in data["anomalies"])
    burst = {a["time"][:16] for a in data["anomalies"]}
    burst_minutes = {(NOW - timedelta(minutes=m)).isoformat()[:16] for m in (12, 13, 14, 15)}  # 25 errors 12-14.4 min ago
    assert burst <= burst_minutes


def test_failure_paths(opensearch, index):
    assert REG.call("opensearch-search-logs", {}, ToolDeps(Settings())).outcome == "not-configured"
    down = ToolDeps(Settings(opensearch_url="http://127.0.0.1:9", tool_timeout_seconds=5))
    assert REG.call("opensearch-search-logs", {}, down).outcome == "failed"
    missing = ToolDeps(Settings(opensearch_url=opensearch.url, opensearch_index="no-such-index"))
    res = REG.call("opensearch-get-error-summary", {}, missing)
    assert res.outcome == "failed" and "index_not_found" in res.error
    bad = REG.call("opensearch-search-logs", {"size": 5000}, ToolDeps(Settings(opensearch_url=opensearch.url)))
    assert bad.outcome == "failed" and "size" in bad.error


def test_the_logs_source_brings_errors_warnings_and_lines_without_a_level(opensearch):
    """A slow dependency often shows only as warnings or access lines with no level: the collect phase's
    logs source keeps those, and leaves plain INFO chatter out."""
    from incident_operator.models.evidence import TimeWindow
    from incident_operator.models.spec import Target
    from incident_operator.sources import OpenSearchSource

    name = f"eks-app-logs-{uuid.uuid4().hex[:6]}"
    docs = [log(5, "INFO", "GET /health 200"), log(4, "WARN", "GET https://ledger.internal/balance took 3.4s"),
            log(3, "ERROR", "payments: connection refused")]
    bare = log(2, "", "10.0.3.9 - - \"GET /invoice\" 200 duration=3100ms")
    bare.pop("level")
    # another namespace's workload of the same name is another incident's evidence
    elsewhere = log(3, "ERROR", "lookup payments.other.svc: no such host", namespace="other")
    opensearch.bulk(name, docs + [bare, elsewhere])
    source = OpenSearchSource(ToolDeps(Settings(opensearch_url=opensearch.url, opensearch_index=name)))
    got = source.collect(Target(namespace="shop", kind="Deployment", name="checkout"), None,
                         TimeWindow(start=NOW - timedelta(minutes=30), end=NOW + timedelta(minutes=1), anchor=NOW))
    messages = sorted(l.message for l in got.logs)
    assert len(messages) == 3 and not any("health" in m for m in messages) and not any("no such host" in m for m in messages)
    assert any("duration=3100ms" in m for m in messages) and any("took 3.4s" in m for m in messages)


def test_a_node_incident_reads_only_its_own_nodes_logs(opensearch):
    """A Node target names no namespace or pod: the query had no filter, and another namespace's errors in the
    same minutes became the node's evidence (found by scenarios 68 and 73 replayed after the DNS scenarios).
    Fluent Bit's kubernetes filter writes the node as `kubernetes.host`."""
    from incident_operator.models.evidence import TimeWindow
    from incident_operator.models.spec import Target
    from incident_operator.sources import OpenSearchSource

    name = f"eks-app-logs-{uuid.uuid4().hex[:6]}"
    on_node = log(3, "ERROR", "kubelet-side: container oom", pod="burner-1", namespace="batch")
    on_node["kubernetes"]["host"] = "ip-10-0-1-5.ec2.internal"
    elsewhere = log(3, "ERROR", "lookup payments.other.svc: no such host", namespace="other")
    elsewhere["kubernetes"]["host"] = "ip-10-0-9-9.ec2.internal"
    system = log(3, "ERROR", "coredns: plugin/errors: i/o timeout", pod="coredns-1", namespace="kube-system")
    system["kubernetes"]["host"] = "ip-10-0-1-5.ec2.internal"  # on the node, but protected: not read by default
    opensearch.bulk(name, [on_node, elsewhere, system])
    source = OpenSearchSource(ToolDeps(Settings(opensearch_url=opensearch.url, opensearch_index=name)))
    got = source.collect(Target(kind="Node", name="ip-10-0-1-5.ec2.internal", node="ip-10-0-1-5.ec2.internal"), None,
                         TimeWindow(start=NOW - timedelta(minutes=30), end=NOW + timedelta(minutes=1), anchor=NOW))
    assert [l.message for l in got.logs] == ["kubelet-side: container oom"]
