"""`chaos-cleanup`: remove a CPU-burner workload through the same guarded path as the respond phase.

The target's evidence is read (within the caller's scope), the CPU-burner analyzer must find a strong
burner signal on it, and `remediation.policy.decide` applies the operator's rules (allow-list,
protected namespaces, tenancy, target in evidence). It is a dry-run unless the caller asks to execute
*and* the operator's settings allow it (`INCIDENT_CHAOS_CLEANUP_EXECUTE`); an execution is verified
(pods gone) like any remediation. With `incident`, the action is recorded in that Incident's
`status.actions` (the audit trail).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..clock import now_iso
from ..models.spec import Target
from .base import NotConfigured, Tool, ToolDeps


class ChaosCleanupInput(BaseModel):
    namespace: str
    kind: Literal["Deployment", "Pod"] = "Deployment"
    name: str
    execute: bool = Field(default=False, description="Act for real (only if the operator's settings allow it); default dry-run")
    incident: str | None = Field(default=None, description="namespace/name of the Incident to record the action in")


class ChaosCleanupOutput(BaseModel):
    target: str
    burner: bool = Field(description="Whether a strong CPU-burner signal was found on the target")
    signal: str | None = None
    mode: str = Field(description="auto / dry-run / skip")
    state: str = Field(description="succeeded / unverified / failed / dry-run / skipped")
    message: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    recorded_in: str | None = None


def chaos_cleanup(args: ChaosCleanupInput, deps: ToolDeps) -> ChaosCleanupOutput:
    from ..analyzers.cpu_burner import CpuBurnerAnalyzer
    from ..models.evidence import EvidenceBundle
    from ..remediation.actions import action_for
    from ..remediation.policy import decide

    if deps.kube is None:
        raise NotConfigured("Kubernetes API에 연결되지 않음")
    s, scope = deps.settings, deps.effective_scope()
    target = Target(namespace=args.namespace, kind=args.kind, name=args.name)
    scope.check(target)
    now = datetime.now(timezone.utc)
    cluster = deps.cluster_collector(log_tail_lines=0, scope=scope).collect(target)
    bundle = EvidenceBundle(incident=args.incident or "chaos-cleanup", target=target, cluster=cluster,
                            window={"start": now - timedelta(minutes=30), "end": now, "anchor": now})
    label = f"{args.kind}/{args.namespace}/{args.name}"
    cause = next((c for c in CpuBurnerAnalyzer().analyze(bundle)
                  if c.resource and (c.resource.namespace, c.resource.name) == (args.namespace, args.name)), None)
    if cause is None or cause.remediation is None:
        return ChaosCleanupOutput(target=label, burner=False, mode="skip", state="skipped",
                                  message="CPU 부하 생성 신호가 없어 아무것도 하지 않음")
    p = cause.remediation
    mode = "auto" if args.execute and s.chaos_cleanup_execute else "dry-run"
    from ..kube.approvals import namespace_policies
    from ..remediation.approval import effective_mode
    policy = effective_mode(p.action, mode, s.remediation_mode, s.remediation_action_modes,
                            namespace_policies(deps.kube, args.namespace), s.remediation_approval_timeout_seconds)
    if policy.mode == "approve":  # a tool call is nobody's approval: the policy's approval is only an IncidentApproval
        mode = "dry-run"
    decision = decide(p, policy.mode if policy.mode == "off" else mode, bundle, s, scope=scope)
    action = action_for(p.action, deps.kube)
    out = ChaosCleanupOutput(target=label, burner=True, signal=cause.evidence[0].text if cause.evidence else None,
                             mode=decision.mode, state="skipped", message=decision.reason)
    if decision.mode != "skip":
        out.before = action.snapshot(p)
    if decision.mode == "dry-run":
        out.state = "dry-run"
        out.message = (f"dry-run: {p.reason} (실행하려면 execute=true와 INCIDENT_CHAOS_CLEANUP_EXECUTE=true 필요)"
                       if not (args.execute and s.chaos_cleanup_execute)
                       else f"dry-run: {p.reason} ({policy.why}: 승인은 Incident의 IncidentApproval로만 받습니다)"
                       if policy.mode == "approve" else decision.reason)
    elif decision.mode == "auto":
        try:
            if not action.is_applied(p):
                action.apply(p)
        except Exception as exc:  # noqa: BLE001 - reported as the outcome
            out.state, out.message = "failed", f"실행 실패: {exc}"
        else:
            deadline = time.monotonic() + min(s.remediation_verify_seconds, 60)
            while True:
                ok, seen = action.healthy(p)
                if ok or time.monotonic() >= deadline:
                    break
                time.sleep(s.remediation_verify_interval_seconds)
            out.state = "succeeded" if ok else "unverified"
            out.message = f"{p.reason} — {'정상화 확인' if ok else '정상화 미확인'}: {seen}"
            out.after = action.snapshot(p)
    if args.incident:
        out.recorded_in = _record(deps, scope, args.incident, p, out)
    return out


def _record(deps: ToolDeps, scope: Any, incident: str, p: Any, out: ChaosCleanupOutput) -> str:
    """Append the action to the Incident's status.actions (within the caller's scope)."""
    from ..kube.incidents import IncidentStore
    ns, _, name = incident.partition("/")
    scope.check(Target(namespace=ns))
    store = IncidentStore(deps.kube)
    inc = store.get(ns, name)
    actions = list((inc.get("status") or {}).get("actions") or [])
    actions.append({"id": f"chaos-cleanup:{p.action}:{p.target}:{len(actions) + 1}", "action": p.action,
                    "target": str(p.target), "mode": out.mode, "state": out.state, "message": out.message,
                    "params": p.params, "before": out.before, "after": out.after, "at": now_iso(),
                    "via": "chaos-cleanup"})
    store.patch_status(ns, name, {"actions": actions})
    return f"{ns}/{name}"


TOOLS = [
    Tool("chaos-cleanup", "CPU 부하 생성(카오스) 워크로드 정리: 응답 단계와 같은 정책·검증 경로, 기본 dry-run, Incident에 감사 기록",
         ChaosCleanupInput, ChaosCleanupOutput, chaos_cleanup, "remediation", timeout=90,
         read_only=False, destructive=True, idempotent=False),
]
