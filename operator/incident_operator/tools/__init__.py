"""The tool layer: typed tools, registered once, used by the phases, the agent and the MCP server."""

from .base import NotConfigured, Tool, ToolDeps, ToolRegistry, ToolResult
from .catalogue import default_registry

__all__ = ["NotConfigured", "Tool", "ToolDeps", "ToolRegistry", "ToolResult", "default_registry"]
