"""Creates, bumps and recovers Incidents: exactly one Incident per alarm episode.

An alarm (fingerprint: its ARN plus dimensions) has one *state record*, a small ConfigMap
`alarm-state-{fingerprint}` in the incident namespace, holding the last state transition applied
(state and CloudWatch's `StateChangeTime`), the episode it opened and its occurrence count. Every
notification is decided against that record:

- older than the record (a redelivery, or an ALARM overtaken by its OK): nothing changes, at any
  distance, with O(1) memory per alarm; an ALARM whose episode was never opened because its OK came
  first opens that episode already recovered, so nothing is lost;
- the same transition again (same state and time, e.g. SNS redelivery, a Lambda retry): duplicate;
- a newer ALARM with no open episode: a new Incident, named from the fingerprint and the transition
  time (so concurrent deliveries of one transition collide on the name and never make two, and a
  deleted episode's name is never needed again); a newer ALARM while open: occurrences + 1;
- a newer OK: `spec.recovery` on the open episode.

The side effect (create / annotate / recover) is idempotent and done before the record moves on; the
record is written with its resourceVersion, so concurrent invocations serialise on it and a crash in
between is repaired by the retry.
"""

from __future__ import annotations

import gzip
import hashlib
import base64
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from kubernetes import client

from .alarm import AlarmEvent, dns_label, label_value
from .config import BridgeConfig

GROUP, VERSION, PLURAL = "netaiops.io", "v1alpha1", "incidents"
LABEL_FINGERPRINT = "netaiops.io/fingerprint"
LABEL_ALARM = "netaiops.io/alarm"
ANN_OCCURRENCES = "netaiops.io/occurrences"
ANN_FIRST_SEEN = "netaiops.io/first-seen"
ANN_LAST_SEEN = "netaiops.io/last-seen"
ANN_MESSAGE = "netaiops.io/sns-message-id"  # the notification that opened the episode
# on an Incident the operator has finished with (it no longer watches it); a recovery takes it off
LABEL_ARCHIVED = "netaiops.io/archived"
STATE_PREFIX = "alarm-state-"
RAW_KEY = "notification.json.gz"
RAW_INLINE_MAX = 65536  # the CRD's limit for spec.alarm.raw; larger ones go to a ConfigMap, whole
MAX_CONFLICT_RETRIES = 30

Outcome = Literal["created", "bumped", "duplicate", "stale", "recovered", "no-open-incident", "ignored"]


@dataclass
class WriteResult:
    outcome: Outcome
    incident: str | None = None
    occurrences: int | None = None


@dataclass
class AlarmState:
    """The last transition applied for one fingerprint."""

    state: str | None = None
    changed_at: str | None = None  # ISO 8601 (UTC) StateChangeTime of that transition
    incident: str | None = None  # the latest episode
    opened_at: str | None = None  # StateChangeTime of the ALARM that opened it
    occurrences: int = 0
    recovered_at: str | None = None  # StateChangeTime of the OK that ended it
    resource_version: str | None = None

    @classmethod
    def from_configmap(cls, cm: client.V1ConfigMap | None) -> "AlarmState":
        if cm is None:
            return cls()
        d = cm.data or {}
        return cls(state=d.get("state"), changed_at=d.get("changedAt"), incident=d.get("incident") or None,
                   opened_at=d.get("openedAt") or None, occurrences=int(d.get("occurrences") or 0),
                   recovered_at=d.get("recoveredAt") or None,
                   resource_version=cm.metadata.resource_version)

    def data(self) -> dict[str, str]:
        return {k: v for k, v in {"state": self.state, "changedAt": self.changed_at, "incident": self.incident,
                                  "openedAt": self.opened_at, "occurrences": str(self.occurrences),
                                  "recoveredAt": self.recovered_at}.items() if v}


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(timezone.utc))


def _before(a: str, b: str) -> bool:
    return datetime.fromisoformat(a.replace("Z", "+00:00")) < datetime.fromisoformat(b.replace("Z", "+00:00"))


Decision = Literal["stale", "duplicate", "open", "open-recovered", "bump", "recover", "ok-without-episode"]


def decide(rec: AlarmState, state: str, at: str) -> Decision:
    """What a notification (`state` at `at`) means, given the last transition applied."""
    if rec.changed_at and _before(at, rec.changed_at):
        # an older transition: only an ALARM whose episode was never opened (its OK came first) counts;
        # one before the recorded episode's OK is that episode (ALARM t1, t2, t3, OK t4 delivered OK first: one)
        if state == "ALARM" and rec.state == "OK" and (not rec.opened_at or (
                _before(rec.opened_at, at) and (not rec.recovered_at or _before(rec.recovered_at, at)))):
            return "open-recovered"
        return "stale"
    if rec.changed_at == at and rec.state == state:
        return "duplicate"
    if state == "ALARM":
        return "bump" if rec.state == "ALARM" and rec.incident else "open"
    return "recover" if rec.state == "ALARM" and rec.incident else "ok-without-episode"


