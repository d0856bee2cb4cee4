"""Runs the strands agent (the configured provider's model + the tool registry) and turns its answer into a Diagnosis.

The model proposes; the operator decides. Its remediation is kept only when it matches a proposal
the deterministic analyzer derived from the evidence (same action, same target), so the executable
parameters always come from the evidence, never from model text; the respond phase's policy then
applies as for any proposal. An answer that does not parse is retried, then the caller falls back
to the rules.

Every run is guarded (agent/guard.py): a token budget per Incident and per day enforced before each model
call, tool arguments checked against each tool's schema with one repair turn, the answer's structure
checked the same way. What stopped a run is `LlmOutcome.fallback_kind` (budget-incident, budget-day,
tool-arguments, unstructured, no-cause, deadline, error) with the reason in `error`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..models.diagnosis import Cause, Diagnosis, EvidenceItem, ResourceRef, TimelineEntry
from ..models.evidence import EvidenceBundle
from ..redact import redact
from ..tools.base import ToolDeps, ToolRegistry
from . import providers
from .budget import BudgetExhausted, DayBudget, IncidentBudget
from .guard import Guard, Refused, budget_reason, strict
from .prompt import SYSTEM_PROMPT, evidence_prompt
from .schema import AgentDiagnosis

log = logging.getLogger(__name__)
READ_ONLY_CATEGORIES = {"cloudwatch", "opensearch", "datadog", "kubernetes"}  # no GitHub writes from the model


@dataclass
class LlmOutcome:
    diagnosis: Diagnosis | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0
    tool_calls: list[str] = field(default_factory=list)
    error: str | None = None
    fallback_kind: str | None = None  # why the rules answer: budget-incident, budget-day, tool-arguments, ...
    repairs: int = 0  # invalid tool calls answered with a repair turn
    seconds: float = 0.0
    incident_budget: int = 0
    day_tokens: int | None = None
    day_budget: int | None = None


def _find(exc: BaseException | None, kind: type) -> BaseException | None:
    """`kind` wherever strands wrapped it (EventLoopException, the cause chain)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _kind_of(exc: BaseException) -> str:
    try:
        from strands.types.exceptions import StructuredOutputException
    except ImportError:  # pragma: no cover - the agent runs only with strands installed
        return "error"
    return "unstructured" if _find(exc, StructuredOutputException) else "error"


def _strands_tools(registry: ToolRegistry, deps: ToolDeps, calls: list[str]) -> list[Any]:
    from strands.tools.tools import PythonAgentTool

    def wrap(name: str):
        def run(tool_use: dict, **_: Any) -> dict:
            calls.append(name)
            result = registry.call(name, tool_use.get("input") or {}, deps)
            return {"toolUseId": tool_use["toolUseId"], "status": "success" if result.outcome == "ok" else "error",
                    "content": [{"text": result.model_dump_json(exclude_none=True)}]}
        return run

    tools = [PythonAgentTool(t.name, {"name": t.name, "description": t.description, "inputSchema": {"json": strict(t.schema())}},
                             wrap(t.name)) for t in registry if t.category in READ_ONLY_CATEGORIES]

    def now(tool_use: dict, **_: Any) -> dict:
        calls.append("current_time")
        return {"toolUseId": tool_use["toolUseId"], "status": "success",
                "content": [{"text": datetime.now(timezone.utc).isoformat()}]}
    tools.append(PythonAgentTool("current_time", {"name": "current_time", "description": "현재 시각 (UTC, ISO 8601)",
                                                  "inputSchema": {"json": strict({"type": "object", "properties": {}})}}, now))
    return tools


