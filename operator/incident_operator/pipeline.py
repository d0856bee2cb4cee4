"""Walks an Incident through the six phases, writing status after each one.

It resumes from `status.completedPhases`, so an operator killed mid-phase picks up where it
stopped. A failing phase is retried with exponential backoff (`RetryLater`) up to
`settings.max_attempts`, then the Incident goes Failed with a Korean message.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from kubernetes.client import ApiException
from pydantic import ValidationError

from .models.spec import IncidentSpec
from .constants import ANN_SILENCED, AWAITING_APPROVAL, FAILED, FINISHED_PHASES, GROUPED, NEEDS_ACTION, PHASES, RESOLVED
from . import metrics
from .clock import now_iso
from .phases import PHASE_FUNCTIONS
from .phases.context import PhaseContext
from .redact import redact
from .grouping import Grouped
from .tenancy import Refused

CONDITION_TYPES = {
    "Gathering": "Gathered", "Reporting": "Reported", "Collecting": "Collected",
    "Correlating": "Correlated", "Diagnosing": "Diagnosed", "Responding": "Responded",
}
PHASE_KO = {
    "Gathering": "정보 수집", "Reporting": "리포트 생성", "Collecting": "증거 수집",
    "Correlating": "상관 분석", "Diagnosing": "원인 진단", "Responding": "대응",
}


class RetryLater(Exception):
    def __init__(self, delay: float, message: str):
        super().__init__(message)
        self.delay = delay


class Waiting(Exception):
    """A phase is waiting on the cluster (a rollout to become healthy): come back later, nothing failed."""

    def __init__(self, delay: float, message: str):
        super().__init__(message)
        self.delay = delay


class AwaitingApproval(Waiting):
    """The respond phase proposed a plan and waits for a person's IncidentApproval: phase AwaitingApproval, Ready=False
    with the reason; the worker is released and the Incident looked at again (or woken by the approvals' watch)."""


def upsert_condition(conditions: list[dict], ctype: str, status: str, reason: str, message: str,
                     generation: int | None = None) -> list[dict]:
    """Set one condition (Kubernetes conventions: lastTransitionTime moves only when status changes)."""
    out = [c for c in conditions if c.get("type") != ctype]
    old = next((c for c in conditions if c.get("type") == ctype), None)
    changed = old is None or old.get("status") != status
    cond = {"type": ctype, "status": status, "reason": reason, "message": message[:500],
            "lastTransitionTime": now_iso() if changed else old.get("lastTransitionTime", now_iso())}
    if generation is not None:
        cond["observedGeneration"] = generation
    out.append(cond)
    return out


def _generation(ctx: PhaseContext) -> int | None:
    return ctx.incident["metadata"].get("generation")


def backoff(settings, attempt: int) -> float:
    return min(settings.backoff_max_seconds, settings.backoff_seconds * 2 ** max(0, attempt - 1))


def claim(ctx: PhaseContext, also: dict | None = None) -> None:
    """Take (or renew) this Incident for this replica before a phase runs.

    Kopf peering keeps one replica active; this claim covers the moments around a hand-over. The
    patch carries the resourceVersion we read, so two replicas cannot both win.
    """
    me, held = ctx.settings.identity, ctx.status.get("claim") or {}
    if held.get("holder") not in (None, me):
        renewed = datetime.fromisoformat(held.get("renewedAt", "1970-01-01T00:00:00+00:00"))
        age = (datetime.now(timezone.utc) - renewed).total_seconds()
        if age < ctx.settings.claim_seconds:
            raise RetryLater(max(1.0, ctx.settings.claim_seconds - age), f"{held['holder']}이(가) 처리 중")
    patch = {"claim": {"holder": me, "renewedAt": now_iso()}, **(also or {})}
    try:
        ctx.patch_status(patch, guarded=True)
    except ApiException as exc:
        if exc.status != 409:
            raise
        # Something changed the Incident since we read it. A labels or annotations change (the bridge
        # counting occurrences) leaves the claim ours: write again on the new version. Another holder wins.
        fresh = ctx.store.get(ctx.namespace, ctx.name)
        holder = ((fresh.get("status") or {}).get("claim") or {}).get("holder")
        if holder not in (None, me) or (fresh.get("status") or {}).get("phase") in FINISHED_PHASES:
            # another replica holds it, or finished it meanwhile (e.g. Grouped it while gathering, which
            # claims nothing): read it again and decide anew
            raise RetryLater(1.0, "다른 replica가 먼저 상태를 바꿈") from None
        ctx.incident["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
        try:
            ctx.patch_status(patch, guarded=True)
        except ApiException as again:
            if again.status == 409:
                raise RetryLater(1.0, "다른 replica가 먼저 상태를 바꿈") from None
            raise


def ready_condition(conditions: list[dict], phase: str, reason: str, message: str,
                    generation: int | None = None) -> list[dict]:
    """`Ready` per Kubernetes conventions: True only when the incident is over (Resolved)."""
    return upsert_condition(conditions, "Ready", "True" if phase == RESOLVED else "False", reason, message, generation)


def fail(ctx: PhaseContext, phase: str, message: str, reason: str | None = None,
         conditions: list[dict] | None = None) -> None:
    reason = reason or f"{phase}Failed"
    conditions = upsert_condition(conditions if conditions is not None else ctx.status.get("conditions") or [],
                                  "Failed", "True", reason, message, _generation(ctx))
    conditions = ready_condition(conditions, FAILED, reason, message, _generation(ctx))
    ctx.patch_status({"phase": FAILED, "lastError": message, "summary": message[:300], "conditions": conditions,
                      "finishedAt": now_iso()})
    ctx.events.emit("IncidentFailed", message, warning=True)
    metrics.INCIDENTS.labels("Failed", "failed").inc()


def reject_invalid_spec(ctx: PhaseContext, error: ValidationError) -> None:
    """A spec the CRD let through but the operator cannot use: Failed at once, nothing retried."""
    fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
    fail(ctx, "Gathering", f"Incident spec를 해석할 수 없습니다: {fields}")


def run(ctx: PhaseContext) -> str:
    """Run the remaining phases. Returns the phase the Incident ended in."""
    status = ctx.status
    if status.get("phase") in FINISHED_PHASES:
        return status["phase"]
    try:
        ctx.spec = IncidentSpec.model_validate(ctx.incident.get("spec") or {})
    except ValidationError as exc:
        reject_invalid_spec(ctx, exc)
        return FAILED
    generation = ctx.incident["metadata"].get("generation")
    for phase in PHASES:
        if phase in (status.get("completedPhases") or []):
            continue
        if ctx.annotations.get(ANN_SILENCED) == "true":
            if not status.get("silenced"):
                ctx.patch_status({"silenced": True, "summary": "알림 중지(silenced): 분석을 멈췄습니다"})
                ctx.events.emit("IncidentSilenced", f"{phase} 단계 전에 멈춤 (annotation {ANN_SILENCED})")
            ctx.flush_status()
            return status.get("phase") or "Pending"
        if status.get("silenced"):
            ctx.patch_status({"silenced": None})
        timing = dict((status.get("phases") or {}).get(phase) or {})
        timing.setdefault("startedAt", now_iso())
        if status.get("waiting") != phase:  # polling a wait is not another run
            timing["runs"] = int(timing.get("runs", 0)) + 1
        shown = AWAITING_APPROVAL if status.get("phase") == AWAITING_APPROVAL and status.get("waiting") == phase else phase
        started_phase = {"phase": shown, "observedGeneration": generation, "phases": {phase: timing}}
        if phase == PHASES[0] and not status.get("claim"):
            # Gathering only reads (and labels the Incident): its start goes with the next write, which
            # claims the Incident before anything leaves the cluster (the report). One write less per Incident.
            ctx.defer_status(started_phase)
        else:  # one guarded write claims the Incident, starts the phase, and records the one before
            claim(ctx, started_phase)
        started = time.monotonic()
        try:
            output = PHASE_FUNCTIONS[phase](ctx)
        except AwaitingApproval as exc:
            if status.get("waiting") != phase or status.get("phase") != AWAITING_APPROVAL:
                conditions = ready_condition(status.get("conditions") or [], AWAITING_APPROVAL, "AwaitingApproval",
                                             str(exc), generation)
                ctx.patch_status({"waiting": phase, "phase": AWAITING_APPROVAL, "conditions": conditions,
                                  "summary": f"승인 대기: {exc}"[:300]})
            raise RetryLater(exc.delay, str(exc)) from None
        except Waiting as exc:
            if status.get("waiting") != phase:
                ctx.patch_status({"waiting": phase})
            raise RetryLater(exc.delay, str(exc)) from None
        except Grouped as exc:  # the same event as an earlier Incident: analysed and reported there
            metrics.PHASE_SECONDS.labels(phase).observe(time.monotonic() - started)
            return group(ctx, exc)
        except Refused as exc:  # permanent: never retried
            metrics.PHASE_SECONDS.labels(phase).observe(time.monotonic() - started)
            conditions = upsert_condition(status.get("conditions") or [], "TargetAllowed", "False", exc.rule, exc.message,
                                          generation)
            fail(ctx, phase, f"{PHASE_KO[phase]}({phase}) 단계에서 거부됨: {exc.message}", reason=exc.rule,
                 conditions=conditions)
            return FAILED
        except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
            metrics.PHASE_SECONDS.labels(phase).observe(time.monotonic() - started)
            attempts = int(status.get("attempts") or 0) + 1
            error = redact(f"{type(exc).__name__}: {exc}")[:1000]
            ctx.logger.warning("phase %s failed (attempt %d/%d): %s", phase, attempts, ctx.settings.max_attempts, error)
            if attempts >= ctx.settings.max_attempts:
                ctx.patch_status({"attempts": attempts})
                fail(ctx, phase, f"{PHASE_KO[phase]}({phase}) 단계가 {attempts}회 시도 후 실패했습니다: {error}")
                return FAILED
            metrics.PHASE_RETRIES.labels(phase).inc()
            conditions = upsert_condition(status.get("conditions") or [], CONDITION_TYPES[phase], "False",
                                          "Retrying", error, generation)
            ctx.patch_status({"attempts": attempts, "lastError": error, "conditions": conditions})
            ctx.events.emit("PhaseRetry", f"{PHASE_KO[phase]}({phase}) 실패, {attempts}회째 재시도 예정: {error}", warning=True)
            raise RetryLater(backoff(ctx.settings, attempts), error) from exc
        metrics.PHASE_SECONDS.labels(phase).observe(time.monotonic() - started)
        timing["finishedAt"] = now_iso()
        conditions = upsert_condition(status.get("conditions") or [], CONDITION_TYPES[phase], "True", "Done",
                                      f"{PHASE_KO[phase]} 완료", generation)
        ctx.defer_status({**output, "completedPhases": list(status.get("completedPhases") or []) + [phase],
                          "phases": {phase: timing}, "conditions": conditions, "attempts": 0, "lastError": None,
                          "waiting": None})
        if phase == "Diagnosing":  # the one mid-run Event people act on; the rest is in status.phases
            ctx.events.emit("Diagnosed", f"원인 진단 완료: {ctx.status.get('topCause') or '원인 미확인'}")
    return finish(ctx)


def group(ctx: PhaseContext, exc: Grouped) -> str:
    """Finish as part of `exc.parent` (the gather phase labelled it with its parent already)."""
    summary = f"`{exc.parent}`와(과) 같은 이벤트({exc.why})로 묶임: 분석과 리포트는 그 Incident에서"
    conditions = ready_condition(ctx.status.get("conditions") or [], GROUPED, "Grouped", summary)
    ctx.patch_status({**exc.gathered, "phase": GROUPED, "parent": exc.parent, "outcome": "grouped", "summary": summary,
                      "conditions": conditions, "finishedAt": now_iso()})
    ctx.events.emit("IncidentGrouped", summary, key="grouped")
    metrics.INCIDENTS.labels(GROUPED, "grouped").inc()
    return GROUPED


def final_phase(outcome: str | None) -> str:
    """Resolved only when remediated-and-verified or recovered; otherwise a person has to act."""
    return RESOLVED if outcome in ("remediated", "recovered") else NEEDS_ACTION


def finish(ctx: PhaseContext) -> str:
    status = ctx.status
    outcome = status.get("outcome") or "needs-action"
    phase = final_phase(outcome)
    summary = status.get("summary") or "분석 완료"
    conditions = status.get("conditions") or []
    gen = _generation(ctx)
    if phase == RESOLVED:
        conditions = upsert_condition(conditions, "Resolved", "True", "Done", summary, gen)
        conditions = ready_condition(conditions, phase, "Remediated" if outcome == "remediated" else "Recovered", summary, gen)
    else:
        conditions = upsert_condition(conditions, "Resolved", "False", "NeedsAction", summary, gen)
        reason = {"unverified": "RemediationUnverified", "dry-run": "DryRun"}.get(outcome, "NeedsAction")
        states = {a.get("state") for a in status.get("actions") or []}
        if reason == "NeedsAction" and states & {"denied", "expired"}:
            reason = "RemediationDenied" if "denied" in states else "ApprovalExpired"
        conditions = ready_condition(conditions, phase, reason, summary, gen)
    patch = {"phase": phase, "conditions": conditions, "finishedAt": now_iso()}
    effectiveness = pending_effectiveness(ctx, outcome)
    if effectiveness:
        patch["effectiveness"] = effectiveness
    ctx.patch_status(patch)
    if phase == RESOLVED:
        ctx.events.emit("IncidentResolved", summary, key="resolved")
    else:
        ctx.events.emit("IncidentNeedsAction", summary, warning=True, key="needs-action")
    metrics.INCIDENTS.labels(phase, outcome).inc()
    return phase


def pending_effectiveness(ctx: PhaseContext, outcome: str) -> dict | None:
    """A verified fix is checked again INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS after Resolved (next_step.ASSESS)."""
    delay = ctx.settings.remediation_effectiveness_seconds
    fixed = next((a for a in ctx.status.get("actions") or [] if a.get("state") == "succeeded"), None)
    if outcome != "remediated" or fixed is None or delay <= 0 or ctx.status.get("effectiveness"):
        return None
    from datetime import timedelta
    at = datetime.now(timezone.utc) + timedelta(seconds=delay)
    return {"state": "pending", "action": fixed.get("id"), "checkAt": at.isoformat()}


RUN_KEYS = ("phase", "completedPhases", "phases", "conditions", "causes", "anomalies", "similarIncidents",
            "timeline", "guide", "topCause", "summary", "outcome", "engine", "evidence", "attempts", "lastError",
            "finishedAt", "actions", "incidentType", "target", "affected", "window", "claim", "waiting", "remediation", "llm", "suspectSearch", "effectiveness", "pastFixes")


def restart(ctx: PhaseContext, token: str) -> None:
    """Forget the last analysis (kept in `previousRuns`) so the pipeline runs again from the start."""
    st = ctx.status
    previous = list(st.get("previousRuns") or []) + [{
        "run": int(st.get("run") or 1), "phase": st.get("phase"), "topCause": st.get("topCause"),
        "outcome": st.get("outcome"), "finishedAt": st.get("finishedAt"),
        "actions": [{k: a.get(k) for k in ("action", "target", "state")} for a in st.get("actions") or []]}]
    patch: dict = {k: None for k in RUN_KEYS if k in st}
    patch.update({"run": int(st.get("run") or 1) + 1, "rerunToken": token, "previousRuns": previous[-10:]})
    if st.get("report"):
        patch["report"] = {"comments": [], "closed": False, "markdown": None}
    ctx.patch_status(patch)
    ctx.events.emit("IncidentRerun", f"재분석 요청 (run {patch['run']})")
