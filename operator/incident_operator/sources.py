"""Evidence sources for the collect phase. Each may fail on its own; the phase records the outcome.

They call the same tool functions the agent and the MCP server use (tools/), directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .models.evidence import (
    ClusterEvidence, EventEvidence, LogEntry, MetricPoint, MetricSeries, ServiceAccountAccessEvidence, TimeWindow,
)
from .models.spec import Alarm, Target
from .tools.base import NotConfigured, ToolDeps
from .tools.metrics_math import MetricSummary

__all__ = ["NotConfigured", "EvidenceSource", "SourceResult", "default_sources"]

# targets whose pods are named after them (Container Insights' PodName, the logs' pod_name prefix)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


@dataclass
class SourceResult:
    cluster: ClusterEvidence | None = None
    metrics: list[MetricSeries] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)

    @property
    def items(self) -> int:
        c = self.cluster
        n = sum(len(v) for v in (getattr(c, f) for f in ClusterEvidence.model_fields) if isinstance(v, list)) if c else 0
        return n + len(self.metrics) + len(self.logs)


class EvidenceSource(ABC):
    name: str

    @abstractmethod
    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult: ...


def _window_minutes(window: TimeWindow) -> int:
    return max(1, int((window.end - window.start).total_seconds() // 60))


def series(summary: MetricSummary, dims: dict[str, str]) -> MetricSeries:
    return MetricSeries(name=summary.metric, dimensions=dims,
                        points=[MetricPoint(timestamp=t, value=v) for t, v in summary.points])


class ClusterSource(EvidenceSource):
    name = "kubernetes"

    def __init__(self, deps: ToolDeps):
        self.collector = deps.cluster_collector()

    also: list[Target] = []  # the other suspects of an alarm that named no pod (set by the collect phase)

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        evidence = self.collector.collect(target)
        for extra in self.also:
            try:
                evidence = merge(evidence, self.collector.collect(extra))
            except Exception as exc:  # noqa: BLE001 - a suspect's evidence is a bonus, never the failure
                import logging
                logging.getLogger(__name__).info("no evidence for suspect %s: %s", extra, exc)
        return SourceResult(cluster=evidence)


def _identity(item) -> tuple:
    """What makes two pieces of cluster evidence the same object: its namespace and name (a node: its name);
    an event, what it says about which object."""
    if isinstance(item, EventEvidence):
        return (item.namespace, item.object_kind, item.object_name, item.reason, item.message)
    if isinstance(item, ServiceAccountAccessEvidence):  # one account, refused several ways
        return (item.namespace, item.name, item.verb, item.resource, item.api_group, item.request_namespace)
    if hasattr(item, "name"):
        return (getattr(item, "namespace", None), item.name)
    return (item.model_dump_json(),)


def merge(a: ClusterEvidence, b: ClusterEvidence) -> ClusterEvidence:
    """Two targets' cluster evidence as one, each object once: every kind the model has (its list fields),
    so a kind added to ClusterEvidence is merged too."""
    def union(xs, ys):
        seen = {_identity(x) for x in xs}
        return xs + [y for y in ys if _identity(y) not in seen]
    return ClusterEvidence(**{name: union(getattr(a, name), getattr(b, name)) if isinstance(getattr(a, name), list)
                              else getattr(a, name) for name in ClusterEvidence.model_fields})


class CloudWatchSource(EvidenceSource):
    """Container Insights series for the target pod/workload and its node."""

    name = "cloudwatch"

    def __init__(self, deps: ToolDeps):
        self.deps = deps

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        from .tools import cloudwatch as cw
        cluster = target.cluster or self.deps.settings.cluster_name
        if not cluster:
            raise NotConfigured("클러스터 이름이 설정되지 않음 (INCIDENT_CLUSTER_NAME 또는 알람의 ClusterName)")
        minutes = _window_minutes(window)
        out: list[MetricSeries] = []
        pod = target.pod or (target.name if target.kind in WORKLOAD_KINDS else None)
        if target.namespace and pod:
            res = cw.pod_metrics(cw.PodMetricsInput(cluster_name=cluster, namespace=target.namespace, pod_name=pod,
                                                    window_minutes=minutes), self.deps)
            out += [series(m, res.dimensions) for m in res.metrics if m.count]
        if target.node and self.deps.effective_scope().nodes:  # a tenant's scope has no node metrics
            res = cw.node_metrics(cw.NodeMetricsInput(cluster_name=cluster, node_name=target.node, window_minutes=minutes), self.deps)
            out += [series(m, res.dimensions) for m in res.metrics if m.count]
        return SourceResult(metrics=out)


class DatadogSource(EvidenceSource):
    """Monitors in Alert for the target's namespace, as error entries beside the logs."""

    name = "datadog"

    def __init__(self, deps: ToolDeps):
        self.deps = deps

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        from .tools import datadog as dd
        tags = f"kube_namespace:{target.namespace}" if target.namespace else None
        monitors = dd.get_monitors(dd.MonitorsInput(tags=tags), self.deps)
        logs = [LogEntry(level="ERROR", service="datadog-monitor", message=f"Datadog monitor '{m.name}' {m.overall_state}: {m.query}",
                         error_type="DatadogMonitorAlert") for m in monitors.monitors if m.overall_state == "Alert"]
        return SourceResult(logs=logs)


class OpenSearchSource(EvidenceSource):
    """The target's recent notable logs (newest first) from the application log index: errors, warnings,
    and lines that carry no level at all (a slow dependency is often only a warning or an access log)."""

    name = "opensearch"
    max_entries = 100

    def __init__(self, deps: ToolDeps):
        self.deps = deps

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        from .tools import opensearch as osearch
        pod = target.pod or (target.name if target.kind in (*WORKLOAD_KINDS, "Pod") else None)
        # a Node's logs are its pods' (kubernetes.host): with no pod or namespace named, the query had no filter
        # and another namespace's errors of the same minutes became the node's evidence
        node = (target.node or target.name) if target.kind == "Node" else None
        res = osearch.search_logs(osearch.SearchLogsInput(
            query=osearch.NOTABLE_LEVELS, pod=pod, namespace=target.namespace, node=node, end=window.end,
            size=self.max_entries, window_minutes=_window_minutes(window)), self.deps)
        return SourceResult(logs=[LogEntry(timestamp=h.timestamp, level=h.level, message=h.message, service=h.service,
                                           pod=h.pod, error_type=h.error_type) for h in res.hits])


def default_sources(deps: ToolDeps) -> list[EvidenceSource]:
    return [
        ClusterSource(deps),
        CloudWatchSource(deps),
        OpenSearchSource(deps),
        DatadogSource(deps),
    ]
