"""What the model must answer: a structured diagnosis the operator validates before using.

`causes` is the ranked answer — the most likely cause first, then the alternatives, each with its own
probability — scored exactly like the rules engine's causes (top-1, top-3, calibration: `make eval`).
A cause's `kind` must be one the rules engine knows (or `unknown`): an answer that invents kinds, or
answers prose (a list of kubectl commands), is not in the structure and is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator


@lru_cache(maxsize=1)
def cause_kinds() -> tuple[str, ...]:
    """Every kind the rules engine can name, and `unknown` (an abstention)."""
    from ..analyzers import ANALYZERS
    return tuple(sorted({a.kind for a in ANALYZERS} | {"unknown"}))


class AgentCause(BaseModel):
    kind: str = Field(description="The cause kind, one of the listed ids (unknown: no cause can be named)",
                      json_schema_extra=lambda schema: schema.update({"enum": list(cause_kinds())}))
    title: str = Field(description="한 줄 한국어 설명")
    probability: float = Field(ge=0, le=1, description="How likely this cause is, 0..1")
    evidence: list[str] = Field(description="Evidence items (Korean), each naming the tool or object it came from")
    resource_kind: str | None = None
    resource_name: str | None = None
    resource_namespace: str | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in cause_kinds():
            raise ValueError(f"kind must be one of: {', '.join(cause_kinds())}")
        return v


class AgentTimelineEntry(BaseModel):
    time: str = Field(description="ISO 8601")
    text: str


class AgentRemediation(BaseModel):
    action: Literal["delete-cpu-burner", "rollback-image", "restore-replicas", "none"]
    target_kind: str | None = None
    target_name: str | None = None
    target_namespace: str | None = None
    reason: str = ""


class AgentDiagnosis(BaseModel):
    """Ranked causes (most likely first, then up to four alternatives, each with its probability), timeline,
    response guide and at most one remediation."""

    causes: list[AgentCause] = Field(min_length=1, max_length=5,
                                     description="Most likely first, then the alternatives; each with its probability")
    timeline: list[AgentTimelineEntry] = []
    immediate_actions: list[str] = []
    long_term_improvements: list[str] = []
    remediation: AgentRemediation
