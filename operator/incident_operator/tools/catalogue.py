"""The one catalogue: every tool the phases, the agent and the MCP server can use."""

from __future__ import annotations

from .base import ToolRegistry


def default_registry() -> ToolRegistry:
    from . import cloudwatch, datadog, github, kubernetes, opensearch, remediation
    registry = ToolRegistry()
    for module in (cloudwatch, opensearch, datadog, github, kubernetes, remediation):
        registry.register(*module.TOOLS)
    return registry
