"""Approval, undo and effectiveness: the decisions, as pure functions (the respond phase does the I/O).

- `effective_mode`: which of auto / approve / dry-run / off an action runs under. The Incident's own option, the
  cluster's policy (settings) and the namespace's RemediationPolicy objects each may only make it stricter.
- `plan_hash`, `approval_name`: a plan (object, field, before → after, and each target's uid and generation) has a
  hash; a person approves that hash, in an IncidentApproval of a fixed name (one decision per plan).
- `judge`: what an IncidentApproval (or its absence) means for a pending plan: wait, approved, denied, expired,
  or not to be trusted (the admission policy that checks its creator is not in force).
- `assess`: whether a verified fix held (the effectiveness check some minutes after Resolved): the Incident's
  CloudWatch alarm as CloudWatch describes it now (ALARM: regressed; OK: held; anything else: it cannot confirm,
  and the other evidence decides), the target's health, its restarts since, and Incidents opened since.
- `rank_fixes`: past fixes of a workload and cause, most often held first, from the labels the effectiveness check
  leaves on each Incident (one bounded label-selected list, whatever the history).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from ..tools.cloudwatch import AlarmNow

STRICTNESS = {"auto": 0, "approve": 1, "dry-run": 2, "off": 3, "never": 3}
MODE_KO = {"auto": "자동 실행", "approve": "승인 필요", "dry-run": "dry-run(기록만)", "off": "실행 안 함", "never": "실행 안 함"}
APPROVAL_POLICY = "incident-operator-approvals"  # manifests/admission.yaml: spec.approvedBy == the requester


@dataclass(frozen=True)
class Mode:
    mode: str  # auto | approve | dry-run | off
    why: str  # which policy made it so (Korean)
    timeout: float | None = None  # the approval window, seconds


def _policy_mode(spec: dict[str, Any], action: str) -> str | None:
    return ((spec.get("actions") or {}).get(action)) or spec.get("default")


def effective_mode(action: str, incident_mode: str, cluster_mode: str, cluster_actions: dict[str, str],
                   namespace_policies: Iterable[dict[str, Any]], cluster_timeout: float) -> Mode:
    """The strictest of: the Incident's spec.options.remediation, the cluster's policy for this action, and every
    RemediationPolicy of the target's namespace. A namespace may only tighten: `auto` there changes nothing."""
    candidates = [(incident_mode, "Incident의 spec.options.remediation"),
                  (cluster_actions.get(action) or cluster_mode, "클러스터 정책(INCIDENT_REMEDIATION_MODE)")]
    timeout = cluster_timeout
    for obj in namespace_policies:
        spec = obj.get("spec") or {}
        name = (obj.get("metadata") or {}).get("name", "?")
        mode = _policy_mode(spec, action)
        if mode in STRICTNESS:
            candidates.append((mode, f"네임스페이스 정책 RemediationPolicy `{name}`"))
        t = spec.get("approvalTimeoutSeconds")
        if isinstance(t, (int, float)) and 0 < t < timeout:
            timeout = float(t)
    mode, why = max(candidates, key=lambda c: STRICTNESS.get(c[0], 0))
    if mode == "never":
        mode = "off"
    return Mode(mode, f"{why}: {MODE_KO[mode]}", timeout)


