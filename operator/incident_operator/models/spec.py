"""The Incident spec, as the CRD defines it (crds/incident.yaml is generated from these models: `make crd`).

`api(...)` holds constraints only the API server enforces (patterns, lengths): the operator stays lenient
with what it builds from alarms, and the CRD rejects bad input at `kubectl apply` time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

Severity = Literal["critical", "high", "medium", "low"]
RemediationMode = Literal["auto", "approve", "dry-run", "off"]
TargetKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Node", "Job", "CronJob",
                     "Service", "PersistentVolumeClaim", "Namespace"]
AlarmState = Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# a dimension / attribute value (CloudWatch allows up to 1024 characters)
DimensionValue = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 1024})]


def api(**constraints: Any) -> dict[str, Any]:
    """JSON Schema keywords for the CRD (enforced by the API server, not by the operator)."""
    return constraints


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class AlarmMetric(_Model):
    """The metric the alarm watches."""

    name: str | None = Field(default=None, description="Metric name, e.g. pod_cpu_utilization", json_schema_extra=api(maxLength=255))
    namespace: str | None = Field(default=None, description="Metric namespace, e.g. ContainerInsights", json_schema_extra=api(maxLength=255))
    statistic: str | None = Field(default=None, description="Average, Maximum, ...", json_schema_extra=api(maxLength=64))
    period: int | None = Field(default=None, description="Seconds per datapoint", json_schema_extra=api(minimum=1))
    evaluation_periods: int | None = Field(default=None, alias="evaluationPeriods", description="Datapoints evaluated",
                                           json_schema_extra=api(minimum=1))
    comparison_operator: str | None = Field(default=None, alias="comparisonOperator", description="e.g. GreaterThanThreshold",
                                            json_schema_extra=api(maxLength=64))


class Contributor(_Model):
    """One contributor (time series) of a multi-time-series alarm."""

    id: str | None = Field(default=None, description="CloudWatch's AlarmContributorId", json_schema_extra=api(maxLength=256))
    attributes: dict[str, DimensionValue] = Field(default={}, description="Its GROUP BY values, e.g. Namespace, PodName")


class Alarm(_Model):
    """The CloudWatch alarm as received."""

    name: str = Field(description="The alarm's name", json_schema_extra=api(minLength=1, maxLength=255))
    state: AlarmState = Field(default="ALARM", description="The alarm's new state")
    previous_state: AlarmState | None = Field(default=None, alias="previousState", description="The state it left")
    reason: str | None = Field(default=None, description="CloudWatch's state change reason", json_schema_extra=api(maxLength=4000))
    metric: AlarmMetric = Field(default=AlarmMetric(), description="The metric the alarm watches")
    dimensions: dict[str, DimensionValue] = Field(default={}, description="The metric's dimensions (ClusterName, Namespace, PodName, ...)")
    threshold: float | None = Field(default=None, description="The alarm's threshold")
    timestamp: datetime | None = Field(default=None, description="When the state changed (RFC 3339)")
    arn: str | None = Field(default=None, description="The alarm's ARN",
                            json_schema_extra=api(pattern="^arn:aws[a-zA-Z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.+$"))
    region: str | None = Field(default=None, description="The alarm's AWS region", json_schema_extra=api(pattern="^[a-z]{2}(-[a-z]+)+-[0-9]+$"))
    raw: str | None = Field(default=None, exclude=True, json_schema_extra=api(maxLength=65536),
                            description="The alarm message exactly as SNS delivered it (JSON text), when it fits.")
    query: str | None = Field(default=None, json_schema_extra=api(maxLength=4000),
                              description="The Metrics Insights query the alarm evaluates (multi-time-series alarms).")
    contributor: Contributor | None = Field(default=None, exclude=True,
                                            description="The contributor (time series) of a multi-time-series alarm this Incident is about.")
    raw_config_map: str | None = Field(default=None, alias="rawConfigMap", exclude=True, json_schema_extra=api(maxLength=253),
                                       description="A larger notification, kept whole (gzip) in this ConfigMap owned by the Incident.")


class Target(_Model):
    """What is affected. Inferred from the alarm when absent."""

    namespace: str | None = Field(default=None, description="Namespace of the workload", json_schema_extra=api(pattern=DNS_LABEL, maxLength=63))
    kind: TargetKind | None = Field(default=None, description="Kind of the target: a workload, a Pod, a Node, a Service, a PersistentVolumeClaim or a whole Namespace")
    name: str | None = Field(default=None, description="Name of the workload (or node, for kind Node)",
                             json_schema_extra=api(pattern=DNS_SUBDOMAIN, maxLength=253))
    pod: str | None = Field(default=None, description="A pod, when no workload is known", json_schema_extra=api(pattern=DNS_SUBDOMAIN, maxLength=253))
    node: str | None = Field(default=None, description="The node involved", json_schema_extra=api(maxLength=253))
    cluster: str | None = Field(default=None, description="The EKS cluster name (Container Insights ClusterName)", json_schema_extra=api(maxLength=100))

    @model_validator(mode="after")
    def _namespace_target_is_its_namespace(self) -> "Target":
        """A Namespace target is the whole namespace: `{kind: Namespace, name: shop}` reads as namespace shop."""
        if self.kind == "Namespace" and self.name and not self.namespace:
            self.namespace = self.name
        return self


class Options(_Model):
    """How to handle this Incident."""

    remediation: RemediationMode = Field(default="auto", description="auto: apply known fixes; approve: propose them and wait for a named person's approval (an IncidentApproval, `incident-operator approve NAME`); dry-run: only record them; off: never. The cluster's and the namespace's RemediationPolicy may only make this stricter")
    language: Literal["ko"] = Field(default="ko", description="Language of the report")
    window_minutes: int = Field(default=30, alias="windowMinutes", ge=5, le=1440,
                                description="Evidence is collected from the alarm time minus this to plus this")


class Recovery(_Model):
    """Set when the alarm returned to OK."""

    recovered_at: datetime | None = Field(default=None, alias="recoveredAt", description="When the alarm returned to OK")
    reason: str | None = Field(default=None, description="CloudWatch's reason", json_schema_extra=api(maxLength=4000))


class IncidentSpec(_Model):
    """What the Incident is about: an alarm (from the bridge Lambda), or a manual target."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.source != 'alarm' || has(self.alarm)", "message": "spec.alarm is required when spec.source is 'alarm'"},
        {"rule": "self.source != 'manual' || has(self.target)", "message": "spec.target is required when spec.source is 'manual'"},
    ]})

    source: Literal["alarm", "manual"] = Field(description="What started this Incident.")
    severity: Severity = Field(default="high", description="How bad it is")
    summary: str | None = Field(default=None, description="Free text from whoever opened the Incident (manual source).",
                                json_schema_extra=api(maxLength=2000))
    alarm: Alarm | None = Field(default=None, description="The CloudWatch alarm as received.")
    target: Target = Field(default=Target(), description="What is affected. Inferred from the alarm when absent.")
    options: Options = Field(default=Options(), description="How to handle this Incident", json_schema_extra={"x-crd-default": {}})
    recovery: Recovery | None = Field(default=None, description="Set when the alarm returned to OK.")

    @property
    def title(self) -> str:
        """The name people know the incident by: the alarm's, or the manual target's."""
        if self.alarm:
            return self.alarm.name
        t = self.target
        return "/".join(x for x in (t.namespace, t.kind, t.name or t.pod or t.node) if x) or "manual"
