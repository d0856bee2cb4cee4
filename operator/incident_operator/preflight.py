"""Start-up checks: every feature the settings turn on, and whether it can work in this process.

A feature switched on (INCIDENT_LLM_ENABLED, INCIDENT_GITHUB_REPO, INCIDENT_OPENSEARCH_URL, ...) whose
library is missing, or that lacks its token, region or credentials, would otherwise fail quietly later:
the LLM path falls back to the rules, the report goes to the cluster instead of GitHub. The operator logs
a warning per such feature at start-up and sets `incident_operator_feature_ready{feature}` (1 ok, 0 not);
`incident-operator check` prints the same table (exit 1 when a configured feature cannot work).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Literal

from .settings import Settings

log = logging.getLogger(__name__)

State = Literal["ok", "broken", "off"]


@dataclass
class Check:
    feature: str
    state: State
    detail: str

    @property
    def ok(self) -> bool:
        return self.state != "broken"


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _install_hint(extra: str, modules: list[str]) -> str:
    return f"module {', '.join(modules)} not installed (pip install 'incident-operator[{extra}]')"


def _aws(region: str | None) -> tuple[str | None, str | None]:
    """(region, problem) as boto3 would resolve them: the setting, then the environment / config files."""
    import boto3

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        return None, "no AWS region (INCIDENT_AWS_REGION / AWS_REGION)"
    try:
        credentials = session.get_credentials()
    except Exception as exc:  # noqa: BLE001 - e.g. the Pod Identity agent refusing: that is the answer
        return session.region_name, f"no AWS credentials: {type(exc).__name__}: {str(exc)[:200]}"
    if credentials is None:
        return session.region_name, "no AWS credentials (IRSA / Pod Identity, AWS_ACCESS_KEY_ID, or a profile)"
    return session.region_name, None


def _llm(s: Settings) -> Check:
    if not s.llm_enabled:
        return Check("llm", "off", "INCIDENT_LLM_ENABLED=false: rules only")
    if s.llm_mode == "agentcore":
        missing = _missing("boto3")
        if missing:
            return Check("llm", "broken", _install_hint("aws", missing) + ": every diagnosis falls back to the rules")
        return Check("llm", "ok", f"AgentCore Runtime {s.agentcore_runtime_arn or '(from SSM ' + s.agentcore_ssm_prefix + ')'}")
    from .agent import providers  # one place knows what each model provider needs
    problem = providers.preflight(s)
    if problem:
        return Check("llm", "broken", problem)
    if s.llm_provider != "bedrock":
        return Check("llm", "ok", f"{s.llm_provider} {providers.model_id(s)}" + (f" via {s.llm_base_url}" if s.llm_base_url else ""))
    region, problem = _aws(s.llm_region or s.aws_region)
    if problem:
        return Check("llm", "broken", f"{problem}: every diagnosis falls back to the rules")
    return Check("llm", "ok", f"Bedrock {providers.model_id(s)} in {region}" + (f" via {s.llm_endpoint_url}" if s.llm_endpoint_url else ""))


def _github(s: Settings) -> Check:
    if not s.github_repo:
        return Check("github", "off", "INCIDENT_GITHUB_REPO not set: reports go to the cluster (Events)")
    missing = _missing("github")
    if missing:
        return Check("github", "broken", _install_hint("github", ["PyGithub"]) + ": reports go to the cluster instead")
    if not s.github_token:
        return Check("github", "broken", "INCIDENT_GITHUB_TOKEN not set: reports go to the cluster instead")
    return Check("github", "ok", f"issues in {s.github_repo}")


def _cloudwatch(s: Settings) -> Check:
    if not (s.aws_region or s.aws_endpoint_url or s.cluster_name):
        return Check("cloudwatch", "off", "INCIDENT_AWS_REGION / INCIDENT_CLUSTER_NAME not set: no CloudWatch metrics")
    missing = _missing("boto3")
    if missing:
        return Check("cloudwatch", "broken", _install_hint("aws", missing) + ": no CloudWatch metrics")
    if not (s.aws_region or s.aws_endpoint_url):
        return Check("cloudwatch", "broken", "INCIDENT_AWS_REGION not set: no CloudWatch metrics")
    _, problem = _aws(s.aws_region)
    if problem:
        return Check("cloudwatch", "broken", problem)
    if not s.cluster_name:
        return Check("cloudwatch", "ok", "INCIDENT_CLUSTER_NAME not set: taken from each alarm's ClusterName")
    return Check("cloudwatch", "ok", f"Container Insights of {s.cluster_name}")


def _opensearch(s: Settings) -> Check:
    if not s.opensearch_url:
        return Check("opensearch", "off", "INCIDENT_OPENSEARCH_URL not set: no application logs")
    missing = _missing("opensearchpy")
    if missing:
        return Check("opensearch", "broken", _install_hint("aws", ["opensearch-py"]) + ": no application logs")
    return Check("opensearch", "ok", f"{s.opensearch_url} index {s.opensearch_index}")


def _datadog(s: Settings) -> Check:
    if not (s.dd_api_key or s.dd_app_key):
        return Check("datadog", "off", "DD_API_KEY not set")
    if not (s.dd_api_key and s.dd_app_key):
        return Check("datadog", "broken", "Datadog needs both DD_API_KEY and DD_APP_KEY")
    return Check("datadog", "ok", f"site {s.dd_site}")


def _mcp(s: Settings) -> Check:
    missing = _missing("mcp")
    if missing:
        return Check("mcp", "broken", _install_hint("agent", missing) + ": `incident-operator mcp` cannot start")
    return Check("mcp", "ok", "`incident-operator mcp` can serve the tools")


def llm_tools(s: Settings) -> Check:
    """`check --llm`: one tiny tool-call request to the configured model (agent/probe.py)."""
    if not s.llm_enabled or s.llm_mode != "local":
        return Check("llm-tools", "off", "INCIDENT_LLM_ENABLED=false or AgentCore mode: nothing to probe")
    from .agent import providers
    if problem := providers.preflight(s):
        return Check("llm-tools", "broken", problem)
    from .agent.probe import probe
    ok, detail = probe(s)
    return Check("llm-tools", "ok" if ok else "broken", detail)


CHECKS = (_llm, _github, _cloudwatch, _opensearch, _datadog, _mcp)


def run(settings: Settings) -> list[Check]:
    out = []
    for check in CHECKS:
        try:
            out.append(check(settings))
        except Exception as exc:  # noqa: BLE001 - a check that breaks says so, it never stops the operator
            out.append(Check(check.__name__.lstrip("_"), "broken", f"check failed: {type(exc).__name__}: {exc}"))
    return out


def report(settings: Settings) -> list[Check]:
    """At start-up: a warning per configured feature that cannot work, and the feature gauge."""
    from . import metrics

    checks = run(settings)
    for c in checks:
        metrics.FEATURE_READY.labels(c.feature).set(1 if c.state == "ok" else 0)
        if c.state == "broken":
            log.warning("feature %s is configured but cannot work: %s", c.feature, c.detail)
        else:
            log.info("feature %s: %s (%s)", c.feature, c.state, c.detail)
    return checks


def table(checks: list[Check]) -> str:
    width = max(len(c.feature) for c in checks)
    return "\n".join(f"{c.feature:<{width}}  {c.state.upper():<6}  {c.detail}" for c in checks)


__all__ = ["Check", "llm_tools", "run", "report", "table"]
