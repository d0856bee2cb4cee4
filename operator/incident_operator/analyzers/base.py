"""The one interface every analyzer implements, and small helpers they share."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Iterator

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import ContainerEvidence, DeploymentEvidence, EvidenceBundle, EventEvidence, PodEvidence


class Analyzer(ABC):
    """Looks at an evidence bundle for one kind of failure and returns the causes it can prove."""

    kind: str  # stable id, e.g. "cpu-burner"
    title: str  # Korean name of the failure kind

    @abstractmethod
    def analyze(self, bundle: EvidenceBundle) -> list[Cause]: ...


def metric_name(bundle: EvidenceBundle) -> str:
    return (bundle.alarm.metric.name or "") if bundle.alarm else ""


def alarm_mentions(bundle: EvidenceBundle, *words: str) -> bool:
    name = metric_name(bundle).lower() + " " + ((bundle.alarm.name or "").lower() if bundle.alarm else "")
    return any(w in name for w in words)


def pod_containers(bundle: EvidenceBundle) -> Iterator[tuple[PodEvidence, ContainerEvidence]]:
    for pod in bundle.cluster.pods:
        for c in pod.containers:
            yield pod, c


def workload_ref(pod: PodEvidence) -> ResourceRef:
    if pod.workload_kind and pod.workload_name:
        return ResourceRef(kind=pod.workload_kind, name=pod.workload_name, namespace=pod.namespace)
    return ResourceRef(kind="Pod", name=pod.name, namespace=pod.namespace)


def pod_ref(pod: PodEvidence) -> str:
    return f"Pod/{pod.namespace}/{pod.name}"


def deployment_for(bundle: EvidenceBundle, ref: ResourceRef) -> DeploymentEvidence | None:
    if ref.kind != "Deployment":
        return None
    return next((d for d in bundle.cluster.deployments
                 if d.name == ref.name and d.namespace == ref.namespace), None)


def events_matching(bundle: EvidenceBundle, reasons: set[str] | None = None,
                    pattern: str | None = None) -> list[EventEvidence]:
    rx = re.compile(pattern, re.I) if pattern else None
    return [e for e in bundle.cluster.events
            if (reasons is None or e.reason in reasons) and (rx is None or rx.search(e.message or ""))]


def event_item(e: EventEvidence) -> EvidenceItem:
    times = f" ×{e.count}" if e.count > 1 else ""
    return EvidenceItem(source="cluster", text=f"Event {e.reason}{times}: {(e.message or '')[:300]}",
                        ref=f"{e.object_kind}/{e.namespace}/{e.object_name}")


def group_by_workload(pairs: list[tuple[PodEvidence, ContainerEvidence]]) -> dict[str, list[tuple[PodEvidence, ContainerEvidence]]]:
    groups: dict[str, list] = {}
    for pod, c in pairs:
        groups.setdefault(str(workload_ref(pod)), []).append((pod, c))
    return groups


def millicores(q: str | None) -> float | None:
    """A CPU quantity (`250m`, `2`, `0.5`) in millicores; None when absent or not a quantity."""
    if not q:
        return None
    try:
        return float(q[:-1]) if q.endswith("m") else float(q) * 1000
    except ValueError:
        return None


def clamp(x: float) -> float:
    return max(0.0, min(1.0, round(x, 3)))


def metric_peak(bundle: EvidenceBundle, metric: str, **dims: str) -> float | None:
    """The highest value of a collected metric series whose dimensions include `dims`."""
    peaks = [max(p.value for p in m.points) for m in bundle.metrics
             if m.name == metric and m.points and all(m.dimensions.get(k) == v for k, v in dims.items())]
    return max(peaks) if peaks else None