def to_diagnosis(answer: AgentDiagnosis, rules: Diagnosis) -> Diagnosis:
    causes = []
    for c in answer.causes:
        ref = (ResourceRef(kind=c.resource_kind, name=c.resource_name, namespace=c.resource_namespace)
               if c.resource_kind and c.resource_name else None)
        causes.append(Cause(kind=c.kind, title=c.title, confidence=c.probability, resource=ref,
                            evidence=[EvidenceItem(source="llm", text=e) for e in c.evidence]))
    causes.sort(key=lambda c: -c.confidence)
    r = answer.remediation
    # The rules' proposal (derived from the evidence) stands unless the model picks another grounded one:
    # a model talked into something else (or into nothing) cannot drop it.
    chosen = rules.top.remediation if rules.top else None
    if r.action != "none":
        wanted = (r.action, r.target_kind, r.target_name, r.target_namespace)
        grounded = next((c.remediation for c in rules.causes if c.remediation and (
            c.remediation.action, c.remediation.target.kind, c.remediation.target.name, c.remediation.target.namespace) == wanted), None)
        if grounded is not None:
            chosen = grounded
        elif causes:
            causes[0].evidence.append(EvidenceItem(
                source="operator", text=f"모델이 제안한 조치 `{r.action}` → `{r.target_kind}/{r.target_namespace}/{r.target_name}`은(는) "
                                        "증거로 뒷받침되지 않아 실행 대상에서 제외했습니다"
                                        + (f"; 증거에 근거한 규칙 분석의 조치 `{chosen.action}` → `{chosen.target}`을(를) 유지합니다" if chosen else "")))
    if causes and chosen is not None and causes[0].resource and (
            causes[0].resource.kind, causes[0].resource.name, causes[0].resource.namespace) == (
            chosen.target.kind, chosen.target.name, chosen.target.namespace):
        causes[0].remediation, chosen = chosen, None  # it belongs to the model's own top cause
    timeline = []
    for t in answer.timeline:
        try:
            timeline.append(TimelineEntry(time=datetime.fromisoformat(t.time.replace("Z", "+00:00")), text=t.text, source="llm"))
        except ValueError:
            continue
    return Diagnosis(engine="llm", causes=causes[:5], timeline=sorted(timeline, key=lambda t: t.time) or rules.timeline,
                     immediate_actions=answer.immediate_actions or rules.immediate_actions,
                     long_term=answer.long_term_improvements or rules.long_term, remediation=chosen)


