"""Datadog (optional): metrics, events, traces and monitors over its REST API, with requests."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from .base import NotConfigured, Tool, ToolDeps
from .metrics_math import MetricSummary, summarize


def _session(deps: ToolDeps):
    s = deps.settings
    if not (s.dd_api_key and s.dd_app_key):
        raise NotConfigured("Datadog API/Application 키 없음")

    def make():
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry
        session = requests.Session()
        retry = Retry(total=3, backoff_factor=0.2, status_forcelist=(429, 500, 502, 503, 504),
                      allowed_methods=frozenset({"GET", "POST"}), respect_retry_after_header=True)
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.headers.update({"DD-API-KEY": s.dd_api_key.get_secret_value(),
                                "DD-APPLICATION-KEY": s.dd_app_key.get_secret_value(),
                                "Accept": "application/json"})
        return session
    base = (s.dd_api_url or f"https://api.{s.dd_site}").rstrip("/")
    return deps.client("datadog", make), base


def _request(deps: ToolDeps, method: str, path: str, **kw: Any) -> Any:
    session, base = _session(deps)
    res = session.request(method, base + path, timeout=deps.settings.tool_timeout_seconds, **kw)
    if res.status_code in (401, 403):
        raise PermissionError(f"Datadog rejected the keys ({res.status_code})")
    res.raise_for_status()
    return res.json()


class _Window(BaseModel):
    window_minutes: int = Field(default=60, ge=1, le=1440)

    def range(self) -> tuple[int, int]:
        end = int(time.time())
        return end - 60 * self.window_minutes, end


class QueryMetricsInput(_Window):
    query: str = Field(description="Datadog metric query, e.g. avg:kubernetes.cpu.usage.total{kube_namespace:shop}")


class QueryMetricsOutput(BaseModel):
    query: str
    series: list[MetricSummary]


def query_metrics(args: QueryMetricsInput, deps: ToolDeps) -> QueryMetricsOutput:
    from datetime import datetime, timezone
    deps.effective_scope().require_tag_scope(args.query)
    start, end = args.range()
    data = _request(deps, "GET", "/api/v1/query", params={"from": start, "to": end, "query": args.query})
    series = []
    for s in data.get("series", []):
        points = [(datetime.fromtimestamp(t / 1000, timezone.utc), v) for t, v in s.get("pointlist", []) if v is not None]
        series.append(summarize(s.get("expression") or s.get("metric") or args.query, points))
    return QueryMetricsOutput(query=args.query, series=series)


class EventsInput(_Window):
    tags: str | None = Field(default=None, description="Comma-separated tags, e.g. kube_namespace:shop")


class DatadogEvent(BaseModel):
    id: int | str | None = None
    title: str | None = None
    text: str | None = None
    date_happened: int | None = None
    alert_type: str | None = None
    tags: list[str] = []


class EventsOutput(BaseModel):
    events: list[DatadogEvent]


def get_events(args: EventsInput, deps: ToolDeps) -> EventsOutput:
    deps.effective_scope().require_tag_scope(args.tags)
    start, end = args.range()
    params: dict[str, Any] = {"start": start, "end": end}
    if args.tags:
        params["tags"] = args.tags
    data = _request(deps, "GET", "/api/v1/events", params=params)
    return EventsOutput(events=[DatadogEvent.model_validate(e) for e in data.get("events", [])])


class TracesInput(_Window):
    query: str = Field(default="status:error", description="Span search query, e.g. service:checkout status:error")
    limit: int = Field(default=25, ge=1, le=100)


class Span(BaseModel):
    service: str | None = None
    resource_name: str | None = None
    status: str | None = None
    duration_ns: int | None = None
    start: str | None = None
    error_message: str | None = None


class TracesOutput(BaseModel):
    spans: list[Span]


def get_traces(args: TracesInput, deps: ToolDeps) -> TracesOutput:
    deps.effective_scope().require_tag_scope(args.query)
    body = {"data": {"type": "search_request", "attributes": {
        "filter": {"query": args.query, "from": f"now-{args.window_minutes}m", "to": "now"},
        "page": {"limit": args.limit}, "sort": "-timestamp"}}}
    data = _request(deps, "POST", "/api/v2/spans/events/search", json=body)
    spans = []
    for item in data.get("data", []):
        a = item.get("attributes", {})
        custom = a.get("custom") or {}
        spans.append(Span(service=a.get("service"), resource_name=a.get("resource_name"), status=a.get("status"),
                          duration_ns=custom.get("duration"), start=a.get("start_timestamp"),
                          error_message=(custom.get("error") or {}).get("message")))
    return TracesOutput(spans=spans)


class MonitorsInput(BaseModel):
    tags: str | None = Field(default=None, description="monitor_tags filter, e.g. service:checkout")


class Monitor(BaseModel):
    id: int | None = None
    name: str | None = None
    type: str | None = None
    query: str | None = None
    overall_state: str | None = None
    tags: list[str] = []


class MonitorsOutput(BaseModel):
    monitors: list[Monitor]
    alerting: int


def get_monitors(args: MonitorsInput, deps: ToolDeps) -> MonitorsOutput:
    deps.effective_scope().require_tag_scope(args.tags)
    params = {"monitor_tags": args.tags} if args.tags else {}
    data = _request(deps, "GET", "/api/v1/monitor", params=params)
    monitors = [Monitor.model_validate(m) for m in data]
    return MonitorsOutput(monitors=monitors, alerting=sum(m.overall_state == "Alert" for m in monitors))


TOOLS = [
    Tool("datadog-query-metrics", "Datadog 지표 쿼리 결과와 추세", QueryMetricsInput, QueryMetricsOutput, query_metrics, "datadog"),
    Tool("datadog-get-events", "Datadog 이벤트 (배포, 알림 등)", EventsInput, EventsOutput, get_events, "datadog"),
    Tool("datadog-get-traces", "Datadog APM 스팬 검색 (기본: 에러 스팬)", TracesInput, TracesOutput, get_traces, "datadog"),
    Tool("datadog-get-monitors", "Datadog 모니터와 현재 상태", MonitorsInput, MonitorsOutput, get_monitors, "datadog"),
]
