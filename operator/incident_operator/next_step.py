"""What an Incident needs from the operator next, decided from its body alone (no request).

The operator's work queue (scheduling.py) asks this of every watch event and again after each piece of
work, so a day-2 request is compared against what status says was done, not against a copy of the
last body handled: nothing is stored on the Incident for it and nothing is held per Incident.

- RUN: phases are left (a new Incident, one resumed after a restart, or one un-silenced);
- RERUN: `netaiops.io/rerun` carries a token status has not run for;
- RECOVER: the alarm went back to OK (`spec.recovery`) after the analysis, and the report is not closed;
- DELIVER: finished, and the report still owes operations (GitHub or Slack was down);
- ASSESS: Resolved by a verified fix whose effectiveness is still to be checked (status.effectiveness pending);
- ARCHIVE: finished and nothing owed, but not labelled archived yet (watching.py).
"""

from __future__ import annotations

import enum
from typing import Any

from .constants import ANN_RERUN, ANN_SILENCED, FINISHED_PHASES, NEEDS_ACTION, RESOLVED
from .report import outbox
from .watching import is_archived


class Step(enum.Enum):
    RUN = "run"
    RERUN = "rerun"
    RECOVER = "recover"
    DELIVER = "deliver"
    ASSESS = "assess"
    ARCHIVE = "archive"


def _parts(body: dict[str, Any]) -> tuple[dict, dict, dict]:
    meta = body.get("metadata") or {}
    return meta, meta.get("annotations") or {}, body.get("status") or {}


def rerun_requested(body: dict[str, Any]) -> bool:
    _, annotations, status = _parts(body)
    token = annotations.get(ANN_RERUN)
    return bool(token) and token != status.get("rerunToken")


def recovery_unnoted(body: dict[str, Any]) -> bool:
    """The alarm recovered after the analysis finished, and neither closing the report nor asking for it happened."""
    status = body.get("status") or {}
    report = status.get("report") or {}
    recovered = ((body.get("spec") or {}).get("recovery") or {}).get("recoveredAt")
    return (bool(recovered) and status.get("phase") in (RESOLVED, NEEDS_ACTION) and bool(report)
            and not report.get("closed") and not report.get("failed")  # a sink that refused for good
            and not any(op.get("op") == "close" for op in report.get("outbox") or []))


def next_step(body: dict[str, Any]) -> Step | None:
    meta, annotations, status = _parts(body)
    phase = status.get("phase")
    if phase not in FINISHED_PHASES:
        if annotations.get(ANN_SILENCED) == "true" and status.get("silenced"):
            return None  # stopped on purpose; removing the annotation carries it on
        return Step.RERUN if not phase and rerun_requested(body) else Step.RUN
    if rerun_requested(body):
        return Step.RERUN
    if recovery_unnoted(body):
        return Step.RECOVER
    if outbox.owes(status.get("report")):
        return Step.DELIVER
    if effectiveness_pending(status):
        return Step.ASSESS
    if not is_archived(meta.get("labels")):
        return Step.ARCHIVE
    return None


def effectiveness_pending(status: dict[str, Any]) -> bool:
    return (status.get("effectiveness") or {}).get("state") == "pending"


def watched(body: dict[str, Any]) -> tuple:
    """What people change to ask something of the operator: a difference here is worth a fresh look."""
    _, annotations, _ = _parts(body)
    return (annotations.get(ANN_RERUN), annotations.get(ANN_SILENCED),
            repr(((body.get("spec") or {}).get("recovery") or {}).get("recoveredAt")))
