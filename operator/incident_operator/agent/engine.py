"""Runs the strands agent (the configured provider's model + the tool registry) and turns its answer into a Diagnosis.

The model proposes; the operator decides. Its remediation is kept only when it matches a proposal
the deterministic analyzer derived from the evidence (same action, same target), so the executable
parameters always come from the evidence, never from model text; the respond phase's policy then
applies as for any proposal. An answer that does not parse is retried, then the caller falls back
to the rules.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..models.diagnosis import Cause, Diagnosis, EvidenceItem, ResourceRef, TimelineEntry
from ..models.evidence import EvidenceBundle
from ..redact import redact
from ..tools.base import ToolDeps, ToolRegistry
from . import providers
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


def _strands_tools(registry: ToolRegistry, deps: ToolDeps, calls: list[str]) -> list[Any]:
    from strands.tools.tools import PythonAgentTool

    def wrap(name: str):
        def run(tool_use: dict, **_: Any) -> dict:
            calls.append(name)
            result = registry.call(name, tool_use.get("input") or {}, deps)
            return {"toolUseId": tool_use["toolUseId"], "status": "success" if result.outcome == "ok" else "error",
                    "content": [{"text": result.model_dump_json(exclude_none=True)}]}
        return run

    tools = [PythonAgentTool(t.name, {"name": t.name, "description": t.description, "inputSchema": {"json": t.schema()}},
                             wrap(t.name)) for t in registry if t.category in READ_ONLY_CATEGORIES]

    def now(tool_use: dict, **_: Any) -> dict:
        calls.append("current_time")
        return {"toolUseId": tool_use["toolUseId"], "status": "success",
                "content": [{"text": datetime.now(timezone.utc).isoformat()}]}
    tools.append(PythonAgentTool("current_time", {"name": "current_time", "description": "현재 시각 (UTC, ISO 8601)",
                                                  "inputSchema": {"json": {"type": "object", "properties": {}}}}, now))
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
    def __init__(self, deps: ToolDeps, registry: ToolRegistry):
        self.deps = deps
        self.registry = registry

    def _model(self):
        return providers.build(self.deps.settings)

    def _run(self, prompt: str, outcome: LlmOutcome) -> Diagnosis | None:
        from strands import Agent
        agent = Agent(model=self._model(), tools=_strands_tools(self.registry, self.deps, outcome.tool_calls),
                      system_prompt=SYSTEM_PROMPT, callback_handler=None,
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
        outcome = LlmOutcome()
        prompt = redact(evidence_prompt(bundle, rules, similar))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        found: list[AgentDiagnosis] = []

        def attempts() -> None:
            for _ in range(s.llm_answer_attempts):
                outcome.attempts += 1
                try:
                    found.append(self._run(prompt, outcome))
                    outcome.error = None
                    return
                except Exception as exc:  # noqa: BLE001 - parse failures, model errors: try again, then give up
                    code = providers.status_code(exc)  # an HTTP provider's answer, e.g. HTTP 401
                    outcome.error = redact(f"{f'HTTP {code} ' if code else ''}{type(exc).__name__}: {exc}")[:500]
                    log.warning("LLM attempt %d failed: %s", outcome.attempts, outcome.error)
                    if isinstance(exc, providers.ProviderError) or code in providers.PERMANENT_STATUS:
                        return  # a missing module, a wrong key: asking again changes nothing
        try:
            pool.submit(attempts).result(timeout=s.llm_deadline_seconds)
        except FutureTimeout:
            found.clear()
            outcome.error = f"deadline {s.llm_deadline_seconds:g}s exceeded"
        finally:
            pool.shutdown(wait=False)
        return (found[0] if found else None), outcome

    def diagnose(self, bundle: EvidenceBundle, rules: Diagnosis, similar: list[dict], incident: str = "") -> LlmOutcome:
        answer, outcome = self.answer(bundle, rules, similar)
        if answer is not None:
            outcome.diagnosis = to_diagnosis(answer, rules)
        return outcome


def usage_status(outcome: LlmOutcome, model_id: str) -> dict[str, Any]:
    return {"model": model_id, "inputTokens": outcome.input_tokens, "outputTokens": outcome.output_tokens,
            "attempts": outcome.attempts, "toolCalls": outcome.tool_calls[:50],
            **({"fallbackReason": outcome.error} if outcome.diagnosis is None and outcome.error else {})}


__all__ = ["LlmDiagnoser", "LlmOutcome", "to_diagnosis", "usage_status"]
