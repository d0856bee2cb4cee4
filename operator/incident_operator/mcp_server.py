"""`incident-operator mcp`: the tool registry served over MCP (stdio or streamable HTTP).

Each registered tool becomes an MCP tool with the same public name, description and input schema
(from its pydantic input model) and MCP tool annotations (read-only / destructive / idempotent);
calls go through `ToolRegistry.call`, so MCP clients get the same timeouts, bounded output, redaction
and typed outcomes as the operator and the agent.

Over HTTP (docs/mcp.md):
- every request carries a bearer token (the mcp SDK's `RequireAuthMiddleware`: 401 without one);
  tokens come from a callers file (a mounted Secret) or the environment, compared as SHA-256 digests
  in constant time; optionally TLS and client certificates (mTLS) in front;
- each token is a *caller*, a tenant of the namespaces it lists: every call runs in that scope
  (`tenancy.Scope`, the same check as an Incident's), so another namespace — or, through a Node
  target, another namespace's pods — is refused or left out;
- tools that write (GitHub issues and comments, chaos-cleanup) are not served unless enabled, and
  then only to callers allowed to write; what they post names the caller and never carries one of
  the operator's own markers (tools/github.py);
- the Host header must be one of the allowed hosts (DNS rebinding), checked by the SDK's transport
  security; the server refuses to start without tokens, or on a non-loopback address without allowed hosts.

stdio is the local user's own process: no token, the operator's tool scope, every tool.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .settings import Settings
from .tenancy import Scope, tool_scope
from .tools.base import Tool, ToolDeps, ToolRegistry, ToolResult

TOKEN_MIN = 16
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


class McpCaller(BaseModel):
    """One bearer token and what its holder may do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", description="Who; shown in what it posts")
    token: SecretStr | None = Field(default=None, description="The token itself (the callers file is a Secret)")
    token_file: str | None = Field(default=None, description="Or a file holding it (a mounted Secret key)")
    namespaces: list[str] = Field(min_length=1, description='Namespaces it is a tenant of; ["*"]: every namespace '
                                                            "the operator's tools may read (watched, unprotected)")
    nodes: bool = Field(default=False, description="May name a Node target (its pods of other namespaces stay hidden)")
    write: bool = Field(default=False, description="May call the tools that write, when the server serves them")

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, v: list[str]) -> list[str]:
        if "*" in v and v != ["*"]:
            raise ValueError('"*" stands alone')
        for n in v:
            if n != "*" and not NAMESPACE.match(n):
                raise ValueError(f"not a namespace name: {n!r}")
        return v

    @model_validator(mode="after")
    def _one_token(self) -> "McpCaller":
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"caller {self.name}: give exactly one of token, token_file")
        return self

    def secret(self) -> str:
        value = self.token.get_secret_value() if self.token else Path(self.token_file or "").read_text().strip()
        if len(value) < TOKEN_MIN:
            raise ValueError(f"caller {self.name}: the token is shorter than {TOKEN_MIN} characters")
        return value

    def scope(self, settings: Settings) -> Scope:
        protected = frozenset(settings.protected_namespaces)
        if self.namespaces == ["*"]:
            return Scope(namespaces=tool_scope(settings).namespaces, nodes=self.nodes, protected=protected,
                         owner=f"mcp:{self.name}")
        return Scope(namespaces=frozenset(self.namespaces), nodes=self.nodes, protected=protected,
                     owner=",".join(self.namespaces))


class CallersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callers: list[McpCaller] = Field(min_length=1)


