"""Phase 5: ranked causes with evidence, a timeline and a guide; posted as the analysis comment."""

from __future__ import annotations

from typing import Any

from ..analyzers import analyze
from ..models.diagnosis import Diagnosis
from ..report import render
from ..report.sinks import ReportRef
from .context import PhaseContext


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
    }


def run(ctx: PhaseContext) -> dict[str, Any]:
    diagnosis = analyze(ctx.evidence())
    out = diagnosis_status(diagnosis)
    view = {**ctx.status, **out}
    ref = ReportRef.model_validate(ctx.status["report"])
    key = ctx.comment_key("analysis")
    ctx.sink.comment(ref, key, render.analysis_comment(view))
    out["report"] = {"comments": sorted(set(ctx.status["report"].get("comments", [])) | {key})}
    return out
