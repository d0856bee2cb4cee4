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

With approval (spec.options.remediation=approve, or the cluster's or namespace's RemediationPolicy): the action's
plan — each object and field, before → after — is written `awaiting-approval` with its hash and expiry, the
Incident shows phase AwaitingApproval, and no worker is held (`pipeline.AwaitingApproval`; the IncidentApprovals'
watch wakes it). Approved: the plan is read again from the live objects, and one whose hash moved (a target changed)
is refused and proposed anew; denied or expired: NeedsAction. An action not healthy in its window is undone
(INCIDENT_REMEDIATION_UNDO_UNVERIFIED, default on) and the undo is verified too (remediation/approval.py holds the
decisions as pure functions).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import failpoints, metrics
from ..clock import now_iso
from ..constants import ANN_ACKNOWLEDGED_BY, LABEL_AWAITING_APPROVAL
from ..kube import approvals as kapprovals
from ..models.diagnosis import RemediationProposal
from ..redact import redact
from ..remediation.actions import NotGrounded, action_for
from ..remediation.approval import approval_name, effective_mode, judge, plan_hash, plan_text
from ..remediation.policy import decide
from ..report import outbox, render
from .context import PhaseContext

DONE_STATES = {"succeeded", "failed", "dry-run", "skipped", "unverified", "denied", "expired"}
HISTORY = 10  # status.approvals kept


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


def mode_for(ctx: PhaseContext, p: RemediationProposal):
    """The strictest of the Incident's option, the cluster's policy and the target namespace's RemediationPolicies."""
    ns = p.target.namespace or ctx.namespace
    try:
        policies = kapprovals.namespace_policies(ctx.kube, ns)
    except Exception as exc:  # noqa: BLE001 - unreadable: ask a person rather than act on a policy not seen
        ctx.logger.warning("RemediationPolicy in %s unreadable: %s", ns, exc)
        policies = [{"metadata": {"name": "(읽을 수 없음)"}, "spec": {"default": "approve"}}]
    s = ctx.settings
    return effective_mode(p.action, ctx.spec.options.remediation, s.remediation_mode, s.remediation_action_modes,
                          policies, s.remediation_approval_timeout_seconds)


def remediate(ctx: PhaseContext, p: RemediationProposal) -> dict[str, Any]:
    """Decide and (maybe) act, once. Returns the action's entry; an applied action is `verifying`."""
    aid = action_id(p)
    entry = next((dict(a) for a in ctx.status.get("actions") or [] if a.get("id") == aid), None)
    if entry and entry.get("state") in DONE_STATES | {"verifying", "undoing"}:
        return entry
    action = action_for(p.action, ctx.kube, ctx.settings)
    if entry is None:
        mode = mode_for(ctx, p)
        decision = decide(p, mode.mode, ctx.evidence(), ctx.settings,
                          acknowledged_by=ctx.annotations.get(ANN_ACKNOWLEDGED_BY),
                          scope=ctx.deps.effective_scope() if ctx.deps else None)
        reason = decision.reason + (f" ({mode.why})" if decision.mode == "skip" and mode.mode == "off" else "")
        entry = {"id": aid, "action": p.action, "target": str(p.target), "mode": decision.mode,
                 "params": p.params, "message": reason, "at": now_iso()}
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
        if decision.mode == "approve" and not action.is_applied(p):
            propose(ctx, p, action, entry, mode.timeout or ctx.settings.remediation_approval_timeout_seconds, mode.why)
        else:
            entry["state"] = "in-progress"
            _save(ctx, entry)
    if entry.get("state") == "awaiting-approval":
        entry = await_approval(ctx, p, action, entry)
        if entry.get("state") != "in-progress":
            return entry
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


# ---- approval ---------------------------------------------------------------------------------------------------
def _history(ctx: PhaseContext, record: dict[str, Any]) -> list[dict[str, Any]]:
    """status.approvals with `record` (one per plan: a later state of the same plan replaces it)."""
    rest = [r for r in ctx.status.get("approvals") or [] if r.get("planHash") != record.get("planHash")]
    return (rest + [{**record, "at": now_iso()}])[-HISTORY:]