class IncidentWriter:
    def __init__(self, api: client.ApiClient, cfg: BridgeConfig):
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.cfg = cfg

    # ---- the state record ------------------------------------------------------------------
    def _state_name(self, fingerprint: str) -> str:
        return f"{STATE_PREFIX}{fingerprint}"

    def _read_state(self, fingerprint: str) -> AlarmState:
        try:
            return AlarmState.from_configmap(self.core.read_namespaced_config_map(self._state_name(fingerprint), self.cfg.namespace))
        except client.ApiException as exc:
            if exc.status == 404:
                return AlarmState()
            raise

    def _write_state(self, alarm: AlarmEvent, fingerprint: str, rec: AlarmState) -> bool:
        """False if someone else moved the record first (then the caller decides again)."""
        cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(
            name=self._state_name(fingerprint), namespace=self.cfg.namespace, resource_version=rec.resource_version,
            labels={LABEL_FINGERPRINT: fingerprint, LABEL_ALARM: label_value(alarm.name),
                    "app.kubernetes.io/managed-by": "incident-bridge"}), data=rec.data())
        try:
            if rec.resource_version:
                self.core.replace_namespaced_config_map(cm.metadata.name, self.cfg.namespace, cm)
            else:
                self.core.create_namespaced_config_map(self.cfg.namespace, cm)
            return True
        except client.ApiException as exc:
            if exc.status == 409:
                return False
            raise

    # ---- Incidents -------------------------------------------------------------------------
    def episode_name(self, alarm: AlarmEvent, fingerprint: str, at: str) -> str:
        """Readable prefix, then a hash of the fingerprint and the transition: one name per episode."""
        suffix = hashlib.sha256(f"{fingerprint}|{at}".encode()).hexdigest()[:10]
        return f"{dns_label(alarm.name, 63 - len(suffix) - 1)}-{suffix}"

    def _body(self, alarm: AlarmEvent, raw: str, fingerprint: str, name: str, message_id: str,
              recovery: dict[str, str] | None) -> dict[str, Any]:
        now = _now()
        spec: dict[str, Any] = {"source": "alarm", "severity": alarm.incident_severity(self.cfg),
                                "alarm": alarm.incident_alarm(raw if len(raw) <= RAW_INLINE_MAX else None),
                                "options": {"remediation": self.cfg.remediation}}
        if len(raw) > RAW_INLINE_MAX:
            spec["alarm"]["rawConfigMap"] = f"{name}-alarm"
        t = alarm.incident_target()
        if t:
            spec["target"] = t
        if recovery:
            spec["recovery"] = recovery
        return {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Incident",
            "metadata": {"name": name, "namespace": self.cfg.namespace,
                         "labels": {LABEL_FINGERPRINT: fingerprint, LABEL_ALARM: label_value(alarm.name),
                                    "app.kubernetes.io/created-by": alarm.created_by},
                         "annotations": {ANN_OCCURRENCES: "1", ANN_FIRST_SEEN: now, ANN_LAST_SEEN: now,
                                         ANN_MESSAGE: message_id[:256]}},
            "spec": spec,
        }

    def _create(self, alarm: AlarmEvent, raw: str, fingerprint: str, name: str, message_id: str,
                recovery: dict[str, str] | None = None) -> None:
        """Create the episode's Incident (it may exist already: this transition, delivered again) and,
        for a large notification, the ConfigMap holding it — also on a redelivery, in case the first
        delivery died between the two."""
        try:
            created = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.cfg.namespace, PLURAL, self._body(alarm, raw, fingerprint, name, message_id, recovery))
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            created = None
        if len(raw) > RAW_INLINE_MAX:
            created = created or self.custom.get_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name)
            self._keep_raw(name, created["metadata"]["uid"], raw)

    def _keep_raw(self, name: str, uid: str, raw: str) -> None:
        """A notification over the CRD's inline limit, kept whole beside its Incident (owned by it)."""
        cm = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"{name}-alarm", namespace=self.cfg.namespace,
                                         labels={"app.kubernetes.io/managed-by": "incident-bridge"},
                                         owner_references=[client.V1OwnerReference(
                                             api_version=f"{GROUP}/{VERSION}", kind="Incident", name=name, uid=uid)]),
            binary_data={RAW_KEY: base64.b64encode(gzip.compress(raw.encode())).decode()})
        try:
            self.core.create_namespaced_config_map(self.cfg.namespace, cm)
        except client.ApiException as exc:
            if exc.status != 409:
                raise

    def _patch(self, name: str, body: dict[str, Any]) -> None:
        """An unconditional merge patch (no resourceVersion, so no conflict to retry)."""
        try:
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name, body)
        except client.ApiException as exc:
            if exc.status != 404:  # 404: the episode's Incident was deleted (TTL, or by hand): the record still moves on
                raise

    def _raise_occurrences(self, name: str, value: int) -> None:
        """Set the occurrence count, never lowering it: concurrent bumps may land out of order."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name)
            except client.ApiException as exc:
                if exc.status == 404:
                    return
                raise
            current = int((obj["metadata"].get("annotations") or {}).get(ANN_OCCURRENCES, "0") or 0)
            if current >= value:
                return
            try:
                self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name, {
                    "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": {
                        ANN_OCCURRENCES: str(value), ANN_LAST_SEEN: _now()}}})
                return
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))

    # ---- notifications ---------------------------------------------------------------------
    def on_notification(self, alarm: AlarmEvent, raw: str, message_id: str) -> WriteResult:
        """Decide against the record, move the record (conditionally), then make the Incidents match it.

        The record moves first, so two concurrent notifications can never both open an episode; the
        effects are idempotent and derived from the record, so a crash in between is repaired when
        the same notification comes back (as a duplicate)."""
        fingerprint = alarm.fingerprint()
        at = _iso(alarm.changed_at)
        for _ in range(MAX_CONFLICT_RETRIES):
            rec = self._read_state(fingerprint)
            action = decide(rec, alarm.new_state, at)
            new = self._next(rec, action, alarm, fingerprint, at)
            if new is not None:
                if not self._write_state(alarm, fingerprint, new):
                    time.sleep(random.uniform(0.005, 0.05))
                    continue  # someone moved the record first: decide again
                rec = new
            self._ensure(alarm, raw, fingerprint, message_id, rec, at)
            outcome: Outcome = {"open": "created", "open-recovered": "created", "bump": "bumped", "recover": "recovered",
                                "ok-without-episode": "no-open-incident"}.get(action, action)  # type: ignore[assignment]
            return WriteResult(outcome, rec.incident if outcome != "no-open-incident" else None,
                               rec.occurrences if alarm.new_state == "ALARM" and rec.incident else None)
        raise RuntimeError(f"alarm {alarm.name}: too many concurrent updates of its state record")

    def _next(self, rec: AlarmState, action: Decision, alarm: AlarmEvent, fingerprint: str, at: str) -> AlarmState | None:
        """The record after this notification, or None when it does not move."""
        keep = dict(incident=rec.incident, opened_at=rec.opened_at, occurrences=rec.occurrences,
                    recovered_at=rec.recovered_at, resource_version=rec.resource_version)
        if action == "open":
            return AlarmState(state="ALARM", changed_at=at, **{**keep, "incident": self.episode_name(alarm, fingerprint, at),
                                                               "opened_at": at, "occurrences": 1, "recovered_at": None})
        if action == "open-recovered":  # the record keeps its newer OK; it learns of the episode it ended
            return AlarmState(state=rec.state, changed_at=rec.changed_at, **{
                **keep, "incident": self.episode_name(alarm, fingerprint, at), "opened_at": at, "occurrences": 1,
                "recovered_at": rec.changed_at})
        if action == "bump":  # set, not incremented: a retry writes the same value
            return AlarmState(state="ALARM", changed_at=at, **{**keep, "occurrences": rec.occurrences + 1})
        if action == "recover":
            return AlarmState(state="OK", changed_at=at, **{**keep, "recovered_at": at})
        if action == "ok-without-episode":
            return AlarmState(state="OK", changed_at=at, **keep)
        return None

    def _ensure(self, alarm: AlarmEvent, raw: str, fingerprint: str, message_id: str, rec: AlarmState, at: str) -> None:
        """Make the episode's Incident what the record says, for the transition at `at` (idempotent)."""
        if not rec.incident:
            return
        recovery = ({"recoveredAt": rec.recovered_at, "reason": (alarm.reason or "")[:4000] if alarm.new_state == "OK"
                     else "OK 알림이 ALARM보다 먼저 도착했습니다"} if rec.recovered_at else None)
        if alarm.new_state == "ALARM" and rec.opened_at == at:  # this transition opened the episode
            self._create(alarm, raw, fingerprint, rec.incident, message_id, recovery)
        elif alarm.new_state == "ALARM" and rec.state == "ALARM" and rec.changed_at == at:
            self._raise_occurrences(rec.incident, rec.occurrences)
        elif alarm.new_state == "OK" and rec.recovered_at == at:  # this transition ended the episode
            # out of the archive in the same write, so the operator sees the recovery and closes the report
            self._patch(rec.incident, {"metadata": {"annotations": {ANN_LAST_SEEN: _now()}, "labels": {LABEL_ARCHIVED: None}},
                                       "spec": {"recovery": recovery}})

    def raw_notification(self, incident: dict[str, Any]) -> str | None:
        """The notification as SNS delivered it, from the spec or its ConfigMap."""
        alarm = (incident.get("spec") or {}).get("alarm") or {}
        if alarm.get("raw"):
            return alarm["raw"]
        if alarm.get("rawConfigMap"):
            cm = self.core.read_namespaced_config_map(alarm["rawConfigMap"], incident["metadata"]["namespace"])
            return gzip.decompress(base64.b64decode(cm.binary_data[RAW_KEY])).decode()
        return None


__all__ = ["IncidentWriter", "WriteResult", "AlarmState", "decide"]
