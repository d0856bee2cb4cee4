"""Korean Markdown for the report, the analysis comment and the recovery comment.

Everything is rendered from the Incident's spec and status, so `incident-operator report NAME`
prints the same text the operator wrote.
"""

from __future__ import annotations

import json
from typing import Any

SEVERITY_KO = {"critical": "치명", "high": "높음", "medium": "보통", "low": "낮음"}
OUTCOME_KO = {"ok": "성공", "failed": "실패", "not-configured": "미설정", "timed-out": "시간 초과", "skipped": "건너뜀"}
ACTION_STATE_KO = {"succeeded": "성공", "failed": "실패", "dry-run": "dry-run(미실행)", "skipped": "건너뜀",
                   "in-progress": "진행 중", "verifying": "정상화 확인 중", "unverified": "정상화 미확인"}


OUTCOME_STATE_KO = {"remediated": "자동 복구 완료", "recovered": "알람 정상화", "needs-action": "수동 조치 필요",
                    "unverified": "조치 후 정상화 미확인 (수동 확인 필요)"}


def state_text(status: dict[str, Any], closed: bool, close_title: str | None = None) -> str:
    """One line on where the incident stands (the Slack message's state)."""
    outcome = OUTCOME_STATE_KO.get(status.get("outcome") or "")
    if closed:
        return f"종료 — {outcome or (close_title or '# 복구 완료').lstrip('# ')}"
    if outcome:
        return outcome
    if status.get("topCause"):
        return f"분석 완료 — 가장 유력한 원인: {status['topCause']}"
    return "분석 중"


def issue_title(spec: dict[str, Any], name: str) -> str:
    alarm = (spec.get("alarm") or {}).get("name")
    return f"[인시던트] {alarm} 알람 발생" if alarm else f"[인시던트] {name} 수동 등록"


def labels(spec: dict[str, Any]) -> list[str]:
    return ["incident", f"severity:{spec.get('severity', 'high')}", "auto-analysis"]


def _target_text(status: dict, spec: dict) -> str:
    t = status.get("target") or spec.get("target") or {}
    parts = [f"{k}={t[k]}" for k in ("cluster", "namespace", "kind", "name", "pod", "node") if t.get(k)]
    return ", ".join(parts) or "알 수 없음"


def summary_section(name: str, spec: dict, status: dict) -> list[str]:
    alarm = spec.get("alarm") or {}
    metric = alarm.get("metric") or {}
    lines = ["## 요약", ""]
    lines.append(f"- 인시던트: `{name}` (유형: {status.get('incidentType', '확인 중')})")
    lines.append(f"- 심각도: {SEVERITY_KO.get(spec.get('severity', 'high'), spec.get('severity'))} (`severity:{spec.get('severity', 'high')}`)")
    if alarm:
        cond = f"{metric.get('name', '?')} {metric.get('comparisonOperator', '')} {alarm.get('threshold', '')}".strip()
        lines.append(f"- 알람: `{alarm.get('name')}` ({alarm.get('state', 'ALARM')}) — {cond}")
        if alarm.get("timestamp"):
            lines.append(f"- 발생 시각: {alarm['timestamp']}")
        if alarm.get("reason"):
            lines.append(f"- 알람 사유: {alarm['reason'][:500]}")
    else:
        lines.append(f"- 수동 등록: {spec.get('summary') or '설명 없음'}")
    if status.get("topCause"):
        lines.append(f"- 가장 유력한 원인: **{status['topCause']}**")
    if status.get("summary"):
        lines.append(f"- 현재 상태: {status['summary']}")
    return lines + [""]


def scope_section(spec: dict, status: dict) -> list[str]:
    lines = ["## 영향 범위", "", f"- 대상: {_target_text(status, spec)}"]
    for a in status.get("affected") or []:
        lines.append(f"- `{a.get('kind')}/{a.get('namespace', '')}/{a.get('name')}` {a.get('detail', '')}".rstrip())
    w = status.get("window") or {}
    if w:
        lines.append(f"- 분석 구간: {w.get('start')} ~ {w.get('end')}")
    return lines + [""]


def timeline_section(status: dict) -> list[str]:
    lines = ["## 타임라인", ""]
    entries = status.get("timeline") or []
    lines += [f"- {e.get('time')} — {e.get('text')}" for e in entries] or ["- (기록된 이벤트 없음)"]
    return lines + [""]


