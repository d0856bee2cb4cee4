"""`incident-operator eval` (issue 26): a saved run is scored again without cluster or model; the scripted
stand-in models drive the production agent; `check --llm` tells whether an endpoint calls tools.

No cluster here: the saved run (tests/fixtures/eval-run) holds evidence bundles captured by `make eval`
and a model's answers, edited to cover each case — an answer, a budget fallback, a scenario whose replay
failed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from incident_operator.agent.engine import LlmDiagnoser
from incident_operator.analyzers import analyze
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.preflight import llm_tools
from incident_operator.scenarios import evaluation
from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps

from local_stack import standin_model
from local_stack.cluster import ROOT
from local_stack.llm_servers import OpenAIServer, call_tool, text

RUN = ROOT / "tests" / "fixtures" / "eval-run"


def test_a_saved_run_is_rescored_without_a_model_or_a_cluster(tmp_path):
    env = {"PATH": os.environ["PATH"], "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path),
           "INCIDENT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "INCIDENT_LLM_PROVIDER": "openai"}  # nothing listens there
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "eval", "--rescore", str(RUN), "--json", "--per-scenario"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    rules, model = json.loads(out.stdout.strip().splitlines()[-1])
    assert rules["engine"] == "rules engine" and model["engine"] == "openai qwen2.5:7b-instruct"
    # rules: right on both captured scenarios; the third's replay failed (no evidence): a miss for everyone
    assert (rules["top1"], rules["top3"], rules["scenarios"]) == (2, 2, 3)
    # the model: one answer (right, 0.6), one budget fallback (a miss; the rules answered it as operated)
    assert (model["answered"], model["top1"], model["top3"], model["top1AsOperated"]) == (1, 1, 1, 2)
    assert model["fallbacks"] == {"budget-incident": 1, "no-evidence": 1} and model["toolArgumentRepairs"] == 1
    assert model["expectedCalibrationError"] == 0.4  # one answer at 0.6, right: |0.6 - 1|
    spent = [(r.get("model") or {}) for r in map(json.loads, (RUN / "answers.jsonl").read_text().splitlines())]
    assert model["tokensPerIncident"] == round(sum(m.get("inputTokens", 0) + m.get("outputTokens", 0) for m in spent) / 3)
    table = out.stdout
    assert "| rules engine | 2/3 | 2/3 | 2/3 |" in table and "| openai qwen2.5:7b-instruct | 1/3 | 1/3 | 1/3 | 0.400 | 2/3 |" in table
    assert "(budget-incident)" in table


def test_rescoring_reads_the_expected_answers_as_they_are_now(tmp_path):
    root = tmp_path / "scenarios"
    for name in ("02-error-log-injection", "05-invalid-image"):
        shutil.copytree(ROOT / "scenarios" / name, root / name)
    # a reviewer decides the log-injection scenario is a crash loop after all
    (root / "02-error-log-injection" / "expected.yaml").write_text("topCause: crash-loop\nremediation: none\n")
    rules, model = evaluation.score_run(RUN, root)
    by = {r.scenario: r for r in model.rows}
    assert not by["02-error-log-injection"].top1 and by["02-error-log-injection"].top3  # its alternative
    assert not {r.scenario: r for r in rules.rows}["02-error-log-injection"].top1
    # the removed scenario is scored against the run's own snapshot of its expected answer
    assert by["99-removed-since"].fallback == "no-evidence"


def test_calibration_is_the_scenarios_table_s():
    import importlib.util
    spec = importlib.util.spec_from_file_location("hack_scenarios", ROOT / "hack" / "scenarios.py")
    hack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hack)
    results = [{"got": {"topCause": "a", "confidence": 0.9}, "top1": True},
               {"got": {"topCause": "b", "confidence": 0.7}, "top1": False},
               {"got": {"topCause": "unknown", "confidence": 0.2}, "top1": True}]
    assert hack.calibration_error(results) == evaluation.expected_calibration_error([(0.9, True), (0.7, False)]) == 0.4


@pytest.fixture
def bundle() -> EvidenceBundle:
    return EvidenceBundle.model_validate_json((RUN / "evidence" / "02-error-log-injection.json").read_text())


def _diagnose(kind: str, bundle: EvidenceBundle):
    """The production agent against the scripted stand-in `kind`: (the stand-in, the rules' answer, the agent's)."""
    srv = standin_model.serve(kind)
    try:
        s = Settings(llm_enabled=True, llm_provider="openai", llm_base_url=f"{srv.url}/v1", llm_api_key=srv.key,
                     llm_model_id="standin", llm_deadline_seconds=30, llm_max_retries=0)
        rules = analyze(bundle)
        return srv, rules, LlmDiagnoser(ToolDeps(s), ToolDeps(Settings()).registry).diagnose(bundle, rules, [])
    finally:
        srv.stop()


def test_the_floor_stand_in_answers_the_rules_causes_through_the_production_agent(bundle):
    srv, rules, out = _diagnose("floor", bundle)
    assert out.diagnosis is not None, out.error
    assert [(c.kind, c.confidence) for c in out.diagnosis.causes] == [(c.kind, c.confidence) for c in rules.causes]
    assert out.tool_calls == ["kubernetes-get-evidence"] and len(srv.bodies) == 2
    call = next(m for m in srv.bodies[1]["messages"] if m["role"] == "assistant")["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"namespace": bundle.target.namespace, "kind": "Deployment", "name": "orders"}


def test_the_sloppy_stand_in_is_repaired_once_and_overconfident(bundle):
    srv, rules, out = _diagnose("sloppy", bundle)
    # `orders` is not one of the targets it answers in prose for: it invents an argument, is repaired, answers
    assert out.repairs == 1 and out.diagnosis is not None and out.diagnosis.causes[0].confidence == 0.99
    assert out.tool_calls == ["kubernetes-get-evidence"]


@pytest.mark.parametrize("step, ok, says", [
    (call_tool("probe_echo", {"word": "ping"}), True, "calls tools"),
    (text("I cannot call tools."), False, "without calling the tool"),
    (call_tool("probe_echo", {"text": "ping"}), False, "invalid arguments"),
])
def test_check_llm_probes_tool_calling(step, ok, says):
    srv = OpenAIServer()
    srv.play(step)
    try:
        check = llm_tools(Settings(llm_enabled=True, llm_provider="openai", llm_base_url=f"{srv.url}/v1",
                                   llm_model_id="qwen2.5:7b", llm_api_key=srv.key))
    finally:
        srv.stop()
    assert check.ok is ok and says in check.detail, check.detail
    [body] = srv.bodies  # one tiny request, the tool's result never sent back
    assert [t["function"]["name"] for t in body["tools"]] == ["probe_echo"] and body["max_tokens"] == 256
