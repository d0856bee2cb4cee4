"""The agent's guard (issue 26): a hard token budget per Incident and per day, tool arguments checked
against each tool's schema with one repair turn, an answer outside the structure refused.

The production agent (strands + the OpenAI provider, the local-model path) against the OpenAI-compatible
stand-in, in-process; a synthetic evidence bundle, so nothing waits for a workload. The day budget's
ConfigMap is real (the test apiserver)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from prometheus_client import REGISTRY

from incident_operator.agent.budget import CONFIGMAP, ConfigMapStore, DayBudget, today
from incident_operator.agent.engine import LlmDiagnoser
from incident_operator.models.diagnosis import Cause, Diagnosis, ResourceRef
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.models.spec import Target
from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps

from local_stack import scenarios
from local_stack.llm_servers import OpenAIServer, answer, call_tool, text
from local_stack.workloads import incident


@pytest.fixture
def model():
    srv = OpenAIServer()
    yield srv
    srv.stop()


def settings_for(srv: OpenAIServer, **kw) -> Settings:
    return Settings(**{"llm_enabled": True, "llm_provider": "openai", "llm_base_url": f"{srv.url}/v1", "llm_api_key": srv.key,
                       "llm_model_id": "qwen2.5:7b-instruct", "llm_deadline_seconds": 30, "llm_retry_initial_delay_seconds": 1,
                       "llm_max_retries": 0, **kw})


def bundle(ns: str = "shop") -> EvidenceBundle:
    now = datetime.now(timezone.utc)
    return EvidenceBundle(incident=f"{ns}/web", target=Target(namespace=ns, kind="Deployment", name="web"),
                          window={"start": now, "end": now, "anchor": now})


RULES = Diagnosis(engine="rules", causes=[Cause(kind="scaled-to-zero", title="`web` 레플리카 0", confidence=0.9,
                                                resource=ResourceRef(kind="Deployment", name="web", namespace="shop"))])


def good(kind: str = "scaled-to-zero", p: float = 0.8) -> dict:
    return {"causes": [{"kind": kind, "title": "모델 판단", "probability": p, "evidence": ["kubernetes-get-evidence"]},
                       {"kind": "crash-loop", "title": "대안", "probability": 0.1, "evidence": ["없음"]}],
            "remediation": {"action": "none"}}


def run(srv: OpenAIServer, day: DayBudget | None = None, **kw):
    return LlmDiagnoser(ToolDeps(settings_for(srv, **kw)), ToolDeps(Settings()).registry, day).diagnose(bundle(), RULES, [])


def tool_results(body: dict) -> list[str]:
    return [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"], ensure_ascii=False)
            for m in body["messages"] if m["role"] == "tool"]


# --- the budget per Incident ---------------------------------------------------------------------------

def test_incident_budget_stops_before_the_call_that_would_not_fit(model):
    model.play(call_tool("current_time", {}), answer(good()))
    free = run(model, llm_max_tokens=256)
    assert free.diagnosis is not None and len(model.bodies) == 2
    first_call = json.loads(json.dumps(model.bodies[0]))
    t1 = max(1, len(json.dumps(first_call)) // 4) + 60  # what the stand-in reported for the first call

    model.bodies.clear()
    model.play(call_tool("current_time", {}), answer(good()))
    budget = 2 * t1 + 256  # the first call fits; the second (the first's tokens again, and more) does not
    out = run(model, llm_max_tokens=256, llm_incident_token_budget=budget)
    assert out.diagnosis is None and out.fallback_kind == "budget-incident"
    assert "INCIDENT_LLM_INCIDENT_TOKEN_BUDGET" in out.error and out.attempts == 1  # not asked again
    assert len(model.bodies) == 1  # the second call was never made
    assert out.input_tokens + out.output_tokens <= budget

    model.bodies.clear()
    model.play(answer(good()))
    nothing = run(model, llm_incident_token_budget=1000)  # not even the first call fits (1000 < 4096 it may write)
    assert nothing.fallback_kind == "budget-incident" and model.bodies == [] and nothing.input_tokens == 0


# --- the budget per day ----------------------------------------------------------------------------------

def test_day_budget_is_counted_in_one_configmap_and_survives_a_restart(kube, ns, model):
    store = ConfigMapStore(kube.core, ns)
    day = DayBudget(1_000_000, store)
    model.play(call_tool("current_time", {}), answer(good()))
    out = run(model, day)
    assert out.diagnosis is not None
    spent = out.input_tokens + out.output_tokens
    cm = kube.core.read_namespaced_config_map(CONFIGMAP, ns)
    assert cm.data["day"] == today() and int(cm.data["tokens"]) == spent == model.input_tokens + model.output_tokens
    assert set(cm.data) == {"day", "tokens", "updatedAt"}  # one day, never a history

    # a restart: a new process reads today's count back; the next Incident adds to it
    again = DayBudget(1_000_000, ConfigMapStore(kube.core, ns))
    assert again.used() == spent
    model.play(answer(good()))
    run(model, again)
    assert int(kube.core.read_namespaced_config_map(CONFIGMAP, ns).data["tokens"]) == model.input_tokens + model.output_tokens

    # yesterday's count is not today's
    tomorrow = DayBudget(1_000_000, ConfigMapStore(kube.core, ns), clock=lambda: "2999-01-01")
    assert tomorrow.used() == 0


def test_a_spent_day_budget_falls_back_with_the_reason_in_status_and_a_metric(kube, ns, model, settings):
    """Through the diagnose phase, as the operator runs it: the day's ConfigMap says it is spent, so no
    model call is made; status.llm says why, the rules answer, the fallback metric counts it."""
    ConfigMapStore(kube.core, ns).write(today(), 49_000, None)  # 1000 left: less than one call may write
    s = settings_for(model, llm_day_token_budget=50_000, llm_budget_namespace=ns)
    ctx = scenarios.context(kube, s, ns, incident("spent", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    ctx.remember_evidence(bundle(ns))
    before = REGISTRY.get_sample_value("incident_operator_llm_fallbacks_total", {"reason": "budget-day"}) or 0
    from incident_operator.phases.diagnose import diagnose
    model.play(answer(good()))
    chosen, llm = diagnose(ctx, RULES)
    assert chosen is RULES and model.bodies == []
    assert llm["fallbackKind"] == "budget-day" and "INCIDENT_LLM_DAY_TOKEN_BUDGET" in llm["fallbackReason"]
    assert llm["dayTokens"] == 49_000 and llm["dayTokenBudget"] == 50_000
    assert REGISTRY.get_sample_value("incident_operator_llm_fallbacks_total", {"reason": "budget-day"}) == before + 1
    assert REGISTRY.get_sample_value("incident_operator_llm_day_tokens") == 49_000
    from incident_operator.models.status import LlmUsage
    assert LlmUsage.model_validate(llm).fallback_kind == "budget-day"  # the CRD's schema keeps it


# --- tool arguments: one repair turn, then refused ---------------------------------------------------------

def test_invalid_tool_arguments_get_one_repair_turn(model):
    model.play(call_tool("kubernetes-get-evidence", {"namespace": "shop", "pod_name": "web-0"}),  # invented argument
               call_tool("kubernetes-get-evidence", {"namespace": "shop", "kind": "Deployment", "name": "web"}),
               answer(good()))
    out = run(model)
    assert out.diagnosis is not None and out.repairs == 1 and out.fallback_kind is None
    assert out.tool_calls == ["kubernetes-get-evidence"]  # the invalid call did not run; the repaired one did
    [repair] = tool_results(model.bodies[1])
    assert "invalid arguments" in repair and "pod_name" in repair
    offered = next(t for t in model.bodies[0]["tools"] if t["function"]["name"] == "kubernetes-get-evidence")
    assert offered["function"]["parameters"]["additionalProperties"] is False  # the schema checked is the one offered


def test_invalid_tool_arguments_twice_are_refused_and_the_rules_answer(model):
    model.play(call_tool("container-insight-pod-metrics", {"window_minutes": "sixty"}),  # wrong type
               call_tool("kubectl", {"command": "describe pod web-0"}),  # no such tool
               answer(good()))
    out = run(model)
    assert out.diagnosis is None and out.fallback_kind == "tool-arguments"
    assert "kubectl" in out.error and out.attempts == 1
    assert len(model.bodies) == 2 and out.tool_calls == []  # refused: nothing ran, the model was not called again


# --- the answer's structure ----------------------------------------------------------------------------------

def test_an_answer_in_prose_is_refused_and_the_rules_answer(model):
    advice = "`kubectl describe deployment web` 와 `kubectl logs` 로 확인해 보세요."
    model.play(text(advice), text(advice))  # strands asks once more for the structure; prose again
    out = run(model)
    assert out.diagnosis is None and out.fallback_kind == "unstructured" and out.attempts == 1
    assert len(model.bodies) == 2


def test_an_answer_with_an_invented_cause_kind_is_repaired_once_then_refused(model):
    model.play(answer(good("pod-is-broken")), answer(good("scaled-to-zero", 0.7)))
    fixed = run(model)
    assert fixed.diagnosis is not None and fixed.repairs == 1 and fixed.diagnosis.causes[0].kind == "scaled-to-zero"
    kinds = next(t for t in model.bodies[0]["tools"] if t["function"]["name"] == "AgentDiagnosis")
    assert "scaled-to-zero" in json.dumps(kinds)  # the allowed kinds are in the schema the model sees

    model.bodies.clear()
    model.play(answer(good("pod-is-broken")), answer(good("kubectl-describe")))
    out = run(model)
    assert out.diagnosis is None and out.fallback_kind == "unstructured" and "kind" in out.error


def test_an_answer_naming_no_cause_leaves_it_to_the_rules(model):
    model.play(answer({"causes": [{"kind": "unknown", "title": "모름", "probability": 0.2, "evidence": []}],
                       "remediation": {"action": "none"}}))
    out = run(model)
    assert out.diagnosis is None and out.fallback_kind == "no-cause"


def test_alternatives_keep_their_probabilities(model):
    model.play(answer(good("scaled-to-zero", 0.8)))
    out = run(model)
    assert [(c.kind, c.confidence) for c in out.diagnosis.causes] == [("scaled-to-zero", 0.8), ("crash-loop", 0.1)]
