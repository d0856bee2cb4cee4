"""Phase 2: open the report (GitHub issue or the cluster itself), once."""

from __future__ import annotations

from typing import Any

from .. import failpoints
from ..report import render
from .context import PhaseContext


def fingerprint(ctx: PhaseContext) -> str:
    return f"{ctx.namespace}/{ctx.name}/{ctx.incident['metadata'].get('uid', '')}"


def run(ctx: PhaseContext) -> dict[str, Any]:
    known = ctx.status.get("report") or {}
    if known.get("ref"):  # opened before (a re-run, or a retry after the status write): nothing to look up
        return {"report": known}
    spec = ctx.incident.get("spec", {})
    ref = ctx.sink.open(
        fingerprint(ctx), render.issue_title(spec, ctx.name),
        render.opening_body(ctx.name, spec, ctx.status), render.labels(spec))
    failpoints.hit("report.after-open")
    return {"report": ref.model_dump(exclude_none=True) | {"comments": [], "closed": False}}