def propose(ctx: PhaseContext, p: RemediationProposal, action: Any, entry: dict[str, Any], timeout: float,
            why: str = "") -> None:
    """Write the plan (read from the live objects) `awaiting-approval`, announce it, and post it to the report."""
    changes, prints = action.plan(p)
    h = plan_hash(entry["id"], changes, prints)
    expires = datetime.now(timezone.utc) + timedelta(seconds=timeout)
    name = approval_name(ctx.name, h)
    how = f"`incident-operator approve {ctx.name} -n {ctx.namespace}` (거부: `incident-operator deny …`)"
    entry.update(state="awaiting-approval", plan=changes, planHash=h, approval=name, expiresAt=expires.isoformat(),
                 proposedAt=now_iso(),
                 message=f"승인 대기: {'; '.join(plan_text(changes)) or p.reason} — {how}" + (f" ({why})" if why else ""),
                 at=now_iso())
    rest = [a for a in ctx.status.get("actions") or [] if a.get("id") != entry["id"]]
    ctx.patch_status({"actions": rest + [entry], "approvals": _history(ctx, {
        "planHash": h, "action": entry["id"], "state": "pending", "message": "; ".join(plan_text(changes))[:500]})})
    ctx.events.emit("RemediationAwaitingApproval", f"{entry['id']} 승인 대기 (계획 {h}): {'; '.join(plan_text(changes))} — "
                                                   f"{how}, {expires.isoformat()}까지", key=f"approval-{h}")
    from ..report import outbox
    outbox.deliver(ctx, [{"op": "comment", "key": ctx.comment_key(f"approval-{h}")}])


def _settle_approval(ctx: PhaseContext, entry: dict[str, Any], state: str, record: dict[str, Any], extra: dict | None = None) -> None:
    from ..pipeline import ready_condition
    rest = [a for a in ctx.status.get("actions") or [] if a.get("id") != entry["id"]]
    conditions = ready_condition(ctx.status.get("conditions") or [], "Responding", {
        "approved": "Approved", "denied": "RemediationDenied", "expired": "ApprovalExpired"}.get(state, state),
        entry.get("message") or state, ctx.incident["metadata"].get("generation"))
    ctx.patch_status({"actions": rest + [entry], "approvals": _history(ctx, {**record, "state": state}),
                      "phase": "Responding", "conditions": conditions, **(extra or {})})
    if (ctx.incident["metadata"].get("labels") or {}).get(LABEL_AWAITING_APPROVAL):
        ctx.set_labels({LABEL_AWAITING_APPROVAL: None})
    metrics.APPROVAL_DECISIONS.labels(entry["action"], state).inc()


