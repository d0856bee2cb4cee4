"""Korean Markdown for the report, the analysis comment and the recovery comment.

Everything is rendered from the Incident's spec and status, so `incident-operator report NAME`
prints the same text the operator wrote. Every value from outside (alarm, Events, logs, the model, a
tenant's spec) goes in through mdescape (`t` as text, `c` as code, `ti` as text whose code spans stay code:
what analyzers, the operator and the model write around quoted values): it cannot add a link, an image, a
mention, a heading or a marker of ours to the report.
"""

from __future__ import annotations

import json
from typing import Any

from ..mdescape import code as c, inline as ti, text as t, title as plain_title

SEVERITY_KO = {"critical": "치명", "high": "높음", "medium": "보통", "low": "낮음"}
OUTCOME_KO = {"ok": "성공", "failed": "실패", "not-configured": "미설정", "timed-out": "시간 초과", "skipped": "건너뜀"}
ACTION_STATE_KO = {"succeeded": "성공", "failed": "실패", "dry-run": "dry-run(미실행)", "skipped": "건너뜀",
                   "in-progress": "진행 중", "verifying": "정상화 확인 중", "unverified": "정상화 미확인",
                   "awaiting-approval": "승인 대기", "denied": "거부됨", "expired": "승인 시간 초과", "undoing": "되돌리는 중"}
UNDO_STATE_KO = {"undoing": "되돌리는 중", "verified": "되돌림 확인됨", "unverified": "되돌림 미확인", "failed": "되돌리기 실패",
                 "impossible": "되돌릴 수 없음"}
EFFECT_KO = {"pending": "확인 예정", "held": "효과 유지", "regressed": "다시 악화"}


OUTCOME_STATE_KO = {"remediated": "자동 복구 완료", "recovered": "알람 정상화", "needs-action": "수동 조치 필요",
                    "unverified": "조치 후 정상화 미확인 (수동 확인 필요)"}


def state_text(status: dict[str, Any], closed: bool, close_title: str | None = None) -> str:
    """One line on where the incident stands (the Slack message's state), in Markdown."""
    outcome = OUTCOME_STATE_KO.get(status.get("outcome") or "")
    if closed:
        return f"종료 — {outcome or (close_title or '# 복구 완료').lstrip('# ')}"
    if outcome:
        return outcome
    if status.get("topCause"):
        return f"분석 완료 — 가장 유력한 원인: {t(status['topCause'])}"
    return "분석 중"


TITLE_NAME_MAX = 200  # an alarm's name in a title (GitHub takes 256 characters in all)


def issue_title(spec: dict[str, Any], name: str) -> str:
    """The report's title as plain text (GitHub's issue title, Slack's header): one line, bounded."""
    alarm = (spec.get("alarm") or {}).get("name")
    subject = plain_title(alarm or name, TITLE_NAME_MAX)
    return f"[인시던트] {subject} 알람 발생" if alarm else f"[인시던트] {subject} 수동 등록"


def _heading(spec: dict[str, Any], name: str) -> str:
    """The title as the report's first line (Markdown)."""
    return f"# {t(issue_title(spec, name))}"


def labels(spec: dict[str, Any]) -> list[str]:
    return ["incident", f"severity:{spec.get('severity', 'high')}", "auto-analysis"]


def _target_text(status: dict, spec: dict) -> str:
    target = status.get("target") or spec.get("target") or {}
    parts = [f"{k}={target[k]}" for k in ("cluster", "namespace", "kind", "name", "pod", "node") if target.get(k)]
    return t(", ".join(parts)) or "알 수 없음"


def summary_section(name: str, spec: dict, status: dict) -> list[str]:
    alarm = spec.get("alarm") or {}
    metric = alarm.get("metric") or {}
    lines = ["## 요약", ""]
    lines.append(f"- 인시던트: {c(name)} (유형: {t(status.get('incidentType', '확인 중'))})")
    severity = spec.get("severity", "high")
    lines.append(f"- 심각도: {t(SEVERITY_KO.get(severity, severity))} ({c(f'severity:{severity}')})")
    if alarm:
        cond = f"{metric.get('name', '?')} {metric.get('comparisonOperator', '')} {alarm.get('threshold', '')}".strip()
        lines.append(f"- 알람: {c(alarm.get('name'))} ({t(alarm.get('state', 'ALARM'))}) — {t(cond)}")
        if alarm.get("timestamp"):
            lines.append(f"- 발생 시각: {t(alarm['timestamp'])}")
        if alarm.get("reason"):
            lines.append(f"- 알람 사유: {t(alarm['reason'], 500)}")
    else:
        lines.append(f"- 수동 등록: {t(spec.get('summary')) or '설명 없음'}")
    if status.get("topCause"):
        lines.append(f"- 가장 유력한 원인: **{t(status['topCause'])}**")
    if status.get("summary"):
        lines.append(f"- 현재 상태: {ti(status['summary'])}")
    return lines + [""]