def causes_section(status: dict) -> list[str]:
    lines = ["## 근본 원인 후보", ""]
    causes = status.get("causes") or []
    if not causes:
        return lines + ["- (분석 전)", ""]
    for c in causes:
        lines.append(f"{c.get('rank')}. **{c.get('title')}** — 신뢰도 {round(100 * float(c.get('confidence', 0)))}% (`{c.get('kind')}`)")
        for e in c.get("evidence") or []:
            ref = f" (`{e['ref']}`)" if e.get("ref") else ""
            lines.append(f"   - [{e.get('source')}] {e.get('text')}{ref}")
    anomalies = status.get("anomalies") or []
    if anomalies:
        lines += ["", "### 이상 징후 (T±30분)", ""]
        lines += [f"- {(a['time'] + ' ') if a.get('time') else ''}[{a.get('source')}] {a.get('text')}" for a in anomalies[:15]]
    similar = status.get("similarIncidents") or []
    if similar:
        lines += ["", "### 유사한 과거 인시던트", ""]
        lines += [f"- `{s.get('name')}` ({s.get('phase')}) — 원인: {s.get('topCause') or '?'}; 일치: {', '.join(s.get('match') or [])}" for s in similar]
    related = status.get("relatedIncidents") or []
    if related:
        lines += ["", f"### 같은 이벤트로 묶인 알람 ({len(related)}건)", ""]
        lines += [f"- `{r}`" for r in related[:20]] + ([f"- … 외 {len(related) - 20}건"] if len(related) > 20 else [])
    sources = (status.get("evidence") or {}).get("sources") or []
    if sources:
        lines += ["", "### 수집한 증거", ""]
        lines += [f"- `{s.get('source')}`: {OUTCOME_KO.get(s.get('outcome'), s.get('outcome'))}, {s.get('items', 0)}건" + (f" — {s['detail']}" if s.get("detail") else "") for s in sources]
    return lines + [""]


def guide_section(status: dict) -> list[str]:
    guide = status.get("guide") or {}
    lines = ["## 대응 가이드", "", "### 즉시 조치", ""]
    lines += [f"- {a}" for a in guide.get("immediate") or []] or ["- (없음)"]
    lines += ["", "### 장기 개선", ""]
    lines += [f"- {a}" for a in guide.get("longTerm") or []] or ["- (없음)"]
    return lines + [""]


def recovery_section(status: dict, spec: dict) -> list[str]:
    lines = ["## 복구 결과", ""]
    actions = status.get("actions") or []
    for a in actions:
        state = ACTION_STATE_KO.get(a.get("state"), a.get("state"))
        lines.append(f"- `{a.get('action')}` → `{a.get('target')}`: {state} — {a.get('message', '')}")
        if a.get("before") is not None or a.get("after") is not None:
            before, after = (json.dumps(a.get(k), ensure_ascii=False) for k in ("before", "after"))
            lines.append(f"  - 조치 전: `{before}` / 조치 후: `{after}`")
        if a.get("undo"):
            lines.append(f"  - 되돌림: {a['undo']}")
    if not actions:
        lines.append("- 자동 복구 대상 아님: 대응 가이드에 따라 수동 조치가 필요합니다.")
    rec = spec.get("recovery") or {}
    if rec.get("recoveredAt"):
        lines.append(f"- 알람 정상화(OK): {rec['recoveredAt']} {rec.get('reason') or ''}".rstrip())
    return lines + [""]


def full_report(name: str, spec: dict, status: dict, max_chars: int = 20000) -> str:
    lines = [f"# {issue_title(spec, name)}", ""]
    lines += summary_section(name, spec, status) + scope_section(spec, status) + timeline_section(status)
    lines += causes_section(status) + guide_section(status) + recovery_section(status, spec)
    lines.append(f"_엔진: {status.get('engine', 'rules')} · incident-operator_")
    return bound("\n".join(lines), max_chars)


def opening_body(name: str, spec: dict, status: dict) -> str:
    lines = [f"# {issue_title(spec, name)}", ""] + summary_section(name, spec, status) + scope_section(spec, status)
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


def bound(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = "\n\n…(보고서가 길어 잘렸습니다)"
    return text[: max_chars - len(note)] + note
