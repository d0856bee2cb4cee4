"""Evidence sources for the collect phase. Each may fail on its own; the phase records the outcome."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .kube.client import Kube
from .kube.evidence import ClusterCollector
from .models.evidence import ClusterEvidence, LogEntry, MetricSeries, TimeWindow
from .models.spec import Alarm, Target
from .settings import Settings


class NotConfigured(Exception):
    """The source has no endpoint or credentials; the phase moves on."""


@dataclass
class SourceResult:
    cluster: ClusterEvidence | None = None
    metrics: list[MetricSeries] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)

    @property
    def items(self) -> int:
        c = self.cluster
        n = (len(c.pods) + len(c.events) + len(c.deployments) + len(c.nodes)) if c else 0
        return n + len(self.metrics) + len(self.logs)


class EvidenceSource(ABC):
    name: str

    @abstractmethod
    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult: ...


class ClusterSource(EvidenceSource):
    name = "kubernetes"

    def __init__(self, kube: Kube, settings: Settings):
        self.collector = ClusterCollector(kube, max_pods=settings.max_pods, max_events=settings.max_events,
                                          log_tail_lines=settings.log_tail_lines)

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        return SourceResult(cluster=self.collector.collect(target))


class UnconfiguredSource(EvidenceSource):
    """A source whose tool layer is not set up in this deployment (CloudWatch, OpenSearch, Datadog)."""

    def __init__(self, name: str, hint: str):
        self.name = name
        self.hint = hint

    def collect(self, target: Target, alarm: Alarm | None, window: TimeWindow) -> SourceResult:
        raise NotConfigured(self.hint)


def default_sources(kube: Kube, settings: Settings) -> list[EvidenceSource]:
    return [
        ClusterSource(kube, settings),
        UnconfiguredSource("cloudwatch", "Container Insights 설정 없음"),
        UnconfiguredSource("opensearch", "OpenSearch 엔드포인트 설정 없음"),
        UnconfiguredSource("datadog", "Datadog API 키 없음"),
    ]
