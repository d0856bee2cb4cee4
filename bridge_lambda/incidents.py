"""Creates, bumps and recovers Incidents: exactly one open Incident per alarm fingerprint.

An Incident stays *open* for its fingerprint until the alarm returns to OK (`spec.recovery`).
Further ALARM notifications meanwhile bump `netaiops.io/occurrences` and `netaiops.io/last-seen`.
Every write is conditional: creation uses a name fixed by fingerprint and episode (a concurrent
creator gets 409 and bumps instead), updates carry the resourceVersion they read. SNS MessageIds
already applied are remembered on the Incident, so a redelivered message changes nothing.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from kubernetes import client

from .alarm import CloudWatchAlarm, dns_label, label_value, spec_alarm, target
from .config import BridgeConfig

GROUP, VERSION, PLURAL = "netaiops.io", "v1alpha1", "incidents"
LABEL_FINGERPRINT = "netaiops.io/fingerprint"
LABEL_ALARM = "netaiops.io/alarm"
ANN_OCCURRENCES = "netaiops.io/occurrences"
ANN_FIRST_SEEN = "netaiops.io/first-seen"
ANN_LAST_SEEN = "netaiops.io/last-seen"
ANN_MESSAGES = "netaiops.io/sns-message-ids"
MAX_CONFLICT_RETRIES = 30

Outcome = Literal["created", "bumped", "duplicate", "recovered", "no-open-incident", "ignored"]


@dataclass
class WriteResult:
    outcome: Outcome
    incident: str | None = None
    occurrences: int | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _messages(obj: dict) -> list[str]:
    try:
        return json.loads((obj["metadata"].get("annotations") or {}).get(ANN_MESSAGES, "[]"))
    except ValueError:
        return []


def _is_open(obj: dict) -> bool:
    return not (obj.get("spec") or {}).get("recovery")


class IncidentWriter:
    def __init__(self, api: client.ApiClient, cfg: BridgeConfig):
        self.custom = client.CustomObjectsApi(api)
        self.cfg = cfg

    def _list(self, fingerprint: str) -> list[dict]:
        res = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL,
                                                        label_selector=f"{LABEL_FINGERPRINT}={fingerprint}")
        return res.get("items", [])

    def _open(self, fingerprint: str) -> tuple[dict | None, int]:
        items = self._list(fingerprint)
        opened = [i for i in items if _is_open(i)]
        opened.sort(key=lambda i: i["metadata"].get("creationTimestamp", ""))
        return (opened[0] if opened else None), len(items)

    def _name(self, alarm: CloudWatchAlarm, fingerprint: str, episode: int) -> str:
        suffix = f"{fingerprint[:5]}-{episode}"
        return f"{dns_label(alarm.name, 63 - len(suffix) - 1)}-{suffix}"

    def _body(self, alarm: CloudWatchAlarm, raw: str, fingerprint: str, name: str, message_id: str) -> dict[str, Any]:
        now = _now()
        spec: dict[str, Any] = {"source": "alarm", "severity": self.cfg.severity_for(alarm.name),
                                "alarm": spec_alarm(alarm, raw), "options": {"remediation": self.cfg.remediation}}
        t = target(alarm)
        if t:
            spec["target"] = t
        return {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Incident",
            "metadata": {"name": name, "namespace": self.cfg.namespace,
                         "labels": {LABEL_FINGERPRINT: fingerprint, LABEL_ALARM: label_value(alarm.name),
                                    "app.kubernetes.io/created-by": "incident-bridge"},
                         "annotations": {ANN_OCCURRENCES: "1", ANN_FIRST_SEEN: now, ANN_LAST_SEEN: now,
                                         ANN_MESSAGES: json.dumps([message_id])}},
            "spec": spec,
        }

    def _conditional_patch(self, name: str, build) -> tuple[dict, bool]:
        """Read, let `build` make a patch (or None), apply it only if nothing changed in between."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name)
            patch = build(obj)
            if patch is None:
                return obj, False
            patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"]["resourceVersion"]
            try:
                return self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.cfg.namespace, PLURAL, name, patch), True
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise RuntimeError(f"Incident {name}: too many concurrent updates")

    def _remember(self, obj: dict, message_id: str) -> str:
        return json.dumps((_messages(obj) + [message_id])[-self.cfg.message_ids_kept:])

    def on_alarm(self, alarm: CloudWatchAlarm, raw: str, message_id: str) -> WriteResult:
        fingerprint = alarm.fingerprint()
        for _ in range(MAX_CONFLICT_RETRIES):
            current, total = self._open(fingerprint)
            if current is None:
                name = self._name(alarm, fingerprint, total + 1)
                try:
                    self.custom.create_namespaced_custom_object(
                        GROUP, VERSION, self.cfg.namespace, PLURAL, self._body(alarm, raw, fingerprint, name, message_id))
                    return WriteResult("created", name, 1)
                except client.ApiException as exc:
                    if exc.status != 409:
                        raise
                    continue  # someone created this episode's Incident first: bump it instead
            return self._bump(current["metadata"]["name"], message_id)
        raise RuntimeError(f"alarm {alarm.name}: could not settle on one Incident")

    def _bump(self, name: str, message_id: str) -> WriteResult:
        def build(obj: dict) -> dict | None:
            if message_id in _messages(obj):
                return None
            n = int((obj["metadata"].get("annotations") or {}).get(ANN_OCCURRENCES, "1")) + 1
            return {"metadata": {"annotations": {ANN_OCCURRENCES: str(n), ANN_LAST_SEEN: _now(),
                                                 ANN_MESSAGES: self._remember(obj, message_id)}}}
        obj, changed = self._conditional_patch(name, build)
        occurrences = int(obj["metadata"]["annotations"].get(ANN_OCCURRENCES, "1"))
        return WriteResult("bumped" if changed else "duplicate", name, occurrences)

    def on_ok(self, alarm: CloudWatchAlarm, message_id: str) -> WriteResult:
        current, _ = self._open(alarm.fingerprint())
        if current is None:
            # already recovered (maybe by this very message, redelivered) or never opened
            return WriteResult("no-open-incident")
        name = current["metadata"]["name"]

        def build(obj: dict) -> dict | None:
            if message_id in _messages(obj) or not _is_open(obj):
                return None
            return {"metadata": {"annotations": {ANN_MESSAGES: self._remember(obj, message_id), ANN_LAST_SEEN: _now()}},
                    "spec": {"recovery": {"recoveredAt": alarm.changed_at.isoformat().replace("+00:00", "Z"),
                                          "reason": (alarm.reason or "")[:4000]}}}
        _, changed = self._conditional_patch(name, build)
        return WriteResult("recovered" if changed else "duplicate", name)