def scope_section(spec: dict, status: dict) -> list[str]:
    lines = ["## 영향 범위", "", f"- 대상: {_target_text(status, spec)}"]
    for a in status.get("affected") or []:
        ref = f"{a.get('kind')}/{a.get('namespace', '')}/{a.get('name')}"
        lines.append(f"- {c(ref)} {t(a.get('detail', ''))}".rstrip())
    w = status.get("window") or {}
    if w:
        lines.append(f"- 분석 구간: {t(w.get('start'))} ~ {t(w.get('end'))}")
    return lines + [""]


def timeline_section(status: dict) -> list[str]:
    lines = ["## 타임라인", ""]
    entries = status.get("timeline") or []
    lines += [f"- {t(e.get('time'))} — {ti(e.get('text'))}" for e in entries] or ["- (기록된 이벤트 없음)"]
    return lines + [""]


def causes_section(status: dict) -> list[str]:
    lines = ["## 근본 원인 후보", ""]
    causes = status.get("causes") or []
    if not causes:
        return lines + ["- (분석 전)", ""]
    for i, cause in enumerate(causes, 1):
        rank = cause.get("rank") if isinstance(cause.get("rank"), int) else i
        lines.append(f"{rank}. **{ti(cause.get('title'))}** — 신뢰도 {_percent(cause.get('confidence'))}% ({c(cause.get('kind'))})")
        for e in cause.get("evidence") or []:
            ref = f" ({c(e['ref'])})" if e.get("ref") else ""
            lines.append(f"   - \\[{t(e.get('source'))}\\] {ti(e.get('text'))}{ref}")
    anomalies = status.get("anomalies") or []
    if anomalies:
        lines += ["", "### 이상 징후 (T±30분)", ""]
        lines += [f"- {(t(a['time']) + ' ') if a.get('time') else ''}\\[{t(a.get('source'))}\\] {ti(a.get('text'))}" for a in anomalies[:15]]
    similar = status.get("similarIncidents") or []
    if similar:
        lines += ["", "### 유사한 과거 인시던트", ""]
        lines += [f"- {c(s.get('name'))} ({t(s.get('phase'))}) — 원인: {t(s.get('topCause') or '?')}; 일치: {t(', '.join(map(str, s.get('match') or [])))}" for s in similar]
    fixes = status.get("pastFixes") or []
    if fixes:
        lines += ["", "### 과거 조치의 효과 (같은 워크로드·원인)", ""]
        lines += [f"- {c(f.get('action'))}: {c(f.get('workload'))}에서 {t(f.get('total'))}번 중 {t(f.get('held'))}번 효과 유지 "
                  f"(held {t(f.get('held'))} of {t(f.get('total'))})" for f in fixes]
    related = status.get("relatedIncidents") or []
    if related:
        lines += ["", f"### 같은 이벤트로 묶인 알람 ({len(related)}건)", ""]
        lines += [f"- {c(r)}" for r in related[:20]] + ([f"- … 외 {len(related) - 20}건"] if len(related) > 20 else [])
    sources = (status.get("evidence") or {}).get("sources") or []
    if sources:
        lines += ["", "### 수집한 증거", ""]
        lines += [f"- {c(s.get('source'))}: {t(OUTCOME_KO.get(s.get('outcome'), s.get('outcome')))}, {t(s.get('items', 0))}건" + (f" — {t(s['detail'])}" if s.get("detail") else "") for s in sources]
    return lines + [""]


def guide_section(status: dict) -> list[str]:
    guide = status.get("guide") or {}
    lines = ["## 대응 가이드", "", "### 즉시 조치", ""]
    lines += [f"- {ti(a)}" for a in guide.get("immediate") or []] or ["- (없음)"]
    lines += ["", "### 장기 개선", ""]
    lines += [f"- {ti(a)}" for a in guide.get("longTerm") or []] or ["- (없음)"]
    return lines + [""]


def recovery_section(status: dict, spec: dict) -> list[str]:
    lines = ["## 복구 결과", ""]
    actions = status.get("actions") or []
    for a in actions:
        state = ACTION_STATE_KO.get(a.get("state"), a.get("state"))
        lines.append(f"- {c(a.get('action'))} → {c(a.get('target'))}: {t(state)} — {ti(a.get('message', ''))}")
        if a.get("before") is not None or a.get("after") is not None:
            before, after = (json.dumps(a.get(k), ensure_ascii=False) for k in ("before", "after"))
            lines.append(f"  - 조치 전: {c(before)} / 조치 후: {c(after)}")
        for ch in a.get("plan") or []:
            lines.append(f"  - 계획: {c(ch.get('object'))} {c(ch.get('field'))}: {c(ch.get('before'))} → {c(ch.get('after'))}")
        if a.get("decidedBy"):
            verb = "거부" if a.get("state") == "denied" else "승인"
            lines.append(f"  - {verb}: {c(a['decidedBy'])} ({t(a.get('decidedAt'))}, API 서버가 인증한 사용자)")
        if a.get("undo"):
            state = f" ({t(UNDO_STATE_KO.get(a.get('undoState'), a.get('undoState')))})" if a.get("undoState") else ""
            lines.append(f"  - 되돌림{state}: {t(a['undo'])}")
    if not actions:
        lines.append("- 자동 복구 대상 아님: 대응 가이드에 따라 수동 조치가 필요합니다.")
    rec = spec.get("recovery") or {}
    if rec.get("recoveredAt"):
        lines.append(f"- 알람 정상화(OK): {t(rec['recoveredAt'])} {t(rec.get('reason') or '')}".rstrip())
    return lines + [""]


