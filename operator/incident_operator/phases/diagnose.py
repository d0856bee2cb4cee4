"""Phase 5: ranked causes with evidence, a timeline and a guide; posted as the analysis comment."""

from __future__ import annotations

from typing import Any

from .. import metrics
from ..analyzers import analyze
from ..models.diagnosis import Diagnosis
from ..report import outbox
from .context import PhaseContext
from .. import grouping
from .correlate import past_fixes, similar_incidents


def diagnosis_status(d: Diagnosis) -> dict[str, Any]:
    causes = []
    for i, c in enumerate(d.causes, 1):
        item = c.model_dump(mode="json", by_alias=True, exclude_none=True,
                            exclude={"immediate_actions", "long_term"})
        item["rank"] = i
        if c.resource:
            item["resource"] = str(c.resource)
        causes.append(item)
    top = d.top
    return {
        "engine": d.engine,
        "causes": causes,
        "topCause": f"{top.kind}: {top.resource.name}" if top and top.resource else (top.kind if top else None),
        "timeline": [t.model_dump(mode="json", exclude_none=True) for t in d.timeline],
        "guide": {"immediate": d.immediate_actions, "longTerm": d.long_term},
        "summary": top.title if top else "원인 미확인",
        "remediation": d.remediation.model_dump(mode="json", by_alias=True, exclude_none=True) if d.remediation else None,
    }


def diagnose(ctx: PhaseContext, rules: Diagnosis) -> tuple[Diagnosis, dict[str, Any] | None]:
    """The LLM agent when enabled, with the rules as floor and fallback; otherwise the rules."""
    bundle = ctx.evidence()
    if not ctx.settings.llm_enabled:
        return rules, None
    from ..agent.engine import LlmDiagnoser, LlmOutcome, usage_status
    similar = ctx.status.get("similarIncidents") or []  # same alarm / workload / likely cause, with outcomes
    if ctx.settings.llm_mode == "agentcore":
        from ..agent.remote import RemoteDiagnoser
        from ..tools.base import NotConfigured
        try:
            diagnoser = RemoteDiagnoser(ctx.deps)
        except NotConfigured as exc:
            diagnoser = None
            outcome = LlmOutcome(error=str(exc))
        if diagnoser:
            outcome = diagnoser.diagnose(bundle, rules, similar, f"{ctx.namespace}-{ctx.name}")
    else:
        from ..agent.budget import day_budget
        day = day_budget(ctx.settings, ctx.kube)
        outcome = LlmDiagnoser(ctx.deps, ctx.deps.registry, day).diagnose(bundle, rules, similar)
        metrics.LLM_DAY_TOKENS.set(day.used())
        metrics.LLM_DAY_BUDGET.set(day.limit)
    metrics.LLM_CALLS.labels("ok" if outcome.diagnosis else "fallback").inc()
    metrics.LLM_TOKENS.labels("input").inc(outcome.input_tokens)
    metrics.LLM_TOKENS.labels("output").inc(outcome.output_tokens)
    if outcome.diagnosis is None:
        metrics.LLM_FALLBACKS.labels(outcome.fallback_kind or "error").inc()
        ctx.events.emit("LlmFallback", f"LLM 진단 실패, 규칙 기반 분석으로 대체: {outcome.error}", warning=True)
    from ..agent.providers import model_id
    return outcome.diagnosis or rules, usage_status(outcome, model_id(ctx.settings))


def remember_similar(ctx: PhaseContext, rules: Diagnosis) -> None:
    """Add past Incidents with the same likely cause (the rules' top cause) to the memory."""
    top = rules.top
    found = similar_incidents(ctx, top.kind if top else None)
    if found:
        ctx.status["similarIncidents"] = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in found]


def run(ctx: PhaseContext) -> dict[str, Any]:
    rules = analyze(ctx.evidence())
    remember_similar(ctx, rules)
    diagnosis, llm = diagnose(ctx, rules)
    out = diagnosis_status(diagnosis)
    out["similarIncidents"] = ctx.status.get("similarIncidents") or []
    top = rules.top
    out["pastFixes"] = past_fixes(ctx, top.kind if top else None) or None
    if ctx.settings.group_window_seconds > 0:  # the alarms grouped under this one so far (the report names them)
        out["relatedIncidents"] = grouping.children(ctx) or None
    if llm:
        out["llm"] = llm
    out["report"] = outbox.deliver(ctx, [{"op": "comment", "key": ctx.comment_key("analysis")}], patch=False, view=out)
    return out
