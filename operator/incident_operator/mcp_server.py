"""`incident-operator mcp`: the tool registry served over MCP (stdio or streamable HTTP).

Each registered tool becomes an MCP tool with the same public name, description and input schema
(from its pydantic input model); calls go through `ToolRegistry.call`, so MCP clients get the same
timeouts, bounded output, redaction and typed outcomes as the operator and the agent.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from pydantic import Field

from .tools.base import Tool, ToolDeps, ToolRegistry


def _mcp_function(tool: Tool, registry: ToolRegistry, deps: ToolDeps):
    def call(**kwargs: Any) -> str:
        return registry.call(tool.name, kwargs, deps).model_dump_json(exclude_none=True)

    params = []
    for name, field in tool.input_model.model_fields.items():
        annotation = Annotated[field.annotation, Field(description=field.description)] if field.description else field.annotation
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default))
    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    call.__name__ = tool.name.replace("-", "_")
    call.__doc__ = tool.description
    return call


def build_server(registry: ToolRegistry, deps: ToolDeps):
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="incident-operator", instructions=(
        "EKS 인시던트 분석 도구: Container Insights, OpenSearch, Datadog, GitHub, Kubernetes. "
        "Tool names, metric names and labels are English; human-facing text is Korean."))
    for tool in registry:
        server.add_tool(_mcp_function(tool, registry, deps), name=tool.name, description=tool.description)
    return server


def serve(transport: str, host: str, port: int) -> None:
    from .kube.client import Kube
    from .settings import get_settings
    from .tools import default_registry

    settings = get_settings()
    try:
        kube = Kube.connect()
    except Exception:  # noqa: BLE001 - without a cluster the kubernetes tool answers "not-configured"
        kube = None
    server = build_server(default_registry(), ToolDeps(settings=settings, kube=kube))
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