class McpSettings(BaseSettings):
    """The MCP server's own settings (INCIDENT_MCP_*); command-line flags override them."""

    model_config = SettingsConfigDict(env_prefix="INCIDENT_MCP_", extra="ignore")

    callers_file: str | None = Field(default=None, description="YAML/JSON `callers:` list (mount it from a Secret)")
    token: SecretStr | None = Field(default=None, description="One token (caller `default`), instead of a file")
    token_file: str | None = None
    namespaces: Annotated[list[str], NoDecode] = Field(default=[], description="The `default` caller's namespaces")
    nodes: bool = False
    allow_write: bool = Field(default=False, description="Serve the tools that write over HTTP (to callers with write)")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default=[], description="Host header values accepted")
    allowed_origins: Annotated[list[str], NoDecode] = Field(default=[], description="Origin header values accepted")
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = Field(default=None, description="Require client certificates signed by this CA (mTLS)")
    max_connections: int = Field(default=64, ge=1, le=10_000)

    @field_validator("namespaces", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _list(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            return json.loads(v) if v.startswith("[") else [x.strip() for x in v.split(",") if x.strip()]
        return v


def load_callers(ms: McpSettings) -> list[McpCaller]:
    """The callers from the file and/or the environment; ValueError with a clear message when wrong."""
    callers: list[McpCaller] = []
    if ms.callers_file:
        try:
            raw = yaml.safe_load(Path(ms.callers_file).read_text())
            callers += CallersFile.model_validate(raw).callers
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"callers file {ms.callers_file}: {exc}") from None
    if ms.token or ms.token_file:
        try:
            callers.append(McpCaller(name="default", token=ms.token, token_file=ms.token_file, namespaces=ms.namespaces,
                                     nodes=ms.nodes, write=ms.allow_write))
        except ValidationError as exc:
            raise ValueError(f"INCIDENT_MCP_TOKEN needs INCIDENT_MCP_NAMESPACES (names, or * for all): {exc}") from None
    names = [c.name for c in callers]
    if len(set(names)) != len(names):
        raise ValueError(f"caller names repeat: {names}")
    return callers


class CallerTokens:
    """The mcp SDK's TokenVerifier: a bearer token names a caller. Tokens are kept as SHA-256 digests and
    every one is compared (hmac.compare_digest), so the time taken says nothing about any of them."""

    def __init__(self, callers: list[McpCaller], settings: Settings):
        self._entries: list[tuple[bytes, McpCaller]] = []
        for c in callers:
            digest = hashlib.sha256(c.secret().encode()).digest()
            if any(hmac.compare_digest(digest, d) for d, _ in self._entries):
                raise ValueError(f"caller {c.name}: the same token as another caller")
            for n in c.namespaces:
                if n in settings.protected_namespaces:
                    raise ValueError(f"caller {c.name}: {n} is a protected namespace")
            self._entries.append((digest, c))
        self.by_name = {c.name: c for _, c in self._entries}

    def find(self, token: str) -> McpCaller | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for d, caller in self._entries:
            if hmac.compare_digest(digest, d):
                found = caller
        return found

    async def verify_token(self, token: str):
        from mcp.server.auth.provider import AccessToken
        caller = self.find(token)
        return AccessToken(token="(verified)", client_id=caller.name, scopes=[]) if caller else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(host: str, ms: McpSettings, callers: list[McpCaller]) -> str | None:
    """Why an HTTP server with these settings must not start (None: it may)."""
    if not callers:
        where = "" if is_loopback(host) else f" (and {host} is not a loopback address)"
        return ("MCP over HTTP needs authentication" + where + ": give callers with bearer tokens "
                "(--callers FILE / INCIDENT_MCP_CALLERS_FILE, or INCIDENT_MCP_TOKEN[_FILE] with INCIDENT_MCP_NAMESPACES); "
                "see docs/mcp.md")
    if not is_loopback(host) and not ms.allowed_hosts:
        return (f"{host} is not a loopback address: say which Host headers to accept "
                "(--allowed-host / INCIDENT_MCP_ALLOWED_HOSTS, e.g. incident-operator-mcp.incident-operator.svc:8765)")
    if bool(ms.tls_cert) != bool(ms.tls_key):
        return "TLS needs both --tls-cert and --tls-key"
    if ms.client_ca and not ms.tls_cert:
        return "client certificates (--client-ca) need TLS (--tls-cert, --tls-key)"
    return None


def annotations_of(tool: Tool):
    from mcp_types import ToolAnnotations
    return ToolAnnotations(title=tool.name, read_only_hint=tool.read_only,
                           destructive_hint=False if tool.read_only else tool.destructive,
                           idempotent_hint=tool.idempotent, open_world_hint=True)


def _caller_of(ctx: Any, tokens: CallerTokens) -> McpCaller | None:
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    request = getattr(getattr(ctx, "request_context", None), "request", None)
    user = request.scope.get("user") if request is not None else None
    token = user.access_token if isinstance(user, AuthenticatedUser) else get_access_token()
    return tokens.by_name.get(token.client_id) if token is not None else None


def _mcp_function(tool: Tool, registry: ToolRegistry, deps: ToolDeps, tokens: CallerTokens | None):
    from mcp.server.mcpserver import Context

    def call(ctx: Context, **kwargs: Any) -> str:
        d = deps
        if tokens is not None:
            caller = _caller_of(ctx, tokens)
            if caller is None:  # cannot happen behind RequireAuthMiddleware; refuse all the same
                return ToolResult(tool=tool.name, outcome="failed", error="인증되지 않은 호출").model_dump_json()
            if not tool.read_only and not caller.write:
                return ToolResult(tool=tool.name, outcome="failed",
                                  error=f"호출자 `{caller.name}`에게는 쓰기 도구가 허용되지 않습니다").model_dump_json()
            d = deps.scoped(caller.scope(deps.settings), caller=caller.name)
        return registry.call(tool.name, kwargs, d).model_dump_json(exclude_none=True)

    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    hints: dict[str, Any] = {"ctx": Context}
    for name, field in tool.input_model.model_fields.items():
        annotation = Annotated[field.annotation, Field(description=field.description)] if field.description else field.annotation
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default))
        hints[name] = annotation
    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = {**hints, "return": str}
    call.__name__ = tool.name.replace("-", "_")
    call.__doc__ = tool.description
    return call


