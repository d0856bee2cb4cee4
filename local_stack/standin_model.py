"""Scripted stand-in models for `make eval` without a real model: they answer any conversation the agent
starts, over the OpenAI-compatible stand-in (local_stack/llm_servers.OpenAIServer), so the eval drives the
production agent (strands, the OpenAI provider, the guard) end to end without network.

They read only what a model reads — the agent's prompt: the evidence JSON (for the target) and the rules
engine's floor (`## 규칙 기반 분석 결과`) — never a scenario's expected answer. Their accuracy figures
therefore measure the harness, not a model; their token counts are the stand-in's estimate (a quarter of
the request's characters), not a tokenizer's.

- `floor`: calls kubernetes-get-evidence for the target once, then answers the rules' causes as its
  ranked causes with the rules' confidences. A model that adds nothing: it should score as the rules do.
- `sloppy`: what users report of small local models — it invents a tool argument first (repaired by the
  guard's repair turn), is over-confident (0.99 on its first cause), and for about a quarter of the
  targets answers kubectl advice in prose instead of the structure (refused: the rules answer).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from .llm_servers import OpenAIServer, Step, answer, call_tool, text

FLOOR_HEADING = "## 규칙 기반 분석 결과"
EVIDENCE_HEADING = "## 수집된 증거"


def _prompt(body: dict) -> str:
    for m in body.get("messages") or []:
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c or [] if isinstance(p, dict))
    return ""


def _section(prompt: str, heading: str) -> Any:
    for part in prompt.split("\n\n"):
        if part.startswith(heading):
            try:
                return json.loads(part.split("\n", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def floor_of(body: dict) -> list[dict]:
    return _section(_prompt(body), FLOOR_HEADING) or []


def target_of(body: dict) -> dict | None:
    evidence = _section(_prompt(body), EVIDENCE_HEADING)
    target = (evidence or {}).get("target") if isinstance(evidence, dict) else None
    return {k: target[k] for k in ("namespace", "kind", "name") if target.get(k)} if isinstance(target, dict) else None


def _tool_turns(body: dict) -> list[dict]:
    return [m for m in body.get("messages") or [] if m.get("role") == "tool"]


def diagnosis_from_floor(floor: list[dict], target: dict | None, overconfident: bool = False) -> dict:
    causes = []
    for i, c in enumerate(floor[:5]):
        p = float(c.get("confidence") or 0.5)
        causes.append({"kind": c.get("kind") or "unknown", "title": c.get("title") or "원인",
                       "probability": 0.99 if overconfident and i == 0 else round(min(max(p, 0.0), 1.0), 3),
                       "evidence": ["kubernetes-get-evidence: 대상의 클러스터 상태 확인", "규칙 기반 분석 결과 참고"]})
    if not causes:
        causes = [{"kind": "unknown", "title": "원인을 특정할 증거가 없음", "probability": 0.3, "evidence": ["증거 부족"]}]
    if target and causes:
        causes[0].update({"resource_kind": target.get("kind"), "resource_name": target.get("name"),
                          "resource_namespace": target.get("namespace")})
    fix = next((c.get("remediation") for c in floor if c.get("remediation")), None)
    remediation = {"action": "none", "reason": "증거에 근거한 조치 없음"}
    if fix:
        t = fix.get("target") or {}
        remediation = {"action": fix.get("action", "none"), "target_kind": t.get("kind"), "target_name": t.get("name"),
                       "target_namespace": t.get("namespace"), "reason": "규칙 분석의 근거 있는 조치"}
    return {"causes": causes, "timeline": [], "immediate_actions": ["원인 대상의 상태와 이벤트를 확인합니다"],
            "long_term_improvements": ["같은 장애를 알람과 런북으로 다룹니다"], "remediation": remediation}


def floor(body: dict) -> Step:
    target = target_of(body)
    if target and not _tool_turns(body):
        return call_tool("kubernetes-get-evidence", target)
    return answer(diagnosis_from_floor(floor_of(body), target))


def sloppy(body: dict) -> Step:
    target = target_of(body)
    turns = _tool_turns(body)
    if target and not turns:  # an invented argument: refused with what is wrong, once
        return call_tool("kubernetes-get-evidence", {**target, "pod_name": f"{target.get('name')}-0"})
    if target and len(turns) == 1:
        return call_tool("kubernetes-get-evidence", target)
    name = (target or {}).get("name") or json.dumps(floor_of(body))
    if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 4 == 0:
        return text(f"`kubectl describe deployment {name}` 와 `kubectl logs` 를 실행해서 원인을 확인해 보세요.")
    return answer(diagnosis_from_floor(floor_of(body), target, overconfident=True))


MODELS: dict[str, Callable[[dict], Step]] = {"floor": floor, "sloppy": sloppy}


def serve(kind: str = "floor") -> OpenAIServer:
    """An OpenAI-compatible endpoint (`{url}/v1`, key `OpenAIServer.key`) answering as the `kind` stand-in."""
    return OpenAIServer(responder=MODELS[kind])


__all__ = ["MODELS", "diagnosis_from_floor", "floor", "floor_of", "serve", "sloppy", "target_of"]
