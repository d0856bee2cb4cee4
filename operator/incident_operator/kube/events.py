"""Kubernetes Events on an Incident: one per phase transition, and the cluster report sink's entries."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from kubernetes import client

from ..constants import API_VERSION, KIND
from ..redact import redact

log = logging.getLogger(__name__)
MAX_MESSAGE = 1000


class EventRecorder:
    def __init__(self, core: client.CoreV1Api, incident: dict):
        meta = incident["metadata"]
        self.core = core
        self.namespace = meta["namespace"]
        self.name = meta["name"]
        self.ref = client.V1ObjectReference(api_version=API_VERSION, kind=KIND, name=meta["name"],
                                            namespace=meta["namespace"], uid=meta.get("uid"))

    def emit(self, reason: str, message: str, *, warning: bool = False, key: str | None = None) -> bool:
        """Post an Event. With `key`, the Event has a fixed name and is posted at most once."""
        now = datetime.now(timezone.utc)
        meta = client.V1ObjectMeta(namespace=self.namespace)
        if key:
            meta.name = f"{self.name}.{key}"[:253]
        else:
            meta.generate_name = f"{self.name}."
        event = client.CoreV1Event(
            metadata=meta, involved_object=self.ref, reason=reason, message=redact(message)[:MAX_MESSAGE],
            type="Warning" if warning else "Normal", first_timestamp=now, last_timestamp=now, count=1,
            source=client.V1EventSource(component="incident-operator"), reporting_component="incident-operator",
            reporting_instance="incident-operator",
        )
        try:
            self.core.create_namespaced_event(self.namespace, event)
            return True
        except client.ApiException as exc:
            if exc.status == 409 and key:
                return False  # already posted: that is the point of the key
            log.warning("could not post Event %s on %s/%s: %s", reason, self.namespace, self.name, exc.reason)
            return False

    def exists(self, key: str) -> bool:
        try:
            self.core.read_namespaced_event(f"{self.name}.{key}"[:253], self.namespace)
            return True
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