def await_approval(ctx: PhaseContext, p: RemediationProposal, action: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """Read the plan's IncidentApproval: go on (`in-progress`), end (`denied`, `expired`), or wait without a worker."""
    from ..pipeline import AwaitingApproval
    now = datetime.now(timezone.utc)
    approval = kapprovals.read_approval(ctx.kube, ctx.namespace, entry["approval"])
    since = kapprovals.admission_since(ctx.kube, ctx.settings.remediation_approval_policy) if approval is not None else None
    verdict = judge(approval, ctx.name, entry["planHash"], now, entry.get("expiresAt"), since)
    record = {"planHash": entry["planHash"], "action": entry["id"], "by": verdict.by, "message": verdict.message[:500]}
    if verdict.kind == "expired":
        entry.update(state="expired", message=f"{verdict.message}: 실행하지 않음", at=now_iso())
        _settle_approval(ctx, entry, "expired", record)
        ctx.events.emit("RemediationApprovalExpired", f"{entry['id']}: {verdict.message}", warning=True,
                        key=f"expired-{entry['planHash']}")
        return entry
    if verdict.kind == "denied":
        entry.update(state="denied", decidedBy=verdict.by, decidedAt=verdict.at, message=f"{verdict.message}: 실행하지 않음",
                     at=now_iso())
        _settle_approval(ctx, entry, "denied", record)
        ctx.events.emit("RemediationDenied", f"{entry['id']}: {verdict.message}", warning=True, key=f"denied-{entry['planHash']}")
        return entry
    if verdict.kind == "approved":
        changes, prints = action.plan(p)
        h = plan_hash(entry["id"], changes, prints)
        if h != entry["planHash"]:  # the target changed since the plan was proposed: not what was approved
            old = entry["planHash"]
            stale = {**record, "state": "stale", "message": f"{verdict.by}의 승인은 계획 {old}에 대한 것이나 대상이 그 뒤 "
                                                            "바뀌었습니다: 실행하지 않고 새 계획을 제안합니다"}
            ctx.status["approvals"] = _history(ctx, stale)
            metrics.APPROVAL_DECISIONS.labels(entry["action"], "stale").inc()
            ctx.events.emit("RemediationPlanStale", f"{entry['id']}: 계획 {old}의 대상이 바뀜 (승인 {verdict.by}): 새 계획 제안",
                            warning=True, key=f"stale-{old}")
            propose(ctx, p, action, entry, _timeout(ctx, p), "대상 변경으로 다시 제안")
            raise AwaitingApproval(_poll(ctx, entry), f"{entry['id']} 새 계획 {entry['planHash']} 승인 대기")
        entry.update(state="in-progress", decidedBy=verdict.by, decidedAt=verdict.at,
                     message=f"{verdict.message}: 실행", at=now_iso())
        _settle_approval(ctx, entry, "approved", record)
        if verdict.at and entry.get("proposedAt"):
            waited = (datetime.fromisoformat(str(verdict.at).replace("Z", "+00:00"))
                      - datetime.fromisoformat(str(entry["proposedAt"]).replace("Z", "+00:00"))).total_seconds()
            metrics.TIME_TO_APPROVAL.labels(entry["action"]).observe(max(0.0, waited))
        ctx.events.emit("RemediationApproved", f"{entry['id']}: {verdict.message} (계획 {h})", key=f"approved-{h}")
        return entry
    if verdict.kind == "untrusted":
        if not any(r.get("planHash") == entry["planHash"] and r.get("state") == "refused"
                   for r in ctx.status.get("approvals") or []):
            ctx.patch_status({"approvals": _history(ctx, {**record, "state": "refused"})})
            ctx.events.emit("RemediationApprovalRefused", f"{entry['id']}: {verdict.message}", warning=True)
    if not (ctx.incident["metadata"].get("labels") or {}).get(LABEL_AWAITING_APPROVAL):
        ctx.set_labels({LABEL_AWAITING_APPROVAL: "true"})  # what the pending-approvals gauge counts (kube/approvals.py)
    raise AwaitingApproval(_poll(ctx, entry), f"{entry['id']} 승인 대기 (계획 {entry['planHash']}, "
                                              f"{entry.get('expiresAt')}까지): {'; '.join(plan_text(entry.get('plan') or []))}")


def _timeout(ctx: PhaseContext, p: RemediationProposal) -> float:
    return mode_for(ctx, p).timeout or ctx.settings.remediation_approval_timeout_seconds


def _poll(ctx: PhaseContext, entry: dict[str, Any]) -> float:
    left = (datetime.fromisoformat(entry["expiresAt"]) - datetime.now(timezone.utc)).total_seconds()
    return max(0.5, min(ctx.settings.remediation_approval_poll_seconds, left + 0.5))


def verify(ctx: PhaseContext, p: RemediationProposal, entry: dict[str, Any], *, block: bool = False) -> dict[str, Any]:
    """Settle a `verifying` action: `succeeded` once healthy, `unverified` past its deadline (and then undone).

    Not yet either: raise `pipeline.Waiting` (the worker is released), or with `block` poll here.
    """
    from ..pipeline import Waiting
    action = action_for(p.action, ctx.kube, ctx.settings)
    interval = ctx.settings.remediation_verify_interval_seconds
    while True:
        ok, seen = action.healthy(p)
        if ok:
            try:
                restarts = action.restarts(p)
            except Exception:  # noqa: BLE001 - the baseline is a nicety; the fix is verified either way
                restarts = None
            entry.update(state="succeeded", after=action.snapshot(p), verifiedAt=now_iso(),
                         baseline={"seen": seen, **({"restarts": restarts} if restarts is not None else {})},
                         message=f"{p.reason or '조치 완료'} — 정상화 확인: {seen}", at=now_iso())
            _save(ctx, entry)
            ctx.events.emit("RemediationVerified", f"{entry['id']}: {seen}")
            return entry
        if datetime.now(timezone.utc) >= datetime.fromisoformat(entry["verifyBy"]):
            entry = _unverified(ctx, action, p, entry, seen)
            if entry.get("state") == "undoing":
                return verify_undo(ctx, p, entry, block=block)
            return entry
        if not block:
            raise Waiting(interval, f"{entry['id']} 정상화 대기: {seen}")
        time.sleep(interval)


def _unverified(ctx: PhaseContext, action: Any, p: RemediationProposal, entry: dict[str, Any], seen: str) -> dict[str, Any]:
    """Not healthy in the window: `unverified`, and (INCIDENT_REMEDIATION_UNDO_UNVERIFIED) put back — `undoing`
    until the undo is seen in effect."""
    message = (f"조치 후 {ctx.settings.remediation_verify_seconds:g}초 안에 정상화되지 않음: {seen}")
    entry.update(state="unverified", after=action.snapshot(p), message=message, at=now_iso())
    if ctx.settings.remediation_undo_unverified:
        try:
            undone = action.undo(p, entry.get("before") or {})
        except Exception as exc:  # noqa: BLE001 - the undo failing is recorded, the Incident still needs a human
            undone = None
            entry.update(undo=redact(f"되돌리기 실패: {exc}")[:300], undoState="failed")
            metrics.UNDOS.labels(entry["action"], "failed").inc()
        if undone:
            deadline = datetime.now(timezone.utc) + timedelta(seconds=ctx.settings.remediation_verify_seconds)
            entry.update(state="undoing", undo=undone, undoState="undoing", undoVerifyBy=deadline.isoformat())
        elif not entry.get("undoState"):
            entry.update(undo="되돌릴 수 없는 조치입니다 (조치 전 상태가 기록되지 않았거나 삭제는 되돌릴 수 없음)",
                         undoState="impossible")
    _save(ctx, entry)
    ctx.events.emit("RemediationUnverified", f"{entry['id']}: {message}" + (f" ({entry['undo']})" if entry.get("undo") else ""),
                    warning=True)
    return entry


def verify_undo(ctx: PhaseContext, p: RemediationProposal, entry: dict[str, Any], *, block: bool = False) -> dict[str, Any]:
    """Settle an `undoing` action: the target back as it was before (seen by its controller), or not in time."""
    from ..pipeline import Waiting
    action = action_for(p.action, ctx.kube, ctx.settings)
    interval = ctx.settings.remediation_verify_interval_seconds
    while True:
        ok, seen = action.undo_settled(p, entry.get("before") or {})
        if ok:
            entry.update(state="unverified", undoState="verified", undoVerifiedAt=now_iso(),
                         undo=f"{entry.get('undo')} — 되돌림 확인: {seen}"[:300], at=now_iso())
            _save(ctx, entry)
            metrics.UNDOS.labels(entry["action"], "verified").inc()
            ctx.events.emit("RemediationUndone", f"{entry['id']}: 정상화되지 않은 조치를 되돌림, 확인: {seen}")
            return entry
        if datetime.now(timezone.utc) >= datetime.fromisoformat(entry["undoVerifyBy"]):
            entry.update(state="unverified", undoState="unverified",
                         undo=f"{entry.get('undo')} — 되돌림 미확인: {seen}"[:300], at=now_iso())
            _save(ctx, entry)
            metrics.UNDOS.labels(entry["action"], "unverified").inc()
            ctx.events.emit("RemediationUndoUnverified", f"{entry['id']}: 되돌림이 확인되지 않음: {seen}", warning=True)
            return entry
        if not block:
            raise Waiting(interval, f"{entry['id']} 되돌림 확인 대기: {seen}")
        time.sleep(interval)


def settle(ctx: PhaseContext, p: RemediationProposal, *, block: bool = False) -> dict[str, Any]:
    """remediate() and then verify() (and verify_undo()) until the action is in a final state."""
    entry = remediate(ctx, p)
    if entry.get("state") == "verifying":
        entry = verify(ctx, p, entry, block=block)
    if entry.get("state") == "undoing":
        entry = verify_undo(ctx, p, entry, block=block)
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
    elif any(a.get("state") == "denied" for a in actions):
        summary = f"조치 거부됨 (수동 조치 필요): {summary}"
    elif any(a.get("state") == "expired" for a in actions):
        summary = f"승인 대기 시간 초과 (수동 조치 필요): {summary}"
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