def effectiveness_section(status: dict) -> list[str]:
    eff = status.get("effectiveness") or {}
    if not eff:
        return []
    lines = ["## 조치 효과", "", f"- {c(eff.get('action'))}: **{t(EFFECT_KO.get(eff.get('state'), eff.get('state')))}**"
             + (f" ({t(eff.get('checkedAt') or eff.get('checkAt'))})" if eff.get("checkedAt") or eff.get("checkAt") else "")]
    lines += [f"  - {t(e)}" for e in eff.get("evidence") or []]
    return lines + [""]


def decide_command(verb: str, incident: tuple[str, str] | None, plan: Any = None) -> str:
    """`incident-operator approve NAME -n NAMESPACE --plan HASH`, as code (the names are the Incident's own)."""
    if incident is None:
        return c(f"incident-operator {verb} NAME -n NAMESPACE")
    namespace, name = incident
    return c(f"incident-operator {verb} {name} -n {namespace}" + (f" --plan {plan}" if plan else ""))


def approval_comment(status: dict, spec: dict, incident: tuple[str, str] | None = None) -> str:
    """What is proposed, exactly (each object and field, before → after), and how to approve or deny it: the commands
    for this Incident (`incident`: its namespace and name) and each plan waiting."""
    lines = ["# 조치 승인 요청", ""]
    pending = [a for a in status.get("actions") or [] if a.get("planHash")]
    for a in pending:
        state = ACTION_STATE_KO.get(a.get("state"), a.get("state"))
        lines.append(f"- {c(a.get('action'))} → {c(a.get('target'))} ({t(state)}, 계획 {c(a.get('planHash'))}, "
                     f"{t(a.get('expiresAt'))}까지)")
        for ch in a.get("plan") or []:
            lines.append(f"  - {c(ch.get('object'))} {c(ch.get('field'))}: {c(ch.get('before'))} → {c(ch.get('after'))}")
        if incident is not None and a.get("state") == "awaiting-approval":
            lines.append(f"  - 승인: {decide_command('approve', incident, a.get('planHash'))} · "
                         f"거부: {decide_command('deny', incident, a.get('planHash'))}")
    fixes = status.get("pastFixes") or []
    if fixes:
        lines += ["", "과거 조치의 효과:"]
        lines += [f"- {c(f.get('action'))}: {c(f.get('workload'))}에서 {t(f.get('total'))}번 중 {t(f.get('held'))}번 효과 유지"
                  for f in fixes]
    lines += ["", f"승인: {decide_command('approve', incident)} · 거부: {decide_command('deny', incident)}",
              "(IncidentApproval 객체를 만들 권한이 있는 사람만 승인할 수 있고, 승인자는 API 서버가 인증한 사용자로 기록됩니다)"]
    return "\n".join(lines)


def full_report(name: str, spec: dict, status: dict, max_chars: int = 20000) -> str:
    lines = [_heading(spec, name), ""]
    lines += summary_section(name, spec, status) + scope_section(spec, status) + timeline_section(status)
    lines += causes_section(status) + guide_section(status) + recovery_section(status, spec) + effectiveness_section(status)
    lines.append(f"_엔진: {t(status.get('engine', 'rules'))} · incident-operator_")
    return bound("\n".join(lines), max_chars)


def opening_body(name: str, spec: dict, status: dict) -> str:
    lines = [_heading(spec, name), ""] + summary_section(name, spec, status) + scope_section(spec, status)
    lines.append("자동 분석을 시작했습니다. 증거 수집 → 상관 분석 → 원인 진단 → 대응 순서로 진행 상황을 댓글로 남깁니다.")
    return "\n".join(lines)


def analysis_comment(status: dict) -> str:
    return "\n".join(["# 원인 분석 결과", ""] + causes_section(status) + timeline_section(status) + guide_section(status))


def resolution_comment(status: dict, spec: dict) -> str:
    actions = status.get("actions") or []
    if any(a.get("state") == "succeeded" for a in actions):
        head = "# 복구 완료"
    elif any(a.get("state") == "unverified" for a in actions):
        head = "# 조치 실행 — 정상화 미확인 (수동 확인 필요)"
    else:
        head = "# 분석 완료 — 수동 조치 필요"
    return "\n".join([head, ""] + recovery_section(status, spec))


def _percent(value: Any) -> int:
    try:
        return round(100 * float(value or 0))
    except (TypeError, ValueError):
        return 0


def bound(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = "\n\n…(보고서가 길어 잘렸습니다)"
    return text[: max_chars - len(note)] + note
