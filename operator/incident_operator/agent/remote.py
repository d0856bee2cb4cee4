"""Remote mode: the agent runs in a Bedrock AgentCore Runtime (compatible with the seed's deployment).

POST {endpoint}/runtimes/{url-encoded ARN}/invocations with a Cognito `client_credentials` bearer
token and the session id `alarm-{name}-{uuid}`; runtime ARN and Cognito client from settings or
SSM `/app/incident/agentcore/*`. The answer is grounded here exactly like a local one.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from ..models.diagnosis import Diagnosis
from ..models.evidence import EvidenceBundle
from ..redact import redact
from ..settings import Settings
from ..tools.base import NotConfigured, ToolDeps
from .engine import LlmOutcome, to_diagnosis
from .schema import AgentDiagnosis

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
FIELDS = ("runtime_arn", "endpoint_url", "token_url", "client_id", "client_secret", "scope")


def with_ssm(settings: Settings, ssm_client: Any = None) -> Settings:
    """Fill the agentcore_* settings that are unset from SSM parameters <prefix><field>."""
    missing = [f for f in FIELDS if not getattr(settings, f"agentcore_{f}")]
    if not missing:
        return settings
    if ssm_client is None:
        import boto3
        ssm_client = boto3.client("ssm", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    names = [settings.agentcore_ssm_prefix + f for f in missing]
    found = ssm_client.get_parameters(Names=names, WithDecryption=True).get("Parameters", [])
    update: dict[str, Any] = {}
    for p in found:
        field = p["Name"][len(settings.agentcore_ssm_prefix):]
        update[f"agentcore_{field}"] = SecretStr(p["Value"]) if field == "client_secret" else p["Value"]
    return settings.model_copy(update=update)


class CognitoToken:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def get(self) -> str:
        s = self.settings
        with self._lock:
            if self._token and time.time() < self._expires - 60:
                return self._token
            data = {"grant_type": "client_credentials", **({"scope": s.agentcore_scope} if s.agentcore_scope else {})}
            res = requests.post(s.agentcore_token_url, data=data, timeout=10,
                                auth=(s.agentcore_client_id, s.agentcore_client_secret.get_secret_value()))
            res.raise_for_status()
            body = res.json()
            self._token, self._expires = body["access_token"], time.time() + float(body.get("expires_in", 3600))
            return self._token


class RemoteDiagnoser:
    def __init__(self, deps: ToolDeps):
        s = with_ssm(deps.settings) if deps.settings.llm_mode == "agentcore" else deps.settings
        if not (s.agentcore_runtime_arn and s.agentcore_token_url and s.agentcore_client_id and s.agentcore_client_secret):
            raise NotConfigured("AgentCore runtime ARN / Cognito client가 설정되지 않음")
        self.settings = s
        self.tokens = deps.client("agentcore-token", lambda: CognitoToken(s))

    def diagnose(self, bundle: EvidenceBundle, rules: Diagnosis, similar: list[dict], incident: str = "") -> LlmOutcome:
        s = self.settings
        region = s.agentcore_runtime_arn.split(":")[3]
        endpoint = (s.agentcore_endpoint_url or f"https://bedrock-agentcore.{region}.amazonaws.com").rstrip("/")
        url = f"{endpoint}/runtimes/{quote(s.agentcore_runtime_arn, safe='')}/invocations"
        session = f"alarm-{incident.replace('/', '-')}-{uuid.uuid4()}"
        outcome = LlmOutcome(attempts=1)
        try:
            res = requests.post(url, params={"qualifier": "DEFAULT"}, timeout=s.llm_deadline_seconds,
                                headers={"Authorization": f"Bearer {self.tokens.get()}", SESSION_HEADER: session,
                                         "Content-Type": "application/json"},
                                json={"bundle": bundle.model_dump(mode="json", by_alias=True, exclude_none=True),
                                      "rules": rules.model_dump(mode="json", by_alias=True, exclude_none=True),
                                      "similar": similar})
            res.raise_for_status()
            body = res.json()
            usage = body.get("usage") or {}
            outcome.input_tokens, outcome.output_tokens = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
            outcome.tool_calls = list(body.get("toolCalls") or [])
            if body.get("diagnosis") is None:
                outcome.error = body.get("error") or "runtime returned no diagnosis"
                return outcome
            outcome.diagnosis = to_diagnosis(AgentDiagnosis.model_validate(body["diagnosis"]), rules)
        except Exception as exc:  # noqa: BLE001 - the rules take over
            outcome.error = redact(f"{type(exc).__name__}: {exc}")[:500]
        return outcome
