"""Application logs in OpenSearch (opensearch-py): search, error summary, anomaly detection.

Documents: `@timestamp`, `level`, `message`, `service`, `kubernetes.pod_name`, `error_type` in the
index `INCIDENT_OPENSEARCH_INDEX` (default `eks-app-logs`). Basic auth or SigV4.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field

from .base import NotConfigured, Tool, ToolDeps

ERROR_LEVELS = "level:(ERROR OR FATAL OR CRITICAL)"
NOTABLE_LEVELS = "level:(ERROR OR FATAL OR CRITICAL OR WARN OR WARNING) OR (*:* AND NOT _exists_:level)"
MAX_SIZE = 200


def client(deps: ToolDeps):
    s = deps.settings
    if not s.opensearch_url:
        raise NotConfigured("OpenSearch 엔드포인트 설정 없음 (INCIDENT_OPENSEARCH_URL)")

    def make():
        from opensearchpy import OpenSearch, RequestsHttpConnection
        kw: dict[str, Any] = {"hosts": [s.opensearch_url], "timeout": s.tool_timeout_seconds, "max_retries": 2,
                              "retry_on_timeout": False, "connection_class": RequestsHttpConnection}
        if s.opensearch_sigv4:
            import boto3
            from opensearchpy import AWSV4SignerAuth
            kw["http_auth"] = AWSV4SignerAuth(boto3.Session().get_credentials(), s.aws_region, s.opensearch_sigv4_service)
        elif s.opensearch_username and s.opensearch_password:
            kw["http_auth"] = (s.opensearch_username, s.opensearch_password.get_secret_value())
        return OpenSearch(**kw)
    return deps.client("opensearch", make)


class _Scope(BaseModel):
    window_minutes: int = Field(default=60, ge=1, le=10080)
    end: datetime | None = Field(default=None, description="End of the window (default: now)")
    service: str | None = None
    pod: str | None = Field(default=None, description="kubernetes.pod_name, or its prefix (workload name)")
    namespace: str | None = Field(default=None, description="kubernetes.namespace_name")
    node: str | None = Field(default=None, max_length=253,
                             description="kubernetes.host: the node the logging pod ran on (Fluent Bit's kubernetes filter)")
    index: str | None = None

    def bounds(self) -> tuple[datetime, datetime]:
        end = self.end or datetime.now(timezone.utc)
        return end - timedelta(minutes=self.window_minutes), end

    def filters(self) -> list[dict[str, Any]]:
        start, end = self.bounds()
        f: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": start.isoformat(), "lte": end.isoformat()}}}]
        if self.service:
            f.append({"match_phrase": {"service": self.service}})
        if self.pod:
            f.append({"prefix": {"kubernetes.pod_name.keyword": self.pod}})
        if self.namespace:
            f.append({"term": {"kubernetes.namespace_name.keyword": self.namespace}})
        if self.node:
            f.append({"term": {"kubernetes.host.keyword": self.node}})
        return f


class LogHit(BaseModel):
    timestamp: datetime | None = None
    level: str | None = None
    message: str
    service: str | None = None
    pod: str | None = None
    error_type: str | None = None


def _hit(src: dict[str, Any]) -> LogHit:
    return LogHit(timestamp=src.get("@timestamp"), level=src.get("level"), message=str(src.get("message", ""))[:1000],
                  service=src.get("service"), pod=(src.get("kubernetes") or {}).get("pod_name"),
                  error_type=src.get("error_type"))


class SearchLogsInput(_Scope):
    query: str = Field(default="*", description="query_string, e.g. level:ERROR AND message:timeout")
    size: int = Field(default=50, ge=1, le=MAX_SIZE)


class SearchLogsOutput(BaseModel):
    total: int
    hits: list[LogHit]


def scoped_filters(args: _Scope, deps: ToolDeps) -> list[dict[str, Any]]:
    """The caller's filters, and, for a tenant's scope, only its namespaces' logs (ANDed: no query widens it); and
    never a protected namespace's (kube-system's pods on a Node) unless INCIDENT_READ_PROTECTED_NAMESPACES."""
    scope = deps.effective_scope()
    extra = ([{"terms": {"kubernetes.namespace_name.keyword": sorted(scope.namespaces)}}]
             if scope.namespaces is not None else [])
    if scope.protected and not scope.read_protected:
        extra.append({"bool": {"must_not": [{"terms": {"kubernetes.namespace_name.keyword": sorted(scope.protected)}}]}})
    return args.filters() + extra


def search_logs(args: SearchLogsInput, deps: ToolDeps) -> SearchLogsOutput:
    body = {"size": args.size, "sort": [{"@timestamp": {"order": "desc"}}], "track_total_hits": True,
            "query": {"bool": {"must": [{"query_string": {"query": args.query}}], "filter": scoped_filters(args, deps)}}}
    res = client(deps).search(index=args.index or deps.settings.opensearch_index, body=body)
    return SearchLogsOutput(total=res["hits"]["total"]["value"], hits=[_hit(h["_source"]) for h in res["hits"]["hits"]])


class ErrorSummaryInput(_Scope):
    top: int = Field(default=10, ge=1, le=50)


class ErrorGroup(BaseModel):
    error_type: str
    count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str | None = None


class HourlyCount(BaseModel):
    time: datetime
    count: int


class ErrorSummaryOutput(BaseModel):
    total_errors: int
    groups: list[ErrorGroup]
    hourly: list[HourlyCount]


def error_summary(args: ErrorSummaryInput, deps: ToolDeps) -> ErrorSummaryOutput:
    body = {
        "size": 0, "track_total_hits": True,
        "query": {"bool": {"must": [{"query_string": {"query": ERROR_LEVELS}}], "filter": scoped_filters(args, deps)}},
        "aggs": {
            "types": {"terms": {"field": "error_type.keyword", "size": args.top, "missing": "(none)"}, "aggs": {
                "first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}},
                "sample": {"top_hits": {"size": 1, "sort": [{"@timestamp": {"order": "desc"}}], "_source": ["message"]}}}},
            "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 0}},
        }}
    res = client(deps).search(index=args.index or deps.settings.opensearch_index, body=body)
    aggs = res.get("aggregations", {})
    groups = []
    for b in aggs.get("types", {}).get("buckets", []):
        hits = b["sample"]["hits"]["hits"]
        groups.append(ErrorGroup(error_type=b["key"], count=b["doc_count"], first_seen=b["first"].get("value_as_string"),
                                 last_seen=b["last"].get("value_as_string"),
                                 sample=str(hits[0]["_source"].get("message"))[:500] if hits else None))
    hourly = [HourlyCount(time=b["key_as_string"], count=b["doc_count"]) for b in aggs.get("hourly", {}).get("buckets", [])]
    return ErrorSummaryOutput(total_errors=res["hits"]["total"]["value"], groups=groups, hourly=hourly)


class AnomalyInput(_Scope):
    query: str = Field(default=ERROR_LEVELS, description="What to count per bucket (query_string)")
    interval: str = Field(default="1m", pattern=r"^\d+[smhd]$")
    k: float = Field(default=3.0, gt=0, description="A bucket above mean + k·σ is an anomaly")


class Bucket(BaseModel):
    time: datetime
    count: int


class AnomalyOutput(BaseModel):
    buckets: int
    mean: float
    stddev: float
    threshold: float
    anomalies: list[Bucket]
    series: list[Bucket]
    detector_results: list[dict[str, Any]] = []
    detector_plugin: str = Field(description="installed / not-installed")


def anomaly_detection(args: AnomalyInput, deps: ToolDeps) -> AnomalyOutput:
    os_client = client(deps)
    start, end = args.bounds()
    body = {"size": 0,
            "query": {"bool": {"must": [{"query_string": {"query": args.query}}], "filter": scoped_filters(args, deps)}},
            "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": args.interval, "min_doc_count": 0,
                                              "extended_bounds": {"min": start.isoformat(), "max": end.isoformat()}}}}}
    res = os_client.search(index=args.index or deps.settings.opensearch_index, body=body)
    series = [Bucket(time=b["key_as_string"], count=b["doc_count"]) for b in res["aggregations"]["h"]["buckets"]]
    counts = [b.count for b in series] or [0]
    mean, sd = statistics.fmean(counts), statistics.pstdev(counts)
    threshold = mean + args.k * sd
    anomalies = [b for b in series if sd > 0 and b.count > threshold]
    # the plugin's detectors span every namespace: a tenant's scope does not see them
    results, plugin = (_detector_results(os_client, start, end) if deps.effective_scope().namespaces is None
                       else ([], "not-in-scope"))
    return AnomalyOutput(buckets=len(series), mean=round(mean, 3), stddev=round(sd, 3), threshold=round(threshold, 3),
                         anomalies=anomalies, series=series, detector_results=results, detector_plugin=plugin)


def _detector_results(os_client, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], str]:
    """Results of the Anomaly Detection plugin's detectors, when the plugin is there."""
    from opensearchpy.exceptions import NotFoundError, RequestError, TransportError
    try:
        res = os_client.transport.perform_request(
            "POST", "/_plugins/_anomaly_detection/detectors/results/_search",
            body={"size": 20, "query": {"bool": {"filter": [
                {"range": {"data_end_time": {"gte": int(start.timestamp() * 1000), "lte": int(end.timestamp() * 1000)}}},
                {"range": {"anomaly_grade": {"gt": 0}}}]}}, "sort": [{"anomaly_grade": "desc"}]})
    except (NotFoundError, RequestError):
        return [], "not-installed"
    except TransportError as exc:
        if exc.status_code in (400, 404, 405):
            return [], "not-installed"
        raise
    out = [{"detector_id": h["_source"].get("detector_id"), "anomaly_grade": h["_source"].get("anomaly_grade"),
            "confidence": h["_source"].get("confidence"), "end": h["_source"].get("data_end_time")}
           for h in res.get("hits", {}).get("hits", [])]
    return out, "installed"


TOOLS = [
    Tool("opensearch-search-logs", "OpenSearch 로그 검색 (query_string, 시간 범위, 최신순, 크기 제한)",
         SearchLogsInput, SearchLogsOutput, search_logs, "opensearch"),
    Tool("opensearch-get-error-summary", "ERROR/FATAL/CRITICAL 로그를 error_type별로 묶은 요약 (최초/최근 발생, 예시, 시간별 추이)",
         ErrorSummaryInput, ErrorSummaryOutput, error_summary, "opensearch"),
    Tool("opensearch-anomaly-detection", "시간 구간별 로그 수에서 평균 + k·σ를 넘는 이상 구간 (+ Anomaly Detection 플러그인 결과)",
         AnomalyInput, AnomalyOutput, anomaly_detection, "opensearch"),
]
