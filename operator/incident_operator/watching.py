"""What Kopf watches of the Incidents, and what it remembers of each.

Cost must not grow with history, so a finished Incident leaves Kopf's view: once nothing more is owed
for it (finished, its report delivered), the operator labels it `netaiops.io/archived=true` (and with its
top cause, `netaiops.io/cause`) in the patch Kopf writes anyway at the end of the handler, and the watch asks the API server only for Incidents
without that label (a server-side label selector). An archived Incident is never listed at start-up,
never held in memory, never patched again. Whoever needs the operator again takes the label off in
the same write that asks for it: the bridge when it records a recovery (`spec.recovery`),
`incident-operator rerun` for a re-run. Kopf then sees the Incident again (ADDED) and its field
handlers fire on what changed.

Kopf's diff base (the `last-handled-configuration` annotation) keeps only the fields a handler watches
— the day-2 annotations and `spec.recovery` — instead of a copy of the whole spec (the alarm's raw
notification can be 64 KiB): Incidents stay small, and labels or occurrence counts written by others
are no change to Kopf (no bookkeeping patch).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import kopf

from bridge_lambda.alarm import label_value

from .constants import ANN_RERUN, ANN_SILENCED, FINISHED_PHASES, LABEL_ARCHIVED, LABEL_CAUSE
from .report import outbox

ARCHIVED = "true"
WATCH_SELECTOR = f"{LABEL_ARCHIVED}!={ARCHIVED}"  # also matches Incidents without the label (all new ones)
WATCHED_FIELDS = (("metadata", "annotations", ANN_RERUN), ("metadata", "annotations", ANN_SILENCED), ("spec", "recovery"))


def archivable(status: dict[str, Any] | None) -> bool:
    """Nothing more will happen to it unless someone asks: finished and its report owes nothing."""
    status = status or {}
    return status.get("phase") in FINISHED_PHASES and not outbox.owes(status.get("report"))


def is_archived(labels: dict[str, str] | None) -> bool:
    return (labels or {}).get(LABEL_ARCHIVED) == ARCHIVED


def archive(patch: kopf.Patch) -> None:
    """Label the Incident archived in the patch Kopf applies after the handler (no request of its own)."""
    patch.meta.labels[LABEL_ARCHIVED] = ARCHIVED


def label_finished(status: dict[str, Any] | None, patch: kopf.Patch) -> None:
    """What a finished Incident is labelled with, in Kopf's own patch: its top cause's kind (later Incidents
    find it by that) and, once nothing is owed, archived."""
    status = status or {}
    if status.get("phase") not in FINISHED_PHASES:
        return
    kind = ((status.get("causes") or [{}])[0] or {}).get("kind")
    if kind:
        patch.meta.labels[LABEL_CAUSE] = label_value(kind)
    if archivable(status):
        archive(patch)


def unarchive_patch() -> dict[str, Any]:
    """The metadata part of a write that needs the operator to see the Incident again."""
    return {"metadata": {"labels": {LABEL_ARCHIVED: None}}}


class WatchedFieldsDiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff base with only what the handlers watch: the day-2 annotations, `spec.recovery`, and any
    field a handler registers for (Kopf passes those as `extra_fields`)."""

    def build(self, *, body: Any, extra_fields: Iterable[Any] | None = None) -> Any:
        essence: dict[str, Any] = {}
        for path in {*WATCHED_FIELDS, *(tuple(f.split(".")) if isinstance(f, str) else tuple(f) for f in extra_fields or ())}:
            value: Any = body
            for part in path:
                value = value.get(part) if hasattr(value, "get") else None
                if value is None:
                    break
            if value is not None:
                node = essence
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = copy.deepcopy(value)
        return essence


def configure(settings: kopf.OperatorSettings, group: str, plural: str, prefix: str) -> None:
    settings.persistence.diffbase_storage = WatchedFieldsDiffBase(prefix=prefix, key="last-handled-configuration")
    settings.watching.label_selectors[group, plural] = WATCH_SELECTOR
