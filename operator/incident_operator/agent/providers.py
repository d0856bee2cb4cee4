"""Which LLM the agent talks to: strands-agents' own model providers, chosen by INCIDENT_LLM_PROVIDER.

A table of providers as data — the modules each needs (and the pip extra that brings them), its default
model id, whether it needs INCIDENT_LLM_API_KEY, and how its strands model is built from the settings.
`check()` is the start-up preflight: a missing module or key is a configuration error the operator
refuses to start with, not a fallback on every Incident. Retries are strands' (`retry_strategy`), so
every vendor client is built to try once, with the deadline as its read timeout.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..settings import Settings

# Status codes worth another try on any HTTP provider (throttled, overloaded, a server's bad moment)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504, 529})
# ... and those that will not change by asking again (a wrong or unauthorised key)
PERMANENT_STATUS = frozenset({401, 403})


class ProviderError(ValueError):
    """The configured provider cannot run: its module is not installed or its key is missing."""


@dataclass(frozen=True)
class Provider:
    name: str
    modules: tuple[str, ...]  # imported by the preflight: vendor SDK, then the strands provider
    extra: str  # pip install 'incident-operator[<extra>]'
    default_model: str
    needs_key: Callable[[Settings], bool]
    build: Callable[[Settings, str], Any]  # (settings, model id) -> strands Model


def _key(s: Settings) -> str | None:
    return s.llm_api_key.get_secret_value() if s.llm_api_key else None


def _timeout(s: Settings) -> Any:
    import httpx
    return httpx.Timeout(s.llm_deadline_seconds, connect=5.0)


def _bedrock(s: Settings, model_id: str) -> Any:
    from botocore.config import Config
    from strands.models.bedrock import BedrockModel
    return BedrockModel(
        model_id=model_id, region_name=s.llm_region or s.aws_region or None, endpoint_url=s.llm_endpoint_url,
        streaming=False, max_tokens=s.llm_max_tokens,
        # strands' retry strategy does the backoff; botocore tries once per call
        boto_client_config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                                  read_timeout=int(s.llm_deadline_seconds)))


def _anthropic(s: Settings, model_id: str) -> Any:
    from strands.models.anthropic import AnthropicModel
    client = {"api_key": _key(s), "max_retries": 0, "timeout": _timeout(s),
              **({"base_url": s.llm_base_url} if s.llm_base_url else {})}
    return AnthropicModel(client_args=client, model_id=model_id, max_tokens=s.llm_max_tokens)


def _openai(s: Settings, model_id: str) -> Any:
    from strands.models.openai import OpenAIModel
    # a local server (vLLM, Ollama, LM Studio) may take no key, but the client wants one
    client = {"api_key": _key(s) or "unused", "max_retries": 0, "timeout": _timeout(s),
              **({"base_url": s.llm_base_url} if s.llm_base_url else {})}
    # OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens); the
    # compatible servers document max_tokens
    limit = "max_tokens" if s.llm_base_url else "max_completion_tokens"
    return OpenAIModel(client_args=client, model_id=model_id, params={limit: s.llm_max_tokens})


def _litellm(s: Settings, model_id: str) -> Any:
    from strands.models.litellm import LiteLLMModel
    client = {"num_retries": 0, "max_retries": 0, "timeout": s.llm_deadline_seconds,
              **({"api_key": _key(s)} if s.llm_api_key else {}),
              **({"api_base": s.llm_base_url} if s.llm_base_url else {})}
    return LiteLLMModel(client_args=client, model_id=model_id, params={"max_tokens": s.llm_max_tokens})


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("bedrock", ("boto3", "strands.models.bedrock"), "agent",
             "global.anthropic.claude-opus-4-6-v1", lambda s: False, _bedrock),  # AWS credentials (IRSA)
    Provider("anthropic", ("anthropic", "strands.models.anthropic"), "anthropic",
             "claude-opus-4-6", lambda s: True, _anthropic),
    Provider("openai", ("openai", "strands.models.openai"), "openai",
             "gpt-5", lambda s: not s.llm_base_url, _openai),  # api.openai.com needs a key; a local server may not
    Provider("litellm", ("litellm", "strands.models.litellm"), "litellm",
             "anthropic/claude-opus-4-6", lambda s: False, _litellm),  # LiteLLM also reads its vendors' own env keys
)}


def provider(s: Settings) -> Provider:
    return PROVIDERS[s.llm_provider]


def model_id(s: Settings) -> str:
    return s.llm_model_id or provider(s).default_model


def check(s: Settings) -> Provider:
    """The preflight: raise ProviderError saying what to install or set."""
    p = provider(s)
    if p.name == "litellm":
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download from GitHub at import
    for module in p.modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ProviderError(
                f"INCIDENT_LLM_PROVIDER={p.name} needs the Python module `{module}` ({exc}); "
                f"install it with: pip install 'incident-operator[{p.extra}]'") from None
    if p.needs_key(s) and not _key(s):
        raise ProviderError(
            f"INCIDENT_LLM_PROVIDER={p.name} needs an API key: set INCIDENT_LLM_API_KEY "
            "(environment / the operator's Secret, or SSM <INCIDENT_SSM_PREFIX>llm_api_key)")
    return p


def preflight(s: Settings) -> str | None:
    """At start-up: why the configured LLM cannot run (None when it can, or when the agent is off / remote)."""
    if not s.llm_enabled or s.llm_mode != "local":
        return None
    try:
        check(s)
    except ProviderError as exc:
        return str(exc)
    return None


def build(s: Settings) -> Any:
    """The strands model for the configured provider (after the preflight)."""
    return check(s).build(s, model_id(s))


def status_code(exc: BaseException | None) -> int | None:
    """The HTTP status of a vendor client's error, wherever strands wrapped it."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "status_code", None)
        if isinstance(code, int):
            return code
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def retry_strategy(s: Settings) -> Any:
    """strands' backoff (INCIDENT_LLM_MAX_RETRIES, doubling from INCIDENT_LLM_RETRY_INITIAL_DELAY_SECONDS) for
    throttling, as before, and for the HTTP providers' transient statuses (5xx, 529 overloaded, 429)."""
    from strands import ModelRetryStrategy

    class TransientRetry(ModelRetryStrategy):
        def is_retryable(self, exception: Exception) -> bool:
            return super().is_retryable(exception) or status_code(exception) in TRANSIENT_STATUS

    return TransientRetry(max_attempts=s.llm_max_retries + 1, initial_delay=s.llm_retry_initial_delay_seconds, max_delay=60)


__all__ = ["PERMANENT_STATUS", "PROVIDERS", "Provider", "ProviderError", "build", "check", "model_id", "preflight", "provider",
           "retry_strategy", "status_code"]
