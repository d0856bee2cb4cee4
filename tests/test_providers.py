"""One scenario, every LLM provider: strands' own providers (production clients) against vendor stand-ins.

Bedrock speaks Converse (local_stack/bedrock_server.py); Anthropic the Messages API and OpenAI the
Chat Completions API, both streamed (local_stack/llm_servers.py); LiteLLM reaches the OpenAI-compatible
stand-in through its `openai/` route and `api_base`, as it reaches vLLM or Ollama.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from kubernetes import client

from incident_operator.agent import providers
from incident_operator.agent.engine import LlmDiagnoser
from incident_operator.analyzers import analyze
from incident_operator.models.spec import Target
from incident_operator.redact import redact
from incident_operator.settings import Settings, load_settings
from incident_operator.tools import ToolDeps

from local_stack import scenarios
from local_stack import bedrock_server
from local_stack.cluster import ROOT
from local_stack.llm_servers import AnthropicServer, OpenAIServer, Step, answer, call_tool, fail
from local_stack.workloads import incident

SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # a GitHub token in a log line the prompt carries
HAS_LITELLM = importlib.util.find_spec("litellm") is not None


@dataclass
class Llm:
    """A provider under test: its stand-in and how to read the requests it saw."""

    name: str
    server: Any
    settings: Callable[..., Settings]
    env: dict[str, str]
    model: str

    def play(self, *steps: Step) -> None:
        self.server.play(*steps)

    @property
    def bodies(self) -> list[dict]:
        return self.server.bodies


class BedrockView:
    """The Converse stand-in behind the same neutral script."""

    def __init__(self) -> None:
        self.srv = bedrock_server.BedrockServer()
        self.url = self.srv.url

    def play(self, *steps: Step) -> None:
        def render(s: Step):
            if s.kind == "tool":
                return bedrock_server.call_tool(s.name, s.args)
            if s.kind == "answer":
                return bedrock_server.answer(s.args)
            if s.status == 429:
                return bedrock_server.throttle()
            return lambda req: (s.status, {"x-amzn-ErrorType": "InternalServerException"}, {"message": "stand-in"})
        self.srv.play(*[render(s) for s in steps])

    bodies = property(lambda self: self.srv.bodies)
    input_tokens = property(lambda self: self.srv.input_tokens)
    output_tokens = property(lambda self: self.srv.output_tokens)
    stop = property(lambda self: self.srv.stop)

    def tool_names(self, body: dict) -> set[str]:
        return {t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]}

    def prompt(self, body: dict) -> str:
        return body["messages"][0]["content"][0]["text"]

    def tool_results(self, body: dict) -> list[str]:
        return [c["text"] for b in body["messages"][-1]["content"] if "toolResult" in b for c in b["toolResult"]["content"]]


def _make(name: str) -> Llm:
    common = dict(llm_enabled=True, llm_provider=name, llm_deadline_seconds=60, llm_retry_initial_delay_seconds=0.2)
    if name == "bedrock":
        srv = BedrockView()
        return Llm(name, srv, lambda **kw: Settings(**{**common, "llm_endpoint_url": srv.url, "llm_region": "us-east-1", **kw}),
                   {"INCIDENT_LLM_ENDPOINT_URL": srv.url, "INCIDENT_LLM_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, "global.anthropic.claude-opus-4-6-v1")
    if name == "anthropic":
        srv, model = AnthropicServer(), "claude-opus-4-6"
    else:
        srv, model = OpenAIServer(), ("openai/qwen3-32b" if name == "litellm" else "qwen3-32b")
    base = srv.url if name == "anthropic" else f"{srv.url}/v1"  # the OpenAI clients' base URL ends in /v1
    model_kw = {} if name == "anthropic" else {"llm_model_id": model}  # anthropic: the provider's default
    return Llm(name, srv, lambda **kw: Settings(**{**common, "llm_api_key": srv.key, "llm_base_url": base, **model_kw, **kw}),
               {"INCIDENT_LLM_PROVIDER": name, "INCIDENT_LLM_API_KEY": srv.key, "INCIDENT_LLM_BASE_URL": base,
                **({"INCIDENT_LLM_MODEL_ID": model} if model_kw else {})}, model)


PROVIDERS = ["bedrock", "anthropic", "openai",
             pytest.param("litellm", marks=pytest.mark.skipif(not HAS_LITELLM, reason="pip install '.[litellm]'"))]


@pytest.fixture(params=PROVIDERS)
def llm(request, monkeypatch) -> Llm:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # Bedrock signs its requests
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = _make(request.param)
    yield made
    made.server.stop()


@pytest.fixture(params=PROVIDERS[1:])
def http_llm(request) -> Llm:
    made = _make(request.param)
    yield made
    made.server.stop()


def diagnosis(kind: str, name: str, ns: str, action: str = "none") -> dict:
    return {"causes": [{"kind": kind, "title": f"`{name}` 원인 (모델 판단)", "probability": 0.91,
                        "evidence": ["kubernetes-get-evidence: 컨테이너 상태 확인"], "resource_kind": "Deployment",
                        "resource_name": name, "resource_namespace": ns}],
            "timeline": [{"time": "2026-11-25T01:00:00Z", "text": "알람 발생"}],
            "immediate_actions": ["즉시 조치 A"], "long_term_improvements": ["장기 개선 B"],
            "remediation": {"action": action, "target_kind": "Deployment", "target_name": name, "target_namespace": ns,
                            "reason": "모델 제안"}}


def test_tool_use_and_structured_answer_through_every_provider(kube, ns, llm):
    scenarios.cpu_burner(kube, ns, "burner")
    leak = f"git clone failed with token {SECRET}"
    assert SECRET not in redact(leak)  # the redactor knows this kind, so the check below means something
    kube.core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="burner."), type="Warning", reason="AppWarning", message=leak,
        involved_object=client.V1ObjectReference(kind="Deployment", name="burner", namespace=ns)))
    bundle = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="burner"))
    rules = analyze(bundle)
    llm.play(call_tool("kubernetes-get-evidence", {"namespace": ns, "kind": "Deployment", "name": "burner"}),
             answer(diagnosis("cpu-burner", "burner", ns, "delete-cpu-burner")))
    out = LlmDiagnoser(ToolDeps(llm.settings(), kube), ToolDeps(Settings()).registry).diagnose(bundle, rules, [])

    assert out.error is None and out.diagnosis is not None, out.error
    d = out.diagnosis
    assert d.engine == "llm" and d.causes[0].kind == "cpu-burner" and d.causes[0].confidence == 0.91
    assert d.causes[0].remediation == rules.causes[0].remediation  # grounded in the evidence, as for Bedrock
    assert d.immediate_actions == ["즉시 조치 A"] and d.long_term == ["장기 개선 B"]
    assert out.tool_calls == ["kubernetes-get-evidence"] and out.attempts == 1
    srv = llm.server
    assert len(srv.bodies) == 2
    assert out.input_tokens == srv.input_tokens > 0 and out.output_tokens == srv.output_tokens > 0
    first, second = srv.bodies
    names = srv.tool_names(first)
    assert {"kubernetes-get-evidence", "current_time", "AgentDiagnosis"} <= names
    assert not any(n.startswith("github-") for n in names)
    assert "stress-ng" in srv.prompt(first) and "AppWarning" in srv.prompt(first)
    # the model's tool call ran, and its result went back in the next request
    [result] = srv.tool_results(second)
    assert "burner" in result
    # the model saw the redacted evidence; the key travels only in its header
    everything = json.dumps(srv.bodies, ensure_ascii=False)
    assert SECRET not in everything and "***" in everything
    if llm.name != "bedrock":
        assert srv.key not in everything
        assert all(b["model"] == llm.model.removeprefix("openai/") for b in srv.bodies)
    if llm.name == "anthropic":
        assert {h["x-api-key"] for h in srv.headers} == {srv.key} and all(h.get("anthropic-version") for h in srv.headers)
    elif llm.name != "bedrock":
        assert {h["authorization"] for h in srv.headers} == {f"Bearer {srv.key}"}


@pytest.mark.parametrize("status", [401, 429, 500])
def test_provider_errors_leave_the_diagnosis_to_the_rules(kube, ns, http_llm, status):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    bundle = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="web"))
    http_llm.play(*[fail(status)] * 4)
    out = LlmDiagnoser(ToolDeps(http_llm.settings(llm_max_retries=1), kube), ToolDeps(Settings()).registry).diagnose(
        bundle, analyze(bundle), [])
    assert out.diagnosis is None and f"HTTP {status} " in out.error, out.error
    if status == 401:  # a wrong key is not asked again
        assert out.attempts == 1 and len(http_llm.bodies) == 1
    else:  # transient: retried with backoff (1 retry) in each of the 2 answer attempts, then given up
        assert out.attempts == 2 and len(http_llm.bodies) == 4


def test_operator_falls_back_on_a_rejected_key_and_records_why(kube, ns, incidents, start_operator):
    """From the environment, as deployed: the provider refuses the key, the rules decide, status.llm says why."""
    llm = _make("anthropic")
    try:
        scenarios.scaled_to_zero(kube, ns, replicas=2)
        start_operator({"INCIDENT_LLM_ENABLED": "true", **llm.env, "INCIDENT_LLM_API_KEY": "sk-ant-revoked-key",
                        "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1"})
        incidents.create(incident("refused", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
        st = incidents.wait_phase("refused", "Resolved", 90)["status"]
        assert st["engine"] == "rules" and st["topCause"] == "scaled-to-zero: web" and st["outcome"] == "remediated"
        assert st["llm"]["model"] == "claude-opus-4-6" and st["llm"]["attempts"] == 1
        assert "HTTP 401" in st["llm"]["fallbackReason"] and "authentication_error" in st["llm"]["fallbackReason"]
        assert [e.message for e in incidents.events("refused", "LlmFallback")]
        assert len(llm.bodies) == 1 and llm.server.headers[0]["x-api-key"] == "sk-ant-revoked-key"
        assert "sk-ant-revoked-key" not in json.dumps(st)
    finally:
        llm.server.stop()


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_a_missing_key_stops_the_operator_at_start_up(name):
    env = {"PATH": "/usr/bin:/bin", "INCIDENT_LLM_ENABLED": "true", "INCIDENT_LLM_PROVIDER": name}
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "run"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "invalid configuration" in out.stderr and f"INCIDENT_LLM_PROVIDER={name}" in out.stderr
    assert "INCIDENT_LLM_API_KEY" in out.stderr


def test_which_providers_need_a_key():
    assert providers.preflight(Settings(llm_enabled=True)) is None  # bedrock: AWS credentials
    assert providers.preflight(Settings(llm_enabled=True, llm_provider="anthropic", llm_api_key="k")) is None
    # a local OpenAI-compatible server (Ollama, vLLM) may take no key; api.openai.com does
    assert providers.preflight(Settings(llm_enabled=True, llm_provider="openai", llm_base_url="http://ollama:11434/v1")) is None
    assert "INCIDENT_LLM_API_KEY" in providers.preflight(Settings(llm_enabled=True, llm_provider="openai"))
    # off, or remote (AgentCore runs the model), nothing to check here
    assert providers.preflight(Settings(llm_provider="anthropic")) is None
    assert providers.preflight(Settings(llm_enabled=True, llm_provider="anthropic", llm_mode="agentcore")) is None
    assert [providers.model_id(Settings(llm_provider=p)) for p in providers.PROVIDERS] == [
        "global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6", "gpt-5", "anthropic/claude-opus-4-6"]
    assert providers.model_id(Settings(llm_provider="openai", llm_model_id="llama3.1:8b")) == "llama3.1:8b"


def test_a_missing_module_is_named_with_its_extra_and_not_retried(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)  # as if `anthropic` were not installed
    s = Settings(llm_enabled=True, llm_provider="anthropic", llm_api_key="k")
    problem = providers.preflight(s)
    assert "`anthropic`" in problem and "pip install 'incident-operator[anthropic]'" in problem
    from datetime import datetime, timezone

    from incident_operator.models.diagnosis import Diagnosis
    from incident_operator.models.evidence import EvidenceBundle
    now = datetime.now(timezone.utc)
    bundle = EvidenceBundle(incident="x/y", target=Target(namespace="x", kind="Deployment", name="y"),
                            window={"start": now, "end": now, "anchor": now})
    out = LlmDiagnoser(ToolDeps(s), ToolDeps(Settings()).registry).diagnose(bundle, Diagnosis(engine="rules"), [])
    assert out.diagnosis is None and out.attempts == 1 and "incident-operator[anthropic]" in out.error


def test_the_api_key_comes_from_ssm_too(aws, monkeypatch):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/app/incident-llm/llm_api_key", Value="sk-from-ssm-0000", Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/app/incident-llm/llm_provider", Value="openai", Type="String", Overwrite=True)
    monkeypatch.setenv("INCIDENT_SSM_PREFIX", "/app/incident-llm/")
    s = load_settings(ssm_client=ssm)
    assert s.llm_provider == "openai" and s.llm_api_key.get_secret_value() == "sk-from-ssm-0000"
    assert "sk-from-ssm" not in repr(s)
