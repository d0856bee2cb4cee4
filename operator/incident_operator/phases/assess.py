"""After Resolved: did the fix hold? (status.effectiveness, next_step.ASSESS)

INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS after a verified fix resolved the Incident, the target is looked at
again: still healthy (the action's own health check), no container restarts since it was verified (the baseline
recorded then), and no Incident of the same workload (or alarm) opened since — one label-selected, bounded list,
the similar-incident index. An Incident the bridge opened from a CloudWatch alarm (in an incident namespace) also
asks CloudWatch for that alarm's state now: one DescribeAlarms, bounded by the tool timeout. ALARM: regressed;
OK: held, as far as the alarm goes; INSUFFICIENT_DATA, the alarm gone, CloudWatch unreachable: recorded as not
confirmed, and the other evidence decides — the check never waits on CloudWatch or fails for it. The result goes to status, an Event, the report, the metrics, and two labels
(`netaiops.io/fix`, `netaiops.io/fix-result`) by which later Incidents of the workload rank past fixes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bridge_lambda.alarm import label_value

from .. import metrics
from ..clock import now_iso
from ..constants import LABEL_ALARM, LABEL_CAUSE, LABEL_FIX, LABEL_FIX_RESULT, LABEL_WORKLOAD
from ..remediation.actions import action_for
from ..models.spec import Alarm
from ..remediation.approval import Observation, alarm_says, assess
from ..report import outbox, render
from ..tenancy import alert_origin, is_incident_namespace, memory_namespace
from ..tools.base import run_bounded
from ..tools.cloudwatch import AlarmNow
from .context import PhaseContext
from .correlate import SIMILAR_SCAN
from .gather import similarity_labels
from .respond import action_id, proposals


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def seconds_until_due(status: dict[str, Any]) -> float:
    at = (status.get("effectiveness") or {}).get("checkAt")
    return max(0.0, (_time(at) - datetime.now(timezone.utc)).total_seconds()) if at else 0.0


def refires(ctx: PhaseContext) -> list[str]:
    """Incidents of the same workload (else the same alarm) created after this one was resolved."""
    labels = similarity_labels(ctx.spec.alarm if ctx.spec else None, ctx.status.get("affected") or [])
    key = LABEL_WORKLOAD if LABEL_WORKLOAD in labels else LABEL_ALARM
    if key not in labels:
        return []
    since = _time(ctx.status.get("finishedAt") or ctx.incident["metadata"].get("creationTimestamp"))
    where = memory_namespace(ctx.namespace, ctx.settings)
    found = []
    for other in ctx.store.list(where, f"{key}={labels[key]}", limit=SIMILAR_SCAN):
        meta = other["metadata"]
        created = meta.get("creationTimestamp")
        if meta.get("uid") != ctx.incident["metadata"].get("uid") and created and _time(created) > since:
            found.append(f"{meta['namespace']}/{meta['name']}")
    return found


def cloudwatch_alarm(ctx: PhaseContext) -> Alarm | None:
    """The CloudWatch alarm this Incident came from, when CloudWatch may be asked about it: one the bridge wrote
    into an incident namespace (tenants cannot write there). None for an Alertmanager alert, an Incident opened by
    hand, and a tenant's own spec.alarm (a name of the tenant's choosing: another team's alarm is not its to read)."""
    spec = ctx.spec
    if spec is None or spec.source != "alarm" or spec.alarm is None or not spec.alarm.name:
        return None
    if alert_origin(ctx.incident)[0] or not is_incident_namespace(ctx.namespace, ctx.settings):
        return None
    return spec.alarm


DESCRIBE_ALARMS = "cloudwatch-describe-alarms"  # its outcomes in incident_operator_tool_calls_total


def read_alarm(ctx: PhaseContext, alarm: Alarm) -> AlarmNow:
    """The alarm now, from one DescribeAlarms through the operator's CloudWatch client, within the tool timeout
    (tools.base.run_bounded, as every tool call); whatever goes wrong is an answer that could not confirm."""
    from ..tools import cloudwatch as cw
    timeout = ctx.settings.tool_timeout_seconds
    outcome, now, error = run_bounded(ctx.deps, timeout, cw.describe_alarm, ctx.deps, alarm.name, alarm.arn, alarm.region)
    metrics.TOOL_CALLS.labels(DESCRIBE_ALARMS, outcome).inc()
    if outcome == "ok":
        return now
    problem = {"timed-out": f"CloudWatch가 {timeout:g}초 안에 답하지 않음",
               "not-configured": f"CloudWatch를 쓸 수 없음: {error}"}.get(outcome, f"CloudWatch에 물을 수 없음: {error}"[:300])
    ctx.logger.info("effectiveness: alarm %s not read: %s", alarm.name, problem)
    return AlarmNow(name=alarm.name, problem=problem)


def alarm_record(now: AlarmNow, per_contributor: bool) -> dict[str, Any]:
    """status.effectiveness.alarm (a field it does not have now is null: the merge patch clears an older value)."""
    decided, _ = alarm_says(now, per_contributor)
    return {"name": now.name, "state": now.state, "reason": now.reason or None, "problem": now.problem or None,
            "updatedAt": now.updated.isoformat() if now.updated else None, "decided": decided is not None}


def run(ctx: PhaseContext) -> None:
    eff = dict(ctx.status.get("effectiveness") or {})
    entry = next((a for a in ctx.status.get("actions") or [] if a.get("id") == eff.get("action")), {})
    p = next((x for x in proposals(ctx.status) if action_id(x) == eff.get("action")), None)
    if p is None:
        result, evidence = "regressed", ["확인할 조치를 찾을 수 없습니다"]
    else:
        action = action_for(p.action, ctx.kube, ctx.settings)
        ok, seen = action.healthy(p)
        try:
            restarts = action.restarts(p)
        except Exception:  # noqa: BLE001 - restarts unreadable: judged on health and new alarms
            restarts = None
        alarm = cloudwatch_alarm(ctx)
        now = read_alarm(ctx, alarm) if alarm is not None else None
        per_contributor = bool(alarm and alarm.contributor)
        result, evidence = assess(entry.get("baseline") or {}, Observation(ok, seen, restarts, refires(ctx), now,
                                                                           per_contributor))
        if now is not None:
            eff["alarm"] = alarm_record(now, per_contributor)
    eff.update(state=result, checkedAt=now_iso(), evidence=evidence)
    ctx.patch_status({"effectiveness": eff})
    action_name = entry.get("action") or (p.action if p else "unknown")
    labels = {LABEL_FIX: label_value(action_name), LABEL_FIX_RESULT: result}
    kind = ((ctx.status.get("causes") or [{}])[0] or {}).get("kind")
    if kind:
        labels[LABEL_CAUSE] = label_value(kind)
    ctx.set_labels(labels)
    metrics.EFFECTIVENESS.labels(action_name, result).inc()
    text = f"{eff.get('action')}: " + ("조치 효과 유지" if result == "held" else "조치 후 다시 악화") + f" — {'; '.join(evidence)}"
    ctx.events.emit("RemediationHeld" if result == "held" else "RemediationRegressed", text, warning=result != "held",
                    key="effectiveness")
    report = outbox.deliver(ctx, [{"op": "comment", "key": ctx.comment_key("effectiveness")}], patch=False)
    report["markdown"] = render.full_report(ctx.name, ctx.incident.get("spec", {}), ctx.status, ctx.settings.report_max_chars)
    ctx.patch_status({"report": report})
