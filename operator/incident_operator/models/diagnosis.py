"""What the analysis produces: ranked causes with their evidence, a timeline, a guide."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import CamelModel as _Model

RemediationAction = Literal["delete-cpu-burner", "rollback-image", "restore-replicas"]


class ResourceRef(_Model):
    """A Kubernetes object."""

    kind: str = Field(description="Its kind, e.g. Deployment")
    name: str = Field(description="Its name")
    namespace: str | None = Field(default=None, description="Its namespace (none for cluster-scoped objects)")

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


class EvidenceItem(_Model):
    """One piece of evidence."""

    source: str = Field(description="cluster, cloudwatch, opensearch, datadog, alarm")
    text: str = Field(description="What was seen, in Korean")
    ref: str | None = Field(default=None, description="The object or query it came from")


class RemediationProposal(_Model):
    """A native fix for a known cause."""

    action: RemediationAction = Field(description="delete-cpu-burner, rollback-image or restore-replicas")
    target: ResourceRef = Field(description="The object it acts on")
    params: dict[str, str | int | list[str]] = Field(default={}, description="The action's parameters, e.g. pods, toRevision, images, replicas")
    reason: str = Field(default="", description="Why, Korean")


class Cause(_Model):
    kind: str = Field(description="Analyzer kind, e.g. cpu-burner, image-pull")
    title: str = Field(description="One line, Korean")
    confidence: float = Field(ge=0, le=1)
    resource: ResourceRef | None = None
    evidence: list[EvidenceItem] = []
    remediation: RemediationProposal | None = None
    immediate_actions: list[str] = []
    long_term: list[str] = []


class TimelineEntry(_Model):
    """Something that happened."""

    time: datetime = Field(description="When (RFC 3339)")
    text: str = Field(description="What, Korean")
    source: str = Field(default="cluster", description="Where it was seen: cluster, cloudwatch, opensearch, ...")


class Anomaly(_Model):
    """Something unusual in the window: a metric spike, a warning Event, a restarting container, metrics moving together."""

    time: datetime | None = Field(default=None, description="When, if known")
    source: str = Field(description="cluster, cloudwatch or opensearch")
    text: str = Field(description="What, Korean")
    score: float | None = Field(default=None, description="Standard deviations above the mean, or a correlation coefficient")


class SimilarIncident(_Model):
    """A past Incident like this one, and how it ended."""

    name: str = Field(description="namespace/name")
    alarm: str | None = Field(default=None, description="Its alarm")
    top_cause: str | None = Field(default=None, description="Its top cause")
    phase: str | None = Field(default=None, description="Its phase")
    outcome: str | None = Field(default=None, description="remediated / needs-action / recovered")
    actions: list[str] = Field(default=[], description="Its actions, action:state")
    created_at: datetime | None = Field(default=None, description="When it was created")
    match: list[str] = Field(default=[], description="What it has in common with this one (Korean): same alarm, workload, cause")


class Diagnosis(_Model):
    engine: Literal["rules", "llm"] = "rules"
    causes: list[Cause] = []
    timeline: list[TimelineEntry] = []
    immediate_actions: list[str] = []
    long_term: list[str] = []
    remediation: RemediationProposal | None = Field(
        default=None, description="The action chosen when it is not the top cause's own (a grounded proposal the model kept)")

    @property
    def top(self) -> Cause | None:
        return self.causes[0] if self.causes else None
