"""The Incident spec, as the CRD defines it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import model_validator, BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low"]
RemediationMode = Literal["auto", "dry-run", "off"]
TargetKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Node", "Job", "CronJob",
                     "Service", "PersistentVolumeClaim", "Namespace"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class AlarmMetric(_Model):
    name: str | None = None
    namespace: str | None = None
    statistic: str | None = None
    period: int | None = None
    evaluation_periods: int | None = Field(default=None, alias="evaluationPeriods")
    comparison_operator: str | None = Field(default=None, alias="comparisonOperator")


class Alarm(_Model):
    name: str
    state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"] = "ALARM"
    previous_state: str | None = Field(default=None, alias="previousState")
    reason: str | None = None
    metric: AlarmMetric = AlarmMetric()
    dimensions: dict[str, str] = {}
    threshold: float | None = None
    timestamp: datetime | None = None
    arn: str | None = None
    region: str | None = None
    query: str | None = Field(default=None, description="Metrics Insights query of a multi-time-series alarm")


class Target(_Model):
    namespace: str | None = None
    kind: TargetKind | None = None
    name: str | None = None
    pod: str | None = None
    node: str | None = None
    cluster: str | None = None

    @model_validator(mode="after")
    def _namespace_target_is_its_namespace(self) -> "Target":
        """A Namespace target is the whole namespace: `{kind: Namespace, name: shop}` reads as namespace shop."""
        if self.kind == "Namespace" and self.name and not self.namespace:
            self.namespace = self.name
        return self


class Options(_Model):
    remediation: RemediationMode = "auto"
    language: Literal["ko"] = "ko"
    window_minutes: int = Field(default=30, alias="windowMinutes", ge=5, le=1440)


class Recovery(_Model):
    recovered_at: datetime | None = Field(default=None, alias="recoveredAt")
    reason: str | None = None


class IncidentSpec(_Model):
    source: Literal["alarm", "manual"]
    severity: Severity = "high"
    summary: str | None = None
    alarm: Alarm | None = None
    target: Target = Target()
    options: Options = Options()
    recovery: Recovery | None = None

    @property
    def title(self) -> str:
        """The name people know the incident by: the alarm's, or the manual target's."""
        if self.alarm:
            return self.alarm.name
        t = self.target
        return "/".join(x for x in (t.namespace, t.kind, t.name or t.pod or t.node) if x) or "manual"
