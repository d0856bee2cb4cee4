"""What a phase works with: the Incident as stored, its parsed spec, and the services it may call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..evidence_store import load as load_evidence
from ..kube.client import Kube
from ..kube.events import EventRecorder
from ..kube.incidents import IncidentStore, combine_patches, deep_merge
from ..models.evidence import EvidenceBundle
from ..models.spec import IncidentSpec
from ..redact import redact_data
from ..report.sinks import ReportSink
from ..settings import Settings
from ..kube.evidence import ClusterCollector
from ..sources import ClusterSource, EvidenceSource
from ..tools.base import ToolDeps


@dataclass
class PhaseContext:
    kube: Kube
    settings: Settings
    store: IncidentStore
    incident: dict[str, Any]
    spec: IncidentSpec | None  # parsed by the pipeline before any phase runs
    events: EventRecorder
    sink: ReportSink
    sources: list[EvidenceSource]
    deps: ToolDeps | None = None
    logger: logging.Logger | logging.LoggerAdapter = field(default_factory=lambda: logging.getLogger("incident_operator"))
    _bundle: EvidenceBundle | None = None
    _deferred: dict[str, Any] = field(default_factory=dict)  # status known here, written with the next write
    similar_lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # label selector -> Incidents
    extra_sinks: list[ReportSink] = field(default_factory=list)  # further report sinks (Slack beside GitHub)

    @property
    def name(self) -> str:
        return self.incident["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.incident["metadata"]["namespace"]

    @property
    def status(self) -> dict[str, Any]:
        return self.incident.setdefault("status", {})

    @property
    def annotations(self) -> dict[str, str]:
        return self.incident["metadata"].get("annotations") or {}

    def comment_key(self, name: str) -> str:
        """Report comments are posted once per analysis run; a re-run posts its own."""
        run = int(self.status.get("run") or 1)
        return name if run == 1 else f"{name}-run{run}"

    def patch_status(self, patch: dict[str, Any], *, guarded: bool = False) -> None:
        """Patch status in the API and in memory (with whatever was deferred). `guarded`: fail with 409 if
        the Incident moved on."""
        meta = self.incident["metadata"]
        clean = redact_data(patch)  # what the API stores is what the context keeps
        body = combine_patches(self._deferred, clean) if self._deferred else clean
        stored = self.store.patch_status(self.namespace, self.name, body,
                                         meta.get("resourceVersion") if guarded else None, redacted=True)
        meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
        self._deferred = {}
        deep_merge(self.status, clean)

    def set_labels(self, labels: dict[str, str | None]) -> None:
        """Label the Incident (None takes a label off). Our own write moves resourceVersion on; the next guarded
        status write should not take it for someone else's (that would cost a conflict, a re-read and a second write)."""
        stored = self.store.patch(self.namespace, self.name, {"metadata": {"labels": labels}})
        meta = self.incident["metadata"]
        meta["labels"] = {k: v for k, v in {**(meta.get("labels") or {}), **labels}.items() if v is not None}
        holder = ((stored.get("status") or {}).get("claim") or {}).get("holder")
        if holder in (None, self.settings.identity):  # nobody else claimed it meanwhile
            meta["resourceVersion"] = stored["metadata"]["resourceVersion"]

    def defer_status(self, patch: dict[str, Any]) -> None:
        """Known now, written with the next status write (the next phase's start, or the finish): one
        write per phase instead of two. Phases are idempotent, so a crash in between only re-runs one."""
        clean = redact_data(patch)
        self._deferred = combine_patches(self._deferred, clean)
        deep_merge(self.status, clean)

    def flush_status(self) -> None:
        if self._deferred:
            self.patch_status({})

    def cluster_collector(self) -> ClusterCollector:
        """The cluster evidence source's collector (what it reads once serves every phase of this run)."""
        source = next((s for s in self.sources if isinstance(s, ClusterSource)), None)
        if source is not None:
            return source.collector
        return self.deps.cluster_collector() if self.deps else ClusterCollector(self.kube)

    def evidence(self) -> EvidenceBundle:
        if self._bundle is None:
            stored = (self.status.get("evidence") or {}).get("configMap")
            self._bundle = load_evidence(self.kube, self.namespace, self.name, stored)
            if self._bundle is None:
                raise RuntimeError("수집된 증거를 찾을 수 없습니다 (evidence ConfigMap 없음)")
        return self._bundle

    def remember_evidence(self, bundle: EvidenceBundle) -> None:
        self._bundle = bundle
