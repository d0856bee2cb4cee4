"""What the analysis produces: ranked causes with their evidence, a timeline, a guide."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import CamelModel as _Model

RemediationAction = Literal["delete-cpu-burner", "rollback-image", "restore-replicas"]


class ResourceRef(_Model):
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


class EvidenceItem(_Model):
    source: str = Field(description="cluster, cloudwatch, opensearch, datadog, alarm")
    text: str = Field(description="What was seen, in Korean")
    ref: str | None = Field(default=None, description="The object or query it came from")


class RemediationProposal(_Model):
    action: RemediationAction
    target: ResourceRef
    params: dict[str, str | int | list[str]] = {}
    reason: str = ""


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
    time: datetime
    text: str
    source: str = "cluster"


class Anomaly(_Model):
    time: datetime | None = None
    source: str
    text: str
    score: float | None = None


class SimilarIncident(_Model):
    name: str
    alarm: str | None = None
    top_cause: str | None = None
    phase: str | None = None
    outcome: str | None = Field(default=None, description="remediated / needs-action / recovered")
    actions: list[str] = []
    created_at: datetime | None = None
    match: list[str] = []


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
