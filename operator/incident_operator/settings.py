"""Operator configuration: one validated model, read from the environment (INCIDENT_*)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
import json
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A list setting from the environment: a JSON list or comma-separated ("shop,payments")
NameList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENT_", extra="ignore", populate_by_name=True)

    namespaces: NameList = Field(default=[], description="Namespaces to watch; empty = all")
    incident_namespaces: NameList = Field(
        default=["incident-operator"],
        description="The operator's incident namespaces (where the bridge writes; admin-only by RBAC): Incidents "
                    "there may target any unprotected namespace and Nodes. Anywhere else an Incident reads and acts "
                    "only in its own namespace")
    protected_namespaces: NameList = Field(
        default=["kube-system", "kube-public", "kube-node-lease"],
        description="Namespaces the operator never remediates in (kube-system is always protected)",
    )
    read_protected_namespaces: bool = Field(
        default=False, description="Read evidence in protected namespaces (a Node's kube-system pods, their logs and "
                                   "Events); off: never read there, whatever RBAC allows. Never acted in either way")
    remediation_enabled: bool = Field(default=True, description="Global switch; off = analysis only")
    remediation_verify_seconds: float = Field(
        default=300.0, ge=0, description="After acting, how long the respond phase waits for the workload to be healthy")
    remediation_verify_interval_seconds: float = Field(default=3.0, gt=0, description="How often it looks")
    chaos_cleanup_execute: bool = Field(
        default=False, description="Let the chaos-cleanup tool (MCP) act when its caller asks; otherwise always dry-run")
    remediation_undo_unverified: bool = Field(
        default=True, description="Undo an action (rollback / scale) that did not become healthy in the verify window; "
                                  "the undo is verified too (the target back as it was, seen by its controller)")
    remediation_mode: Literal["auto", "approve", "never"] = Field(
        default="auto", description="The cluster's policy for every action: auto (run), approve (a named person approves "
                                    "each plan: IncidentApproval) or never. Incidents and namespaces may only be stricter")
    remediation_action_modes: dict[str, Literal["auto", "approve", "never"]] = Field(
        default={}, description='Per action, instead of INCIDENT_REMEDIATION_MODE (JSON, e.g. {"rollback-image": "approve"})')
    remediation_approval_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="A plan not approved (or denied) this long after it was proposed expires: NeedsAction")
    remediation_approval_poll_seconds: float = Field(
        default=60.0, gt=0, description="How often an Incident awaiting approval is looked at besides the approvals' watch "
                                        "(no worker is held meanwhile)")
    remediation_approval_policy: str = Field(
        default="incident-operator-approvals", description="The ValidatingAdmissionPolicy (and its binding, same name) that "
                                                           "checks an IncidentApproval's approvedBy against the requester: "
                                                           "approvals are trusted only while it is in force")
    remediation_effectiveness_seconds: float = Field(
        default=600.0, ge=0, description="This long after a fix is Resolved, check that it held (alarm not back, no new "
                                         "restarts, readiness kept): status.effectiveness; 0 = never")
    remediation_chaos_managers: NameList = Field(
        default=["netaiops-chaos", "chaos-mesh*", "chaos-controller-manager", "chaos-daemon", "litmus*", "chaos-operator",
                 "chaos-runner"],
        description="Field managers (metadata.managedFields; names or shell patterns) of chaos tools: a Deployment they "
                    "scaled to 0 is scaled back. Scaled to 0 by anyone else (kubectl, GitOps, an HPA, the operator) it is "
                    "the owner's intent and left alone")
    remediation_max_replicas: int = Field(
        default=20, ge=1, description="restore-replicas never scales above this, whatever the records say")
    remediation_burner_min_cpu_percent: float = Field(
        default=50.0, ge=0, le=100,
        description="A CPU burner is deleted only when measured CPU (Container Insights, the pod's own or its node's) "
                    "reached this")
    max_attempts: int = Field(default=4, ge=1, le=20, description="Tries per phase before Failed")
    backoff_seconds: float = Field(default=2.0, gt=0, description="First retry delay, doubled each try")
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    source_timeout_seconds: float = Field(default=20.0, gt=0, description="Per evidence source")
    log_tail_lines: int = Field(default=50, ge=0, le=1000)
    max_pods: int = Field(default=30, ge=1, description="Pods examined per Incident")
    max_suspects: int = Field(default=5, ge=1, le=50,
                              description="Suspects sought when an alarm names no pod or node (each one's evidence is collected)")
    max_events: int = Field(default=100, ge=1)
    evidence_cache_seconds: float = Field(
        default=10.0, ge=0, description="How old a shared read of slow-changing cluster configuration (Services, Ingresses, "
                                        "NetworkPolicies, HPAs, quotas, LimitRanges, Nodes) may be when another Incident "
                                        "needs it; 0 = always read")
    report_max_chars: int = Field(default=20000, ge=1000, description="Report kept in status")
    similar_incidents: int = Field(default=5, ge=0)
    group_window_seconds: float = Field(
        default=900, ge=0, description="An alarm on the same workload or node as an Incident created this long before "
                                       "becomes part of it (Grouped, analysed and reported once); 0 = never group")
    peering_name: str = "incident-operator"
    peering_priority: int | None = Field(default=None, description="Unset: random per replica")
    workers: int = Field(default=4, ge=1, description="Incidents worked on at once (Kopf executor threads)")
    identity: str = Field(default_factory=socket.gethostname,
                          description="Who holds an Incident's claim; the pod name in a cluster")
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="/metrics; 0 = off")
    metrics_bind_address: str = Field(default="0.0.0.0", description="Address /metrics listens on (e.g. 127.0.0.1, ::)")
    metrics_approvals_cache_seconds: float = Field(
        default=15.0, ge=0, description="How old the pending-approvals gauge's count (one label-selected list of the "
                                        "Incidents awaiting approval, made when /metrics is scraped) may be")
    finished_ttl_seconds: float = Field(default=7 * 24 * 3600, ge=0,
                                        description="Finished Incidents are deleted after this long; 0 = keep")
    gc_interval_seconds: float = Field(default=300, gt=0, description="How often finished Incidents are checked")
    claim_seconds: float = Field(default=60.0, gt=0, description="A claim not renewed for this long may be taken over")

    # --- tools: each is "not configured" until its settings are there ---------------------------
    cluster_name: str | None = Field(default=None, description="EKS cluster (Container Insights ClusterName)")
    aws_region: str | None = Field(default=None, validation_alias=AliasChoices("INCIDENT_AWS_REGION", "AWS_REGION"))
    aws_endpoint_url: str | None = Field(default=None, description="A local AWS endpoint instead of AWS")
    tool_timeout_seconds: float = Field(default=15.0, gt=0)
    tool_output_max_chars: int = Field(default=12000, ge=1000, description="Larger tool results are cut")
    github_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("INCIDENT_GITHUB_TOKEN", "GITHUB_TOKEN"))
    github_repo: str | None = Field(default=None, validation_alias=AliasChoices("INCIDENT_GITHUB_REPO", "GITHUB_REPO"),
                                    pattern=r"^[\w.-]+/[\w.-]+$")
    github_api_url: str = Field(default="https://api.github.com", validation_alias=AliasChoices("INCIDENT_GITHUB_API_URL", "GITHUB_API_URL"))
    github_write_interval_seconds: float = Field(default=1.0, ge=0, description="GitHub's advice against secondary rate limits")
    slack_token: SecretStr | None = Field(default=None, description="Slack bot token (xoxb-…) for the Slack report sink; "
                                          "scopes chat:write, channels:history (groups:history for a private channel)")
    slack_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$",
                                      description="ID of the channel the Slack report is posted in (C…, or G… for a "
                                                  "private one; Slack's conversations.* methods take IDs, not names)")
    slack_api_url: str = Field(default="https://slack.com/api", description="Slack Web API base URL")
    # --- the Alertmanager webhook receiver (`incident-operator webhook`) ----------------------------
    webhook_port: int = Field(default=9095, ge=1, le=65535, description="Port the Alertmanager receiver listens on")
    webhook_token: SecretStr | None = Field(default=None, description="Bearer token Alertmanager must send "
                                            "(http_config.authorization); compared in constant time")
    webhook_tls_cert: str | None = Field(default=None, description="Server certificate (PEM file): serve HTTPS")
    webhook_tls_key: str | None = Field(default=None, description="Its private key (PEM file)")
    webhook_tls_client_ca: str | None = Field(default=None, description="CA (PEM file) client certificates must chain "
                                              "to: mutual TLS, a client without one is refused at the handshake")
    webhook_namespace: str | None = Field(default=None, description="Where the receiver creates Incidents; default "
                                          "the first incident namespace that is a plain name")
    webhook_remediation: Literal["auto", "dry-run", "off"] = Field(
        default="auto", description="spec.options.remediation of the Incidents it creates")
    webhook_trust_cluster_alerts: bool = Field(
        default=False, description="An Alertmanager alert with no `namespace` label may act (e.g. delete a burner on its "
                                   "node in any unprotected namespace). Alert labels are tenant input: set true only when "
                                   "every tenant's alerting rules carry an enforced namespace label (prometheus-operator "
                                   "enforcedNamespaceLabel). An alert with a `namespace` label is always that tenant's")
    webhook_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Largest notification accepted")
    webhook_workers: int = Field(default=8, ge=1, le=64, description="Threads writing a notification's alerts to the "
                                 "API server (a batch is applied in pieces of 4 per thread)")
    webhook_max_requests: int = Field(default=2, ge=1, le=64, description="Notifications applied at once; beyond "
                                      "that the answer is 503 with Retry-After (Alertmanager retries)")
    webhook_idle_timeout_seconds: float = Field(default=15.0, gt=0, le=600, description="A connection with no "
                                                "complete request (from its start, or between requests) is closed then")
    webhook_handshake_timeout_seconds: float = Field(default=10.0, gt=0, le=120,
                                                     description="Longest a TLS handshake may take")
    webhook_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600,
                                                description="Longest a request body may take to arrive (then 408)")
    webhook_graceful_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="On SIGTERM, how long "
                                                    "requests under way may finish; a second later every connection "
                                                    "is closed and the process ends")
    report_timeout_seconds: float = Field(default=10.0, gt=0, description="Longest a phase waits for the report sink")
    report_retry_seconds: float = Field(default=5.0, gt=0, description="First retry of an undelivered report operation")
    report_retry_max_seconds: float = Field(default=300.0, gt=0, description="Longest wait between report retries")
    opensearch_url: str | None = Field(default=None, description="e.g. https://search-logs.ap-northeast-2.es.amazonaws.com")
    opensearch_index: str = "eks-app-logs"
    opensearch_username: str | None = None
    opensearch_password: SecretStr | None = None
    opensearch_sigv4: bool = Field(default=False, description="Sign with the AWS credentials (Amazon OpenSearch Service)")
    opensearch_sigv4_service: str = Field(default="es", description="es, or aoss for Serverless")
    dd_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("INCIDENT_DD_API_KEY", "DD_API_KEY"))
    dd_app_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("INCIDENT_DD_APP_KEY", "DD_APP_KEY", "DD_APPLICATION_KEY"))
    dd_site: str = Field(default="datadoghq.com", validation_alias=AliasChoices("INCIDENT_DD_SITE", "DD_SITE"))
    dd_api_url: str | None = Field(default=None, description="Overrides https://api.{dd_site}")

    # --- the LLM agent (strands + Bedrock); off unless enabled -----------------------------------
    llm_enabled: bool = Field(default=False, description="Diagnose with the LLM agent (rules stay the fallback)")
    llm_provider: Literal["bedrock", "anthropic", "openai", "litellm"] = Field(
        default="bedrock", description="Model provider (strands-agents): bedrock, anthropic (Messages API), openai "
                                       "(OpenAI or a compatible server: vLLM, Ollama, LM Studio) or litellm")
    llm_model_id: str | None = Field(
        default=None, description="Model id; default per provider (bedrock global.anthropic.claude-opus-4-6-v1, "
                                  "anthropic claude-opus-4-6, openai gpt-5, litellm anthropic/claude-opus-4-6)")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for anthropic / openai / litellm")
    llm_base_url: str | None = Field(default=None, description="The provider's endpoint (an OpenAI-compatible server, a gateway)")
    llm_region: str | None = Field(default=None, description="Bedrock region (default: the AWS region)")
    llm_endpoint_url: str | None = Field(default=None, description="A Bedrock Runtime endpoint other than AWS's")
    llm_max_retries: int = Field(default=3, ge=0, le=10, description="Retries on throttling / transient errors")
    llm_retry_initial_delay_seconds: float = Field(default=2.0, gt=0, le=60, description="First backoff; doubles")
    llm_answer_attempts: int = Field(default=2, ge=1, le=5, description="Tries for an answer that parses")
    llm_deadline_seconds: float = Field(default=180.0, gt=0, description="Total time for the agent per Incident")
    llm_max_tokens: int = Field(default=4096, ge=256)
    llm_incident_token_budget: int = Field(
        default=200_000, ge=0, description="Hard cap on model tokens (input + output, every call and attempt) per Incident; "
                                           "a call that would not fit is not made and the rules answer. 0: no cap")
    llm_day_token_budget: int = Field(
        default=5_000_000, ge=0, description="Hard cap on model tokens per UTC day across all Incidents, kept in the "
                                             "ConfigMap incident-operator-llm-budget (survives restarts). 0: no cap")
    llm_budget_namespace: str | None = Field(
        default=None, description="Where the day budget's ConfigMap lives (default: the first incident namespace)")

    llm_mode: Literal["local", "agentcore"] = Field(default="local", description="agentcore: call a Bedrock AgentCore Runtime")
    agentcore_runtime_arn: str | None = None
    agentcore_endpoint_url: str | None = Field(default=None, description="Default https://bedrock-agentcore.{region}.amazonaws.com")
    agentcore_token_url: str | None = Field(default=None, description="Cognito /oauth2/token")
    agentcore_client_id: str | None = None
    agentcore_client_secret: SecretStr | None = None
    agentcore_scope: str | None = None
    agentcore_ssm_prefix: str = Field(default="/app/incident/agentcore/", description="Where the AgentCore values live in SSM")

    @field_validator("namespaces", "incident_namespaces", "protected_namespaces", "remediation_chaos_managers", mode="before")
    @classmethod
    def _name_list(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return json.loads(v)
            return [x.strip() for x in v.split(",") if x.strip()]
        return v

    @field_validator("protected_namespaces")
    @classmethod
    def _always_protect_kube_system(cls, v: list[str]) -> list[str]:
        return sorted(set(v) | {"kube-system"})


SSM_PREFIX_ENV = "INCIDENT_SSM_PREFIX"


def ssm_values(prefix: str, client=None) -> dict[str, str]:
    """Parameters under an SSM path (e.g. /app/incident/), named after settings fields:
    /app/incident/github_token -> github_token. SecureStrings are decrypted."""
    if client is None:
        import boto3
        client = boto3.client("ssm", region_name=os.environ.get("INCIDENT_AWS_REGION") or os.environ.get("AWS_REGION"),
                              endpoint_url=os.environ.get("INCIDENT_AWS_ENDPOINT_URL"))
    values: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=False, WithDecryption=True):
        for p in page["Parameters"]:
            key = p["Name"][len(prefix):].strip("/").replace("-", "_").lower()
            if key in Settings.model_fields:
                values[key] = p["Value"]
    return values


def load_settings(env: dict[str, str] | None = None, ssm_client=None) -> Settings:
    """Environment first (ConfigMap and Secret arrive as env), SSM under $INCIDENT_SSM_PREFIX for the rest.
    Raises pydantic.ValidationError naming every bad value."""
    env = os.environ if env is None else env
    from_env = Settings()
    prefix = env.get(SSM_PREFIX_ENV)
    if not prefix:
        return from_env
    from_ssm = {k: v for k, v in ssm_values(prefix, ssm_client).items() if k not in from_env.model_fields_set}
    return Settings(**{**from_ssm, **{k: getattr(from_env, k) for k in from_env.model_fields_set}})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
