"""What the operator watches of the Incidents.

Cost must not grow with history, so a finished Incident leaves the operator's view: once nothing more is
owed for it (finished, its report delivered), the operator labels it `netaiops.io/archived=true` (with its
top cause, `netaiops.io/cause`, in the same write), and the watch asks the API server only for Incidents
without that label (a server-side label selector). An archived Incident is never listed at start-up,
never held in memory, never patched again. Whoever needs the operator again takes the label off in
the same write that asks for it: the bridge when it records a recovery (`spec.recovery`),
`incident-operator rerun` for a re-run. The operator then sees the Incident again (ADDED) and
next_step.py decides what it needs.

Kopf only watches: it has one event handler and no change handlers, so it writes nothing to an
Incident (no progress or diff-base annotations) and holds nothing per Incident while work waits.
"""

from __future__ import annotations

from typing import Any

import kopf

from bridge_lambda.alarm import label_value

from .constants import FINISHED_PHASES, LABEL_ARCHIVED, LABEL_AWAITING_APPROVAL, LABEL_CAUSE
from .report import outbox

ARCHIVED = "true"
WATCH_SELECTOR = f"{LABEL_ARCHIVED}!={ARCHIVED}"  # also matches Incidents without the label (all new ones)


def archivable(status: dict[str, Any] | None) -> bool:
    """Nothing more will happen to it unless someone asks: finished and its report owes nothing."""
    status = status or {}
    return (status.get("phase") in FINISHED_PHASES and not outbox.owes(status.get("report"))
            and (status.get("effectiveness") or {}).get("state") != "pending")  # its check is still to come


def is_archived(labels: dict[str, str] | None) -> bool:
    return (labels or {}).get(LABEL_ARCHIVED) == ARCHIVED


def labels_to_write(incident: dict[str, Any], archive: bool = True) -> dict[str, str | None]:
    """The labels a finished Incident still lacks: its top cause's kind (later Incidents find it by that)
    and, once nothing is owed (and `archive` allows it), archived."""
    status = incident.get("status") or {}
    labels = (incident.get("metadata") or {}).get("labels") or {}
    if status.get("phase") not in FINISHED_PHASES:
        return {}
    wanted: dict[str, str] = {}
    kind = ((status.get("causes") or [{}])[0] or {}).get("kind")
    if kind:
        wanted[LABEL_CAUSE] = label_value(kind)
    if archive and archivable(status):
        wanted[LABEL_ARCHIVED] = ARCHIVED
    if labels.get(LABEL_AWAITING_APPROVAL):  # finished: whatever was awaiting approval is not any more
        wanted[LABEL_AWAITING_APPROVAL] = None
    return {k: v for k, v in wanted.items() if labels.get(k) != v}


def unarchive_patch() -> dict[str, Any]:
    """The metadata part of a write that needs the operator to see the Incident again."""
    return {"metadata": {"labels": {LABEL_ARCHIVED: None}}}


def configure(settings: kopf.OperatorSettings, group: str, plural: str) -> None:
    settings.watching.label_selectors[group, plural] = WATCH_SELECTOR
