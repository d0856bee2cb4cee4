"""Replicas meet in Kopf's peering object: exactly one works, the others stand by.

Kopf pauses its own watch when a replica with a higher (or the same) priority is alive. The operator's
work queue (scheduling.py) holds Incidents Kopf handed over earlier, so it asks the same question before
taking one: `Peers.paused()` reads the peering object (at most every few seconds, only while there is
work) and applies Kopf's rule to it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .kube.client import Kube

log = logging.getLogger(__name__)

PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"


def ensure_peering(kube: Kube, name: str, namespaces: list[str]) -> None:
    """Create the peering object(s) replicas meet at, if the peering CRDs are installed."""
    from kubernetes.client import ApiException
    body = {"apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}", "metadata": {"name": name}}
    creates = ([lambda ns=ns: kube.custom.create_namespaced_custom_object(
                   PEERING_GROUP, PEERING_VERSION, ns, "kopfpeerings", {**body, "kind": "KopfPeering"}) for ns in namespaces]
               or [lambda: kube.custom.create_cluster_custom_object(
                   PEERING_GROUP, PEERING_VERSION, "clusterkopfpeerings", {**body, "kind": "ClusterKopfPeering"})])
    for create in creates:
        try:
            create()
        except ApiException as exc:
            if exc.status == 403:
                log.warning("no permission to create the peering object %s; create it by hand", name)
            elif exc.status not in (404, 409):  # 404: no peering CRDs (standalone); 409: it exists
                raise


def outranked(peers: dict[str, Any], identity: str, priority: int, now: datetime | None = None) -> list[str]:
    """Live replicas other than `identity` with a priority at least ours (Kopf's rule: a higher one leads;
    with the same, all pause)."""
    now = now or datetime.now(timezone.utc)
    found = []
    for other, info in (peers or {}).items():
        if other == identity or not isinstance(info, dict):
            continue
        try:
            seen = datetime.fromisoformat(str(info["lastseen"]))
            alive = (seen if seen.tzinfo else seen.replace(tzinfo=timezone.utc)) + timedelta(
                seconds=int(info.get("lifetime", 60))) > now
        except (KeyError, TypeError, ValueError):
            continue
        if alive and int(info.get("priority", 0)) >= priority:
            found.append(other)
    return found


class Peers:
    def __init__(self, kube: Kube, name: str, namespaces: list[str], identity: str, priority: int,
                 every: float = 5.0):
        self.kube, self.name, self.namespaces = kube, name, namespaces
        self.identity, self.priority, self.every = identity, priority, every
        self._read_at = -1e9
        self._peers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        from kubernetes.client import ApiException
        peers: dict[str, Any] = {}
        try:
            if self.namespaces:
                for ns in self.namespaces:
                    peers.update(self.kube.custom.get_namespaced_custom_object(
                        PEERING_GROUP, PEERING_VERSION, ns, "kopfpeerings", self.name).get("status") or {})
            else:
                peers.update(self.kube.custom.get_cluster_custom_object(
                    PEERING_GROUP, PEERING_VERSION, "clusterkopfpeerings", self.name).get("status") or {})
        except ApiException as exc:
            if exc.status not in (403, 404):  # no peering object or CRD: nobody to defer to (Kopf alike)
                raise
        return peers

    def paused(self) -> bool:
        with self._lock:
            if time.monotonic() - self._read_at >= self.every:
                try:
                    self._peers = self._read()
                except Exception as exc:  # noqa: BLE001 - keep the last answer; Kopf's watch decides the rest
                    log.warning("cannot read the peering object %s: %s", self.name, exc)
                self._read_at = time.monotonic()
            others = outranked(self._peers, self.identity, self.priority)
        return bool(others)
