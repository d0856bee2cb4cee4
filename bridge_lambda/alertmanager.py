"""Alertmanager's webhook notification (payload version "4"), parsed and checked, one alert at a time.

Alertmanager POSTs a group of alerts:

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing"|"resolved",
     "receiver": "...", "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "...",
     "alerts": [{"status": "firing"|"resolved", "labels": {...}, "annotations": {...},
                 "startsAt": "<rfc3339>", "endsAt": "<rfc3339>", "generatorURL": "...", "fingerprint": "..."}]}

Each alert is an `AlarmEvent` for the bridge's Incident writer (bridge_lambda/incidents.py), so
Alertmanager alerts get the same state record, episode naming and de-duplication as CloudWatch alarms:
firing = ALARM at `startsAt` (the episode's start: Alertmanager sends it again every repeat_interval,
unchanged, which is a duplicate), resolved = OK at `endsAt`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .alarm import InvalidRecord

if TYPE_CHECKING:
    from .config import BridgeConfig

# Prometheus / kube-state-metrics severity conventions → the Incident's severity
SEVERITY = {"critical": "critical", "page": "critical", "high": "high", "error": "high", "major": "high",
            "warning": "medium", "warn": "medium", "medium": "medium", "minor": "low", "low": "low", "info": "low",
            "none": "low"}
# A notification is nested 4 deep (body → alerts → alert → labels); anything much deeper is not Alertmanager's
MAX_DEPTH = 32
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # a Kubernetes object name (DNS subdomain)


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    am_fingerprint: str = Field(default="", alias="fingerprint", max_length=256)
    # from the group it came in
    receiver: str = ""
    external_url: str = ""
    group_key: str = ""

    created_by: ClassVar[str] = "incident-webhook"

    @field_validator("labels")
    @classmethod
    def _alertname(cls, v: dict[str, str]) -> dict[str, str]:
        if not v.get("alertname"):
            raise ValueError("labels.alertname is missing")
        return v

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return v

    # --- AlarmEvent -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.labels["alertname"][:255]

    @property
    def new_state(self) -> str:
        return "ALARM" if self.status == "firing" else "OK"

    @property
    def changed_at(self) -> datetime:
        return self.starts_at if self.status == "firing" else self.ends_at  # type: ignore[return-value]

    @property
    def reason(self) -> str | None:
        parts = [self.annotations.get(k) for k in ("summary", "description", "message")]
        return " — ".join(p for p in parts if p) or None

    def fingerprint(self) -> str:
        """Same label set = same alert (as Alertmanager's own fingerprint), kept apart from CloudWatch's."""
        key = json.dumps(["alertmanager", sorted(self.labels.items())], separators=(",", ":"))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def incident_severity(self, cfg: "BridgeConfig") -> str:
        by_label = SEVERITY.get((self.labels.get("severity") or "").lower())
        return by_label or cfg.severity_for(self.name)

    def incident_target(self) -> dict[str, str]:
        """namespace / pod / deployment / node / cluster labels (kube-state-metrics and Prometheus
        conventions); a value that cannot be a Kubernetes name stays in the dimensions only."""
        lb = self.labels
        ok = lambda v: bool(v) and len(v) <= 253 and bool(NAME.match(v))  # noqa: E731
        t: dict[str, str] = {}
        if ok(lb.get("namespace", "")) and len(lb["namespace"]) <= 63 and "." not in lb["namespace"]:
            t["namespace"] = lb["namespace"]
        if lb.get("cluster"):
            t["cluster"] = lb["cluster"][:100]
        if ok(lb.get("pod", "")):
            t["pod"] = lb["pod"]
        elif ok(lb.get("deployment", "")):
            t["kind"], t["name"] = "Deployment", lb["deployment"]
        elif ok(lb.get("statefulset", "")):
            t["kind"], t["name"] = "StatefulSet", lb["statefulset"]
        elif ok(lb.get("daemonset", "")):
            t["kind"], t["name"] = "DaemonSet", lb["daemonset"]
        elif ok(lb.get("job_name", "")):
            t["kind"], t["name"] = "Job", lb["job_name"]
        if lb.get("node"):
            t["node"] = lb["node"][:253]
            if "kind" not in t and "pod" not in t and ok(lb["node"]):
                t["kind"], t["name"] = "Node", lb["node"]
        return t

    def incident_alarm(self, raw: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "state": self.new_state, "reason": (self.reason or "")[:4000],
            "metric": {"name": self.name, "namespace": "Prometheus/Alertmanager"},
            "dimensions": {k[:255]: v[:1024] for k, v in list(self.labels.items())[:60]},
            "timestamp": _iso(self.starts_at),
        }
        if raw is not None:
            out["raw"] = raw
        return out

    def raw(self) -> str:
        """The alert as delivered, with the group's receiver and URLs (what spec.alarm.raw keeps)."""
        return json.dumps({
            "receiver": self.receiver, "externalURL": self.external_url, "groupKey": self.group_key,
            "status": self.status, "labels": self.labels, "annotations": self.annotations,
            "startsAt": _iso(self.starts_at), "endsAt": _iso(self.ends_at) if self.ends_at else None,
            "generatorURL": self.generator_url, "fingerprint": self.am_fingerprint}, ensure_ascii=False)

    def message_id(self) -> str:
        return f"alertmanager:{self.am_fingerprint or self.fingerprint()}:{_iso(self.changed_at)}"


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Payload(BaseModel):
    """The group, checked; its alerts are checked one by one (a bad one does not spoil the rest)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    version: str
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default={}, alias="groupLabels")
    common_labels: dict[str, str] = Field(default={}, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default={}, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Any]  # any number: the receiver applies them in bounded pieces (operator/incident_operator/webhook.py)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether any value sits more than `limit` containers down (iterative: no recursion to exhaust)."""
    level: list[Any] = [data]
    for _ in range(limit):
        level = [v for c in level if isinstance(c, (dict, list)) for v in (c.values() if isinstance(c, dict) else c)]
        if not level:
            return False
    return any(isinstance(v, (dict, list)) for v in level)


def parse_payload(body: bytes) -> Payload:
    """The notification, or InvalidRecord saying what is wrong with it."""
    deep = f"body is JSON nested deeper than {MAX_DEPTH} levels (an Alertmanager notification is 4)"
    try:
        data = json.loads(body)
    except RecursionError:  # the decoder's own limit (~1000 levels): the same answer as the bound below
        raise InvalidRecord(deep) from None
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"body is not JSON: {exc}") from None
    if _too_deep(data):
        raise InvalidRecord(deep)
    if not isinstance(data, dict):
        raise InvalidRecord("body is not a JSON object")
    if data.get("version") != "4":
        raise InvalidRecord(f"unsupported webhook payload version {data.get('version')!r} (expected \"4\")")
    try:
        return Payload.model_validate(data)
    except ValidationError as exc:
        raise InvalidRecord(f"not an Alertmanager notification: {_errors(exc)}") from None


def parse_alert(payload: Payload, item: Any) -> AlertmanagerAlert:
    if not isinstance(item, dict):
        raise InvalidRecord("alert is not a JSON object")
    try:
        alert = AlertmanagerAlert.model_validate({**item, "receiver": payload.receiver,
                                                  "external_url": payload.external_url, "group_key": payload.group_key})
    except ValidationError as exc:
        name = (item.get("labels") or {}).get("alertname") if isinstance(item.get("labels"), dict) else None
        raise InvalidRecord(f"alert {name or '?'}: {_errors(exc)}") from None
    if alert.status == "resolved" and (alert.ends_at is None or alert.ends_at.year < 2000):
        raise InvalidRecord(f"alert {alert.name}: resolved without endsAt")
    if not (2000 <= alert.starts_at.year <= 2200):
        raise InvalidRecord(f"alert {alert.name}: startsAt {alert.starts_at.isoformat()} is out of range")
    return alert


__all__ = ["AlertmanagerAlert", "Payload", "parse_payload", "parse_alert", "SEVERITY"]
