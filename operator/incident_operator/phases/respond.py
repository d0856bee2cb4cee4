"""Phase 6: the response guide, native remediation of known chaos scenarios, and the closing comment.

An action is written to status as `in-progress` before it touches the cluster. A restart that finds
it there checks whether it already took effect instead of doing it again.

An applied action is not a fixed incident: it is `verifying` until the workload is healthy again
(rollout complete and ready, burner pods gone), polled without holding a worker (`pipeline.Waiting`)
for at most `remediation_verify_seconds`. Only a verified action is `succeeded`, and only then is the
report closed with "복구 완료". Not healthy in time: `unverified`, a Warning Event, the report left
open, the Incident `NeedsAction`, and (setting) the action undone where it can be.

What an action may do is grounded in what the API server recorded (remediation/policy.py, docs/remediation.md),
checked when deciding and again by the action right before it writes; a refusal either time is `skipped`
with its reason, and the Incident ends `NeedsAction`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import failpoints, metrics
from ..clock import now_iso
from ..constants import ANN_ACKNOWLEDGED_BY
from ..models.diagnosis import RemediationProposal
from ..redact import redact
from ..remediation.actions import NotGrounded, action_for
from ..remediation.policy import decide
from ..report import outbox, render
from .context import PhaseContext

DONE_STATES = {"succeeded", "failed", "dry-run", "skipped", "unverified"}


def proposals(status: dict[str, Any]) -> list[RemediationProposal]:
    """The diagnosis' chosen remediation (`status.remediation`), else the top cause's: at most one action."""
    chosen = status.get("remediation")
    if chosen:
        return [RemediationProposal.model_validate(chosen)]
    causes = status.get("causes") or []
    top = causes[0] if causes else None
    if not top or not top.get("remediation"):
        return []
    return [RemediationProposal.model_validate(top["remediation"])]


def action_id(p: RemediationProposal) -> str:
    return f"{p.action}:{p.target}"


def _save(ctx: PhaseContext, entry: dict[str, Any]) -> None:
    rest = [a for a in ctx.status.get("actions") or [] if a.get("id") != entry["id"]]
    ctx.patch_status({"actions": rest + [entry]})
    if entry["state"] in DONE_STATES:
        metrics.REMEDIATIONS.labels(entry["action"], entry["state"]).inc()


def remediate(ctx: PhaseContext, p: RemediationProposal) -> dict[str, Any]:
    """Decide and (maybe) act, once. Returns the action's entry; an applied action is `verifying`."""
    aid = action_id(p)
    entry = next((dict(a) for a in ctx.status.get("actions") or [] if a.get("id") == aid), None)
    if entry and entry.get("state") in DONE_STATES | {"verifying"}:
        return entry
    action = action_for(p.action, ctx.kube, ctx.settings)
    if entry is None:
        decision = decide(p, ctx.spec.options.remediation, ctx.evidence(), ctx.settings,
                          acknowledged_by=ctx.annotations.get(ANN_ACKNOWLEDGED_BY),
                          scope=ctx.deps.effective_scope() if ctx.deps else None)
        entry = {"id": aid, "action": p.action, "target": str(p.target), "mode": decision.mode,
                 "params": p.params, "message": decision.reason, "at": now_iso()}
        if decision.mode == "skip":
            entry["state"] = "skipped"
            _save(ctx, entry)
            return entry
        entry["before"] = action.snapshot(p)
        if decision.mode == "dry-run":
            entry["state"] = "dry-run"
            entry["message"] = (f"dry-run: {p.reason} (실행하지 않음)"
                                + (f" — 실행했다면 거부됨: {decision.refused}" if decision.refused else ""))
            _save(ctx, entry)
            ctx.events.emit("RemediationDryRun", f"{aid}: {p.reason}")
            return entry
        entry["state"] = "in-progress"
        _save(ctx, entry)
    if action.is_applied(p):
        ctx.logger.info("remediation %s already in effect; not repeating it", aid)
    else:
        try:
            action.apply(p)
        except NotGrounded as exc:  # the live object no longer supports it (checked again right before acting)
            entry.update(state="skipped", message=redact(str(exc))[:500], at=now_iso())
            _save(ctx, entry)
            return entry
        except Exception as exc:  # noqa: BLE001 - recorded, not retried: a half-done action needs a human
            entry.update(state="failed", message=redact(f"실행 실패: {exc}")[:500], at=now_iso())
            _save(ctx, entry)
            ctx.events.emit("RemediationFailed", f"{aid}: {entry['message']}", warning=True)
            return entry
        ctx.events.emit("RemediationApplied", f"{aid}: {p.reason}")
        failpoints.hit("respond.after-apply")
    deadline = datetime.now(timezone.utc) + timedelta(seconds=ctx.settings.remediation_verify_seconds)
    entry.update(state="verifying", appliedAt=now_iso(), verifyBy=deadline.isoformat(),
                 message=f"{p.reason or '조치 실행'}: 정상화 확인 중")
    _save(ctx, entry)
    return entry


