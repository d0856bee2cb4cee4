"""Datadog tools with requests against a Datadog API stand-in."""

from __future__ import annotations

import pytest

from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps, default_registry

from .support.datadog_server import API_KEY, APP_KEY, DatadogServer, sample

REG = default_registry()


@pytest.fixture
def dd():
    server = DatadogServer()
    sample(server)
    yield server
    server.stop()


def deps_for(url: str, api: str = API_KEY, app: str = APP_KEY, timeout: float = 5) -> ToolDeps:
    return ToolDeps(Settings(dd_api_key=api, dd_app_key=app, dd_api_url=url, tool_timeout_seconds=timeout))


def test_all_four_tools(dd):
    deps = deps_for(dd.url)
    metrics = REG.call("datadog-query-metrics", {"query": "avg:kubernetes.cpu.usage.total{kube_namespace:shop}"}, deps)
    assert metrics.outcome == "ok" and metrics.data["series"][0]["trend"] == "rising" and metrics.data["series"][0]["max"] == 8.1
    events = REG.call("datadog-get-events", {"tags": "kube_namespace:shop"}, deps)
    assert events.data["events"][0]["title"] == "Deployment checkout rolled out"
    traces = REG.call("datadog-get-traces", {"query": "service:checkout status:error"}, deps)
    assert traces.data["spans"][0]["error_message"] == "upstream payments: connection refused"
    monitors = REG.call("datadog-get-monitors", {"tags": "kube_namespace:shop"}, deps)
    assert monitors.data["alerting"] == 1 and len(monitors.data["monitors"]) == 2
    sent = dd.requests[0].headers
    assert sent["dd-api-key"] == API_KEY and sent["dd-application-key"] == APP_KEY


def test_absent_keys_mean_not_configured_and_bad_keys_fail_without_leaking(dd):
    assert REG.call("datadog-get-monitors", {}, ToolDeps(Settings())).outcome == "not-configured"
    res = REG.call("datadog-get-monitors", {}, deps_for(dd.url, api="dd-api-wrong-key-123"))
    assert res.outcome == "failed" and "403" in res.error and "dd-api-wrong" not in res.error


def test_rate_limit_and_5xx_are_retried_and_a_slow_api_times_out(dd):
    dd.fault("GET", "/api/v1/monitor", status=429, headers={"Retry-After": "1", "X-RateLimit-Limit": "100",
                                                            "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"})
    dd.fault("GET", "/api/v1/monitor", status=503)
    assert REG.call("datadog-get-monitors", {}, deps_for(dd.url)).outcome == "ok"
    assert sum(r.path == "/api/v1/monitor" for r in dd.requests) == 3
    # slow on every try: a single slow answer raced the client's own retry against the tool's deadline
    dd.fault("GET", "/api/v1/events", status=0, delay=3, times=5)
    assert REG.call("datadog-get-events", {}, deps_for(dd.url, timeout=1)).outcome == "timed-out"
    assert REG.call("datadog-get-events", {}, deps_for("http://127.0.0.1:9")).outcome == "failed"
