"""Phase 6: the response guide, native remediation of known chaos scenarios, and the closing comment.

An action is written to status as `in-progress` before it touches the cluster. A restart that finds
it there checks whether it already took effect instead of doing it again.
"""

from __future__ import annotations

from typing import Any

from .. import failpoints, metrics
from ..clock import now_iso
from ..constants import ANN_ACKNOWLEDGED_BY
from ..models.diagnosis import RemediationProposal
from ..redact import redact
from ..remediation.actions import action_for
from ..remediation.policy import decide
from ..report import render
from ..report.sinks import ReportRef
from .context import PhaseContext

DONE_STATES = {"succeeded", "failed", "dry-run", "skipped"}


def proposals(status: dict[str, Any]) -> list[RemediationProposal]:
    """The top cause's proposed remediation, if any: one incident, at most one action."""
    causes = status.get("causes") or []
    top = causes[0] if causes else None
    if not top or not top.get("remediation"):
        return []
    return [RemediationProposal.model_validate(top["remediation"])]


def action_id(p: RemediationProposal) -> str:
    return f"{p.action}:{p.target}"


def remediate(ctx: PhaseContext, p: RemediationProposal) -> dict[str, Any]:
    actions: list[dict[str, Any]] = list(ctx.status.get("actions") or [])
    aid = action_id(p)
    entry = next((a for a in actions if a.get("id") == aid), None)
    if entry and entry.get("state") in DONE_STATES:
        return entry
    action = action_for(p.action, ctx.kube)

    def save(e: dict[str, Any]) -> None:
        rest = [a for a in actions if a.get("id") != aid]
        ctx.patch_status({"actions": rest + [e]})
        if e["state"] != "in-progress":
            metrics.REMEDIATIONS.labels(p.action, e["state"]).inc()

    if entry is None:
        decision = decide(p, ctx.spec.options.remediation, ctx.evidence(), ctx.settings,
                          acknowledged_by=ctx.annotations.get(ANN_ACKNOWLEDGED_BY))
        entry = {"id": aid, "action": p.action, "target": str(p.target), "mode": decision.mode,
                 "params": p.params, "message": decision.reason, "at": now_iso()}
        if decision.mode == "skip":
            entry["state"] = "skipped"
            save(entry)
            return entry
        entry["before"] = action.snapshot(p)
        if decision.mode == "dry-run":
            entry["state"] = "dry-run"
            entry["message"] = f"dry-run: {p.reason} (실행하지 않음)"
            save(entry)
            ctx.events.emit("RemediationDryRun", f"{aid}: {p.reason}")
            return entry
        entry["state"] = "in-progress"
        save(entry)
    if action.is_applied(p):
        ctx.logger.info("remediation %s already in effect; not repeating it", aid)
    else:
        try:
            action.apply(p)
        except Exception as exc:  # noqa: BLE001 - recorded, not retried: a half-done action needs a human
            entry.update(state="failed", message=redact(f"실행 실패: {exc}")[:500], at=now_iso())
            save(entry)
            ctx.events.emit("RemediationFailed", f"{aid}: {entry['message']}", warning=True)
            return entry
        ctx.events.emit("RemediationApplied", f"{aid}: {p.reason}")
        failpoints.hit("respond.after-apply")
    entry.update(state="succeeded", after=action.snapshot(p), message=p.reason or "조치 완료", at=now_iso())
    save(entry)
    return entry


def run(ctx: PhaseContext) -> dict[str, Any]:
    for p in proposals(ctx.status):
        remediate(ctx, p)
    actions = ctx.status.get("actions") or []
    spec = ctx.incident.get("spec", {})
    remediated = any(a.get("state") == "succeeded" for a in actions)
    recovered = bool((spec.get("recovery") or {}).get("recoveredAt"))
    summary = ctx.status.get("summary") or ""
    if remediated:
        summary = f"자동 복구 완료: {summary}"
    elif any(a.get("state") == "dry-run" for a in actions):
        summary = f"dry-run 기록 (수동 조치 필요): {summary}"
    else:
        summary = f"수동 조치 필요: {summary}"
    view = {**ctx.status, "summary": summary}
    ref = ReportRef.model_validate(ctx.status["report"])
    comments = set(ctx.status["report"].get("comments", []))
    key = ctx.comment_key("resolution")
    ctx.sink.comment(ref, key, render.resolution_comment(view, spec))
    comments.add(key)
    closed = bool(ctx.status["report"].get("closed"))
    if (remediated or recovered) and not closed:
        ctx.sink.close(ref, "# 복구 완료" if remediated else "# 알람 정상화")
        closed = True
    return {
        "summary": summary[:300],
        "outcome": "remediated" if remediated else ("recovered" if recovered else "needs-action"),
        "report": {"comments": sorted(comments), "closed": closed,
                   "markdown": render.full_report(ctx.name, spec, view, ctx.settings.report_max_chars)},
    }
