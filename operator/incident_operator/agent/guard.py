"""The agent's guard: a strands hook provider that keeps a model within its budget and its tools' schemas.

- Before every model call: the call's projected input (strands' estimate) plus INCIDENT_LLM_MAX_TOKENS
  must fit in what is left of the Incident's token budget and of the day's (agent/budget.py). If not,
  the call is not made: the run stops with `BudgetExhausted` and the rules engine answers.
- After every model call: the tokens the provider reported are counted against both budgets.
- Before every tool call: the arguments are validated against the tool's JSON schema (the one the model
  was given: unknown arguments are not allowed), the structured answer against `AgentDiagnosis`, and the
  tool must exist. The first invalid call is answered with what is wrong (one repair turn); a second is
  refused — the tool does not run and the model is not called again (`Refused`), the rules engine answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .budget import BudgetExhausted, DayBudget, IncidentBudget
from .schema import AgentDiagnosis

STRUCTURED_TOOL = AgentDiagnosis.__name__


class Refused(RuntimeError):
    """The model broke the contract twice (tool arguments, answer structure): it is not asked again."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # tool-arguments | unstructured


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema as offered to the model and checked: no arguments but the declared ones."""
    return {**schema, "additionalProperties": False} if schema.get("type", "object") == "object" else schema


def schema_errors(schema: dict[str, Any], args: Any) -> list[str]:
    """What is wrong with `args` under `schema` (empty when valid), as the model should read it."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for e in sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(arguments)"
        out.append(f"{where}: {e.message}"[:300])
    return out[:10]


def answer_errors(args: Any) -> list[str]:
    try:
        AgentDiagnosis.model_validate(args)
    except ValidationError as exc:
        return [f"{'/'.join(str(p) for p in e['loc']) or '(answer)'}: {e['msg']}"[:300] for e in exc.errors()[:10]]
    return []


@dataclass
class Guard:
    """One Incident's diagnosis (all its attempts): budgets, argument checks, what happened."""

    schemas: dict[str, dict[str, Any]]  # tool name -> the strict input schema the model was given
    incident: IncidentBudget
    day: DayBudget | None = None
    max_output_tokens: int = 4096
    repairs: int = 0  # invalid calls answered with a repair turn
    refused: Refused | None = None
    invalid_calls: list[str] = field(default_factory=list)
    _reserved: int = 0

    def register_hooks(self, registry: Any, **_: Any) -> None:
        from strands.hooks import AfterModelCallEvent, BeforeModelCallEvent, BeforeToolCallEvent
        registry.add_callback(BeforeModelCallEvent, self.before_model)
        registry.add_callback(AfterModelCallEvent, self.after_model)
        registry.add_callback(BeforeToolCallEvent, self.before_tool)

    # --- budgets -------------------------------------------------------------------------------------
    def before_model(self, event: Any) -> None:
        if self.refused is not None:
            raise self.refused
        projected = event.projected_input_tokens
        if projected is None:  # strands could not estimate: the conversation's size, about 4 characters a token
            projected = len(json.dumps(getattr(event.agent, "messages", []), default=str, ensure_ascii=False)) // 4
        need = int(projected) + self.max_output_tokens
        self.incident.check(need)
        if self.day is not None:
            self.day.reserve(need)
        self._reserved = need

    def after_model(self, event: Any) -> None:
        used = 0
        if event.stop_response is not None:
            usage = (event.stop_response.message.get("metadata") or {}).get("usage") or {}
            used = int(usage.get("inputTokens", 0)) + int(usage.get("outputTokens", 0))
        reserved, self._reserved = self._reserved, 0
        self.incident.spent += used
        if self.day is not None and (reserved or used):
            self.day.settle(reserved, used)

    # --- tool arguments ------------------------------------------------------------------------------
    def before_tool(self, event: Any) -> None:
        use = event.tool_use
        name, args = use.get("name"), use.get("input")
        if name == STRUCTURED_TOOL:
            errors = answer_errors(args)
            kind = "unstructured"
        elif name not in self.schemas or event.selected_tool is None:
            errors = [f"no tool named {name!r}; the tools are: {', '.join(sorted(self.schemas))}"]
            kind = "tool-arguments"
        else:
            errors = schema_errors(self.schemas[name], args if args is not None else {})
            kind = "tool-arguments"
        if not errors:
            return
        self.invalid_calls.append(f"{name}: {errors[0]}")
        if self.repairs == 0 and self.refused is None:
            self.repairs += 1
            event.cancel_tool = (f"{name}: 인자가 스키마에 맞지 않아 실행하지 않았습니다 (한 번만 고쳐 다시 호출할 수 있습니다). "
                                 f"invalid arguments: {'; '.join(errors)}")
            return
        what = "구조화된 답" if kind == "unstructured" else "도구 인자"
        self.refused = Refused(kind, f"{what}이(가) 수정 기회 뒤에도 스키마에 맞지 않아 거부: {name}: {'; '.join(errors)}"[:500])
        event.cancel_tool = "refused: the arguments were invalid again; no further calls are accepted"


def budget_reason(exc: BudgetExhausted) -> str:
    return f"budget-{exc.scope}"


__all__ = ["Guard", "Refused", "STRUCTURED_TOOL", "answer_errors", "budget_reason", "schema_errors", "strict"]
