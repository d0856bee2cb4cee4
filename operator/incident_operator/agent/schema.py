"""What the model must answer: a structured diagnosis the operator validates before using."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AgentCause(BaseModel):
    kind: str = Field(description="Short id, e.g. cpu-burner, image-pull, scaled-to-zero, oom-killed, app-errors, unknown")
    title: str = Field(description="한 줄 한국어 설명")
    probability: float = Field(ge=0, le=1)
    evidence: list[str] = Field(description="Evidence items (Korean), each naming the tool or object it came from")
    resource_kind: str | None = None
    resource_name: str | None = None
    resource_namespace: str | None = None


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
    """Ranked causes (most likely first), timeline, response guide and at most one remediation."""

    causes: list[AgentCause] = Field(min_length=1, max_length=5)
    timeline: list[AgentTimelineEntry] = []
    immediate_actions: list[str] = []
    long_term_improvements: list[str] = []
    remediation: AgentRemediation