def verify(ctx: PhaseContext, p: RemediationProposal, entry: dict[str, Any], *, block: bool = False) -> dict[str, Any]:
    """Settle a `verifying` action: `succeeded` once healthy, `unverified` past its deadline.

    Not yet either: raise `pipeline.Waiting` (the worker is released), or with `block` poll here.
    """
    from ..pipeline import Waiting
    action = action_for(p.action, ctx.kube, ctx.settings)
    interval = ctx.settings.remediation_verify_interval_seconds
    while True:
        ok, seen = action.healthy(p)
        if ok:
            entry.update(state="succeeded", after=action.snapshot(p), verifiedAt=now_iso(),
                         message=f"{p.reason or '조치 완료'} — 정상화 확인: {seen}", at=now_iso())
            _save(ctx, entry)
            ctx.events.emit("RemediationVerified", f"{entry['id']}: {seen}")
            return entry
        if datetime.now(timezone.utc) >= datetime.fromisoformat(entry["verifyBy"]):
            return _unverified(ctx, action, p, entry, seen)
        if not block:
            raise Waiting(interval, f"{entry['id']} 정상화 대기: {seen}")
        time.sleep(interval)


def _unverified(ctx: PhaseContext, action: Any, p: RemediationProposal, entry: dict[str, Any], seen: str) -> dict[str, Any]:
    message = (f"조치 후 {ctx.settings.remediation_verify_seconds:g}초 안에 정상화되지 않음: {seen}")
    entry.update(state="unverified", after=action.snapshot(p), message=message, at=now_iso())
    if ctx.settings.remediation_undo_unverified:
        try:
            undone = action.undo(p, entry.get("before") or {})
        except Exception as exc:  # noqa: BLE001 - the undo failing is recorded, the Incident still needs a human
            undone = None
            entry["undo"] = redact(f"되돌리기 실패: {exc}")[:300]
        if undone:
            entry["undo"] = undone
    _save(ctx, entry)
    ctx.events.emit("RemediationUnverified", f"{entry['id']}: {message}" + (f" ({entry['undo']})" if entry.get("undo") else ""),
                    warning=True)
    return entry


def settle(ctx: PhaseContext, p: RemediationProposal, *, block: bool = False) -> dict[str, Any]:
    """remediate() and then verify() until the action is in a final state."""
    entry = remediate(ctx, p)
    if entry.get("state") == "verifying":
        entry = verify(ctx, p, entry, block=block)
    return entry


def outcome_of(actions: list[dict[str, Any]], recovered: bool) -> str:
    if any(a.get("state") == "succeeded" for a in actions):
        return "remediated"
    if recovered:
        return "recovered"
    if any(a.get("state") == "unverified" for a in actions):
        return "unverified"
    return "needs-action"


def run(ctx: PhaseContext) -> dict[str, Any]:
    for p in proposals(ctx.status):
        settle(ctx, p)
    actions = ctx.status.get("actions") or []
    spec = ctx.incident.get("spec", {})
    recovered = bool((spec.get("recovery") or {}).get("recoveredAt"))
    outcome = outcome_of(actions, recovered)
    summary = ctx.status.get("summary") or ""
    if outcome == "remediated":
        summary = f"자동 복구 완료: {summary}"
    elif outcome == "unverified":
        summary = f"조치 후 정상화 미확인 (수동 확인 필요): {summary}"
    elif any(a.get("state") == "dry-run" for a in actions):
        summary = f"dry-run 기록 (수동 조치 필요): {summary}"
    elif outcome != "recovered":
        summary = f"수동 조치 필요: {summary}"
    view = {"summary": summary[:300], "outcome": outcome}
    ops = [{"op": "comment", "key": ctx.comment_key("resolution")}]
    if outcome in ("remediated", "recovered"):  # only a verified fix, or the alarm back to OK, closes it
        ops.append({"op": "close", "title": "# 복구 완료" if outcome == "remediated" else "# 알람 정상화"})
    report = outbox.deliver(ctx, ops, patch=False, view=view)
    report["markdown"] = render.full_report(ctx.name, spec, {**ctx.status, **view}, ctx.settings.report_max_chars)
    return {**view, "report": report}