class LlmDiagnoser:
    def __init__(self, deps: ToolDeps, registry: ToolRegistry, day: DayBudget | None = None):
        self.deps = deps
        self.registry = registry
        self.day = day  # the process's day budget (agent/budget.day_budget); None: no daily cap here

    def _model(self):
        return providers.build(self.deps.settings)

    def _run(self, prompt: str, outcome: LlmOutcome, guard: Guard) -> Diagnosis | None:
        from strands import Agent
        tools = _strands_tools(self.registry, self.deps, outcome.tool_calls)
        guard.schemas = {t.tool_name: t.tool_spec["inputSchema"]["json"] for t in tools}
        agent = Agent(model=self._model(), tools=tools,
                      system_prompt=SYSTEM_PROMPT, callback_handler=None, hooks=[guard],
                      retry_strategy=providers.retry_strategy(self.deps.settings))
        try:
            result = agent(prompt, structured_output_model=AgentDiagnosis)
        finally:
            usage = agent.event_loop_metrics.accumulated_usage
            outcome.input_tokens += int(usage.get("inputTokens", 0))
            outcome.output_tokens += int(usage.get("outputTokens", 0))
        answer = result.structured_output
        return answer if isinstance(answer, AgentDiagnosis) else AgentDiagnosis.model_validate(answer)

    def answer(self, bundle: EvidenceBundle, rules: Diagnosis, similar: list[dict]) -> tuple[AgentDiagnosis | None, LlmOutcome]:
        """The model's own answer, not yet grounded (what the AgentCore runtime returns)."""
        s = self.deps.settings
        outcome = LlmOutcome(incident_budget=s.llm_incident_token_budget)
        prompt = redact(evidence_prompt(bundle, rules, similar))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        found: list[AgentDiagnosis] = []
        guard = Guard(schemas={}, incident=IncidentBudget(s.llm_incident_token_budget), day=self.day,
                      max_output_tokens=s.llm_max_tokens)
        started = time.monotonic()

        def attempts() -> None:
            for _ in range(s.llm_answer_attempts):
                outcome.attempts += 1
                try:
                    found.append(self._run(prompt, outcome, guard))
                    outcome.error = outcome.fallback_kind = None
                    return
                except Exception as exc:  # noqa: BLE001 - parse failures, model errors: try again, then give up
                    stop = _find(exc, BudgetExhausted) or _find(exc, Refused)
                    if stop is not None:  # a spent budget, a model that broke the contract twice: not asked again
                        outcome.fallback_kind = budget_reason(stop) if isinstance(stop, BudgetExhausted) else stop.kind
                        outcome.error = redact(str(stop))[:500]
                        log.warning("LLM stopped (%s): %s", outcome.fallback_kind, outcome.error)
                        return
                    code = providers.status_code(exc)  # an HTTP provider's answer, e.g. HTTP 401
                    outcome.error = redact(f"{f'HTTP {code} ' if code else ''}{type(exc).__name__}: {exc}")[:500]
                    outcome.fallback_kind = _kind_of(exc)
                    log.warning("LLM attempt %d failed: %s", outcome.attempts, outcome.error)
                    if isinstance(exc, providers.ProviderError) or code in providers.PERMANENT_STATUS:
                        return  # a missing module, a wrong key: asking again changes nothing
                    if outcome.fallback_kind == "unstructured":
                        return  # prose again after strands' forced turn for the structure: that was its repair turn
        try:
            pool.submit(attempts).result(timeout=s.llm_deadline_seconds)
        except FutureTimeout:
            found.clear()
            guard.refused = Refused("deadline", "deadline exceeded")  # the run left behind makes no further model call
            outcome.error = f"deadline {s.llm_deadline_seconds:g}s exceeded"
            outcome.fallback_kind = "deadline"
        finally:
            pool.shutdown(wait=False)
        outcome.seconds = round(time.monotonic() - started, 3)
        outcome.repairs = guard.repairs
        if self.day is not None:
            outcome.day_tokens, outcome.day_budget = self.day.used(), self.day.limit
        answer = found[0] if found else None
        if answer is not None and all(c.kind == "unknown" for c in answer.causes) and rules.top and rules.top.kind != "unknown":
            # "unknown" where the evidence names a cause is no answer: the rules' stands
            outcome.error = "모델의 답이 원인을 지목하지 않음 (unknown만 제시); 규칙 분석 결과를 사용합니다"
            outcome.fallback_kind = "no-cause"
            answer = None
        return answer, outcome

    def diagnose(self, bundle: EvidenceBundle, rules: Diagnosis, similar: list[dict], incident: str = "") -> LlmOutcome:
        answer, outcome = self.answer(bundle, rules, similar)
        if answer is not None:
            outcome.diagnosis = to_diagnosis(answer, rules)
        return outcome


def usage_status(outcome: LlmOutcome, model_id: str) -> dict[str, Any]:
    fell = outcome.diagnosis is None
    return {"model": model_id, "inputTokens": outcome.input_tokens, "outputTokens": outcome.output_tokens,
            "attempts": outcome.attempts, "toolCalls": outcome.tool_calls[:50],
            **({"fallbackReason": outcome.error} if fell and outcome.error else {}),
            **({"fallbackKind": outcome.fallback_kind} if fell and outcome.fallback_kind else {}),
            **({"toolArgumentRepairs": outcome.repairs} if outcome.repairs else {}),
            **({"incidentTokenBudget": outcome.incident_budget} if outcome.incident_budget else {}),
            **({"dayTokens": outcome.day_tokens, "dayTokenBudget": outcome.day_budget} if outcome.day_tokens is not None else {})}


__all__ = ["LlmDiagnoser", "LlmOutcome", "to_diagnosis", "usage_status"]