def build_server(registry: ToolRegistry, deps: ToolDeps, *, tokens: CallerTokens | None = None,
                 write_tools: bool = True, url: str = "http://127.0.0.1"):
    """The MCP server; with `tokens`, every call needs a bearer token and runs in its caller's scope."""
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    auth = dict(token_verifier=tokens, auth=AuthSettings(issuer_url=url, resource_server_url=None)) if tokens else {}
    server = MCPServer(name="incident-operator", instructions=(
        "EKS 인시던트 분석 도구: Container Insights, OpenSearch, Datadog, GitHub, Kubernetes. "
        "Tool names, metric names and labels are English; human-facing text is Korean."), **auth)
    for tool in registry:
        if tool.read_only or write_tools:
            server.add_tool(_mcp_function(tool, registry, deps, tokens), name=tool.name, description=tool.description,
                            annotations=annotations_of(tool))
    return server


def http_app(server, host: str, ms: McpSettings):
    from mcp.server.transport_security import TransportSecuritySettings
    hosts = ms.allowed_hosts or LOOPBACK_HOSTS
    return server.streamable_http_app(host=host, transport_security=TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=ms.allowed_origins))


def serve(transport: str, host: str, port: int, ms: McpSettings | None = None) -> int:
    import sys

    from .kube.client import Kube
    from .settings import get_settings
    from .tools import default_registry

    settings = get_settings()
    ms = ms or McpSettings()
    tokens = None
    if transport != "stdio":
        try:
            callers = load_callers(ms)
            problem = refusal(host, ms, callers)
            tokens = CallerTokens(callers, settings) if problem is None else None
        except (OSError, ValueError) as exc:
            problem = str(exc)
        if problem:
            print(f"invalid configuration: {problem}", file=sys.stderr)
            return 2
    try:
        kube = Kube.connect()
    except Exception:  # noqa: BLE001 - without a cluster the kubernetes tool answers "not-configured"
        kube = None
    deps = ToolDeps(settings=settings, kube=kube)
    if transport == "stdio":
        build_server(default_registry(), deps).run("stdio")
        return 0
    import ssl

    import uvicorn
    scheme = "https" if ms.tls_cert else "http"
    server = build_server(default_registry(), deps, tokens=tokens, write_tools=ms.allow_write,
                          url=f"{scheme}://{host}:{port}")
    config = uvicorn.Config(http_app(server, host, ms), host=host, port=port, log_level="info", server_header=False,
                            limit_concurrency=ms.max_connections, timeout_keep_alive=5,
                            ssl_certfile=ms.tls_cert, ssl_keyfile=ms.tls_key, ssl_ca_certs=ms.client_ca,
                            ssl_cert_reqs=ssl.CERT_REQUIRED if ms.client_ca else ssl.CERT_NONE)
    print(f"MCP on {scheme}://{host}:{port}/mcp: {len(tokens.by_name)} caller(s), "
          f"write tools {'served' if ms.allow_write else 'off'}{', mTLS' if ms.client_ca else ''}", file=sys.stderr)
    uvicorn.Server(config).run()
    return 0
