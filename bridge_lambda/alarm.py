"""The CloudWatch alarm notification, parsed and checked, and what the Incident takes from it."""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from .config import BridgeConfig

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

DNS_MAX = 63
REGION_CODE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")  # as the Incident CRD's spec.alarm.region


class InvalidRecord(ValueError):
    """A record that will never succeed: reported, not retried."""


class AlarmEvent(Protocol):
    """What the state record and the Incident writer need from an alarm notification, whatever its
    source (a CloudWatch alarm through SNS, an Alertmanager alert through the webhook receiver)."""

    name: str
    new_state: str  # ALARM / OK / INSUFFICIENT_DATA
    changed_at: datetime  # when that state began: one episode per (fingerprint, ALARM time)
    reason: str | None
    created_by: str

    def fingerprint(self) -> str: ...

    def incident_alarm(self, raw: str | None) -> dict[str, Any]: ...

    def incident_target(self) -> dict[str, str]: ...

    def incident_severity(self, cfg: "BridgeConfig") -> str: ...


class Dimension(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    value: str


class _MetricDimension(BaseModel):
    """A dimension inside Trigger.Metrics[].MetricStat.Metric (SNS writes name/value; the API Name/Value)."""
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: StrictStr = Field(validation_alias=AliasChoices("name", "Name"))
    value: StrictStr = Field(validation_alias=AliasChoices("value", "Value"))


class _MetricRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    MetricName: StrictStr | None = None
    Namespace: StrictStr | None = None
    Dimensions: list[_MetricDimension] = []


class _MetricStat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Metric: _MetricRef | None = None


class _MetricQuery(BaseModel):
    """One entry of Trigger.Metrics (a MetricDataQuery): only its shape is checked, the entry is kept as sent."""
    model_config = ConfigDict(extra="ignore")
    Id: StrictStr | None = None
    Expression: StrictStr | None = None
    MetricStat: _MetricStat | None = None


class Trigger(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    statistic: str | None = Field(default=None, alias="Statistic")
    dimensions: list[Dimension] = Field(default=[], alias="Dimensions")
    period: int | None = Field(default=None, alias="Period")
    evaluation_periods: int | None = Field(default=None, alias="EvaluationPeriods")
    threshold: float | None = Field(default=None, alias="Threshold")
    comparison_operator: str | None = Field(default=None, alias="ComparisonOperator")
    metrics: list[dict[str, Any]] = Field(default=[], alias="Metrics")

    @field_validator("metrics")
    @classmethod
    def _metric_queries(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A malformed entry (MetricStat or Metric not an object, Dimensions not a list of string name/value
        pairs, a non-string Expression or MetricName) is a bad record, rejected now, not an error later."""
        for i, m in enumerate(v):
            try:
                _MetricQuery.model_validate(m)
            except ValidationError as exc:
                e = exc.errors()[0]
                raise ValueError(f"Metrics[{i}].{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
        return v


class CloudWatchAlarm(BaseModel):
    """What CloudWatch sends to SNS on an alarm state change."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(alias="AlarmName", min_length=1, max_length=255)
    arn: str | None = Field(default=None, alias="AlarmArn")
    description: str | None = Field(default=None, alias="AlarmDescription")
    account: str | None = Field(default=None, alias="AWSAccountId")
    new_state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"] = Field(alias="NewStateValue")
    old_state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"] | None = Field(default=None, alias="OldStateValue")
    reason: str | None = Field(default=None, alias="NewStateReason")
    changed_at: datetime = Field(alias="StateChangeTime")
    region: str | None = Field(default=None, alias="Region")
    trigger: Trigger = Field(alias="Trigger")
    # one contributor (time series) of a multi-time-series alarm, e.g. {"Namespace": "shop", "PodName": "api"}
    contributor_id: str | None = Field(default=None, alias="AlarmContributorId", max_length=256)
    contributor_attributes: dict[str, str] = Field(default={}, alias="AlarmContributorAttributes")

    @field_validator("changed_at")
    @classmethod
    def _sane_time(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)  # CloudWatch sends +0000; a bare time is UTC
        if not (2000 <= v.year <= 2200):
            raise ValueError(f"StateChangeTime {v.isoformat()} is out of range (years 2000-2200)")
        return v

    @field_validator("trigger", mode="before")
    @classmethod
    def _finite_threshold(cls, v: Any) -> Any:
        if isinstance(v, dict) and isinstance(v.get("Threshold"), float) and not math.isfinite(v["Threshold"]):
            v = {**v, "Threshold": None}  # NaN / Infinity: no threshold rather than a record the API rejects
        return v

    @property
    def query(self) -> str | None:
        """The Metrics Insights query the alarm evaluates, if it is one."""
        return next((m["Expression"] for m in self.trigger.metrics
                     if isinstance(m.get("Expression"), str) and m["Expression"].lstrip().upper().startswith("SELECT")), None)

    @property
    def is_alarm_level(self) -> bool:
        """The alarm-level notification of a multi-time-series alarm: a Metrics Insights query with GROUP BY
        (one time series, one contributor, per group) and no AlarmContributorId. CloudWatch sends it beside
        the contributors' own notifications ("N out of M time series evaluated to ALARM"); it names no
        resource (its dimensions are the query's WHERE filters, e.g. ClusterName only)."""
        q = self.query
        if not q or self.contributor_id or self.contributor_attributes:
            return False
        return re.search(r"\bGROUP\s+BY\b", re.sub(r"'(?:[^']|'')*'", "''", q), re.I) is not None

    @property
    def dimensions(self) -> dict[str, str]:
        """The metric's dimensions, the WHERE filters of a Metrics Insights query (ClusterName), and the
        contributor's attributes (its GROUP BY values): together, what the alarm is about."""
        dims = {d.name: d.value for d in self.trigger.dimensions}
        if self.query:
            for key, value in re.findall(r"\b(\w+)\s*=\s*'((?:[^']|'')*)'", self.query):
                dims.setdefault(key, value.replace("''", "'"))
        dims.update(self.contributor_attributes)
        for m in self.trigger.metrics:  # metric-math alarms: the dimensions of their metric queries
            stat = (m.get("MetricStat") or {}).get("Metric") or {}
            for d in stat.get("Dimensions") or []:
                if "name" in d or "Name" in d:
                    dims.setdefault(d.get("name") or d.get("Name"), d.get("value") or d.get("Value"))
        return dims

    @property
    def metric_name(self) -> str | None:
        if self.trigger.metric_name:
            return self.trigger.metric_name
        if self.query:  # SELECT AVG(pod_cpu_utilization) FROM ...
            m = re.match(r"\s*SELECT\s+\w+\s*\(\s*\"?([\w.-]+)\"?\s*\)", self.query, re.I)
            if m:
                return m.group(1)
        for m in self.trigger.metrics:
            stat = (m.get("MetricStat") or {}).get("Metric") or {}
            if stat.get("MetricName"):
                return stat["MetricName"]
        return None

    @property
    def region_code(self) -> str | None:
        """CloudWatch sends the region's display name ("Asia Pacific (Seoul)"); the ARN has the code. Only a
        value shaped like a region code (the CRD's pattern): a placeholder such as AWS's recorded test events'
        `arn:aws:cloudwatch:REGION:…` must not get the whole notification rejected."""
        for candidate in ((self.arn.split(":")[3] if self.arn and self.arn.count(":") >= 4 else None), self.region):
            if candidate and REGION_CODE.match(candidate):
                return candidate
        return None

    created_by: ClassVar[str] = "incident-bridge"  # the Incident's app.kubernetes.io/created-by

    def incident_alarm(self, raw: str | None) -> dict[str, Any]:
        return spec_alarm(self, raw)

    def incident_target(self) -> dict[str, str]:
        return target(self)

    def incident_severity(self, cfg: "BridgeConfig") -> str:
        return cfg.severity_for(self.name)

    def fingerprint(self) -> str:
        """Same alarm on the same resource = same fingerprint (ARN, or name, plus dimensions, which hold
        a contributor's attributes: one episode per contributor)."""
        key = json.dumps([self.arn or self.name, sorted(self.dimensions.items())], separators=(",", ":"))
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def parse_message(message: str) -> CloudWatchAlarm:
    try:
        data = json.loads(message)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"Message is not JSON: {exc}") from None
    if not isinstance(data, dict) or "AlarmName" not in data or "NewStateValue" not in data:
        raise InvalidRecord("Message is not a CloudWatch alarm notification (no AlarmName/NewStateValue)")
    name = str(data.get("AlarmName"))[:255]
    try:
        alarm = CloudWatchAlarm.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidRecord(f"alarm {name}: CloudWatch alarm notification is missing or has bad fields: {fields}") from None
    if not alarm.trigger.metric_name and not alarm.trigger.metrics:
        raise InvalidRecord(f"alarm {name}: unknown notification shape (Trigger has neither MetricName nor Metrics)")
    return alarm


def dns_label(text: str, limit: int) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)[:limit].strip("-")
    return s or "alarm"


def label_value(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:DNS_MAX].strip("-._")
    return s or "alarm"


def incident_name(alarm: CloudWatchAlarm) -> str:
    """DNS-1123, ≤ 63 characters, readable prefix + short unique suffix."""
    return f"{dns_label(alarm.name, DNS_MAX - 7)}-{secrets.token_hex(3)}"


def target(alarm: CloudWatchAlarm) -> dict[str, str]:
    return target_from_dimensions(alarm.dimensions)


K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def target_from_dimensions(dims: dict[str, str]) -> dict[str, str]:
    """The Incident target that Container Insights dimensions point at (the operator uses it too).

    A dimension that cannot be a Kubernetes name (`Shop_Prod`) is not a target; it stays in the
    alarm's dimensions, so nothing is lost and the Incident is still created."""
    t: dict[str, str] = {}
    if dims.get("Namespace") and len(dims["Namespace"]) <= 63 and K8S_NAME.match(dims["Namespace"]):
        t["namespace"] = dims["Namespace"]
    if dims.get("ClusterName"):
        t["cluster"] = dims["ClusterName"]
    if dims.get("PodName"):
        t["pod"] = dims["PodName"]
    elif dims.get("Service"):  # Container Insights' Service dimension is the Kubernetes Service
        t["kind"], t["name"] = "Service", dims["Service"]
    if dims.get("NodeName"):
        t["node"] = dims["NodeName"]
        if "kind" not in t and "pod" not in t:
            t["kind"], t["name"] = "Node", dims["NodeName"]
    return t


def spec_alarm(alarm: CloudWatchAlarm, raw: str | None) -> dict[str, Any]:
    """What the Incident's spec.alarm holds; `raw` (the notification, whole) when it fits inline."""
    tr = alarm.trigger
    out: dict[str, Any] = {
        "name": alarm.name, "state": alarm.new_state, "reason": (alarm.reason or "")[:4000],
        "metric": {k: v for k, v in {
            "name": alarm.metric_name, "namespace": tr.namespace, "statistic": tr.statistic, "period": tr.period,
            "evaluationPeriods": tr.evaluation_periods, "comparisonOperator": tr.comparison_operator}.items() if v is not None},
        "dimensions": {k: v[:1024] for k, v in alarm.dimensions.items()},
        "timestamp": alarm.changed_at.isoformat().replace("+00:00", "Z"),
    }
    if raw is not None:
        out["raw"] = raw
    if alarm.old_state:
        out["previousState"] = alarm.old_state
    if alarm.query:
        out["query"] = alarm.query[:4000]
    if alarm.contributor_id or alarm.contributor_attributes:
        out["contributor"] = {"id": alarm.contributor_id or "",
                              "attributes": {k[:255]: v[:1024] for k, v in list(alarm.contributor_attributes.items())[:30]}}
    if tr.threshold is not None and math.isfinite(tr.threshold):
        out["threshold"] = tr.threshold
    if alarm.arn and re.match(r"^arn:aws[a-zA-Z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.+$", alarm.arn):
        out["arn"] = alarm.arn
    region = alarm.region_code
    if region:
        out["region"] = region
    return out
