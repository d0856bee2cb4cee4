"""Phase 2: open the report (GitHub issue or the cluster itself), once — without waiting on it.

If the sink is down or slow, opening stays in the report's outbox (report/outbox.py) and the
analysis goes on; the issue is opened, and what the later phases owe it posted, when it is back.
"""

from __future__ import annotations

from typing import Any

from .. import failpoints
from ..report import outbox
from .context import PhaseContext


def run(ctx: PhaseContext) -> dict[str, Any]:
    known = ctx.status.get("report") or {}
    if known.get("ref"):  # opened before (a re-run, or a retry after the status write): nothing to look up
        return {"report": known}
    report = outbox.deliver(ctx, [{"op": "open"}], patch=False)
    failpoints.hit("report.after-open")
    return {"report": report}