# ---- the plan ---------------------------------------------------------------------------------------------------
def plan_hash(action_id: str, changes: list[dict[str, Any]], fingerprints: list[str]) -> str:
    """The plan's identity: what changes, and the exact objects (uid, generation) it was read from. Any change to
    a target's spec moves its generation, so an approval of the old hash no longer applies."""
    body = json.dumps({"action": action_id, "changes": changes, "targets": sorted(fingerprints)}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def approval_name(incident: str, plan: str) -> str:
    """The IncidentApproval that decides `plan` of `incident`: one name per plan, so approve and deny cannot both
    exist, and a second decision is refused by the API server (409)."""
    return f"{incident[:235].rstrip('.-')}-{plan[:16]}"


def plan_text(changes: list[dict[str, Any]]) -> list[str]:
    """`Kind/ns/name` field: before → after, one line each (the report and the Event)."""
    return [f"{c.get('object')} {c.get('field')}: {c.get('before')} → {c.get('after')}" for c in changes]


# ---- an approval's verdict --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    kind: str  # wait | approved | denied | expired | untrusted
    by: str | None = None
    at: str | None = None
    message: str = ""


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def judge(approval: dict[str, Any] | None, incident: str, plan: str, now: datetime, expires_at: Any,
          admission_since: datetime | None) -> Verdict:
    """What the IncidentApproval named for this plan says.

    `admission_since`: when the admission policy that checks `spec.approvedBy` against the requester (and its
    binding) came into force, None when it is not. An approval the policy did not see at its creation records a
    name nobody checked: not trusted, whatever it says."""
    if approval is not None:
        spec = approval.get("spec") or {}
        meta = approval.get("metadata") or {}
        created = _time(meta.get("creationTimestamp"))
        if spec.get("incident") != incident or spec.get("plan") != plan:
            return Verdict("untrusted", message=f"IncidentApproval `{meta.get('name')}`이(가) 다른 인시던트나 계획을 가리킵니다")
        if admission_since is None:
            return Verdict("untrusted", message="승인자 확인 정책(ValidatingAdmissionPolicy, INCIDENT_REMEDIATION_APPROVAL_POLICY)이 설치되어 있지 "
                                                "않아 승인자를 API 서버 기준으로 확인할 수 없습니다: 승인을 받아들이지 않습니다")
        if created is None or created < admission_since:
            return Verdict("untrusted", message=f"IncidentApproval `{meta.get('name')}`은(는) 승인자 확인 정책이 적용되기 전에 "
                                                "만들어졌습니다: 승인자를 확인할 수 없어 받아들이지 않습니다")
        deadline = _time(expires_at)
        if deadline is not None and created > deadline:  # decided after the plan had expired: too late
            return Verdict("expired", message=f"승인 대기 시간이 지난 뒤({deadline.isoformat()} 이후)에 결정되었습니다")
        by = str(spec.get("approvedBy") or "")
        comment = f" — {spec['comment']}" if spec.get("comment") else ""
        if spec.get("decision") == "approve":
            return Verdict("approved", by, meta.get("creationTimestamp"), f"{by}이(가) 승인함{comment}")
        if spec.get("decision") == "deny":
            return Verdict("denied", by, meta.get("creationTimestamp"), f"{by}이(가) 거부함{comment}")
    deadline = _time(expires_at)
    if deadline is not None and now >= deadline:
        return Verdict("expired", message=f"승인 대기 시간이 지났습니다 ({deadline.isoformat()}까지 승인 없음)")
    return Verdict("wait")


# ---- effectiveness ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """The target some minutes after it was verified healthy."""

    healthy: bool
    seen: str
    restarts: int | None = None
    refires: list[str] = field(default_factory=list)  # Incidents of the same alarm / workload created since
    alarm: "AlarmNow | None" = None  # the Incident's CloudWatch alarm now; None: not from a CloudWatch alarm
    per_contributor: bool = False  # a multi-time-series alarm: its state is every contributor's, not this one's


def _when(t: Any) -> str:
    return t.isoformat().replace("+00:00", "Z") if isinstance(t, datetime) else str(t or "?")


def alarm_says(alarm: "AlarmNow", per_contributor: bool = False) -> tuple[bool | None, str]:
    """What the alarm's state now says of the fix: True held, False regressed, None it cannot confirm (then the
    other evidence decides). With the line that says so (Korean): state, StateReason, StateUpdatedTimestamp."""
    seen = f"{alarm.state} — {alarm.reason or '사유 없음'} (상태 갱신 {_when(alarm.updated)})"
    unsure = "; 재시작·준비 상태로 판단"
    if alarm.state == "ALARM" and per_contributor:
        return None, (f"알람 {alarm.name}: 지금 {seen} — 여러 시계열(기여자)의 알람이라 이 대상 때문인지 "
                      f"확인할 수 없음{unsure}")
    if alarm.state == "ALARM":
        return False, f"알람 {alarm.name}이(가) 지금 {seen}"  # again, or never back to OK: the state says which
    if alarm.state == "OK":
        return True, f"알람 {alarm.name}이(가) 지금도 {seen}"
    if alarm.state == "INSUFFICIENT_DATA":
        return None, f"알람 {alarm.name}(으)로 확인할 수 없음: 지금 {seen} (데이터 부족){unsure}"
    return None, f"알람 {alarm.name}(으)로 확인할 수 없음: {alarm.problem or '상태를 읽지 못함'}{unsure}"


def assess(baseline: dict[str, Any], now: Observation) -> tuple[str, list[str]]:
    """held, or regressed (with what was seen, Korean): the alarm not in ALARM (when the Incident came from a
    CloudWatch alarm and CloudWatch answered), still healthy, no new restarts, no new Incident."""
    evidence: list[str] = []
    regressed = False
    if now.alarm is not None:
        verdict, line = alarm_says(now.alarm, now.per_contributor)
        regressed = verdict is False
        evidence.append(line)
    if now.healthy:
        evidence.append(f"상태 유지: {now.seen}")
    else:
        regressed = True
        evidence.append(f"다시 비정상: {now.seen}")
    before = baseline.get("restarts")
    if isinstance(before, int) and now.restarts is not None:
        if now.restarts > before:
            regressed = True
            evidence.append(f"확인 후 재시작 {now.restarts - before}회 (확인 시 {before}회 → 지금 {now.restarts}회)")
        else:
            evidence.append(f"새 재시작 없음 (재시작 {now.restarts}회)")
    if now.refires:
        regressed = True
        evidence.append(f"같은 알람/워크로드의 인시던트가 다시 생김: {', '.join(now.refires[:5])}")
    else:
        evidence.append("같은 알람/워크로드의 새 인시던트 없음")
    return ("regressed" if regressed else "held"), evidence


# ---- which fix has held before ----------------------------------------------------------------------------------
def rank_fixes(incidents: Iterable[dict[str, Any]], fix_label: str, result_label: str, workload: str) -> list[dict[str, Any]]:
    """Per action: how many of the past Incidents' checked fixes held, most often held first (then most checked)."""
    counts: dict[str, list[int]] = {}
    for inc in incidents:
        labels = (inc.get("metadata") or {}).get("labels") or {}
        action, result = labels.get(fix_label), labels.get(result_label)
        if not action or result not in ("held", "regressed"):
            continue
        c = counts.setdefault(action, [0, 0])
        c[0] += result == "held"
        c[1] += 1
    ranked = sorted(counts.items(), key=lambda kv: (kv[1][0] / kv[1][1], kv[1][1]), reverse=True)
    return [{"action": a, "workload": workload, "held": h, "total": n} for a, (h, n) in ranked]


def fix_line(f: dict[str, Any]) -> str:
    """"rollback-image held 3 of 3 times for `checkout`", in Korean."""
    return f"`{f['action']}`: `{f['workload']}`에서 {f['total']}번 중 {f['held']}번 효과 유지 (held {f['held']} of {f['total']})"
