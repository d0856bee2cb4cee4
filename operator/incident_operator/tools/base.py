"""Tools declared as data: a name, a description, pydantic input and output models, a function.

`ToolRegistry.call` gives every tool the same guarantees: input validated, a timeout, output bounded
(large lists cut, with a note), secrets redacted, and failures returned as a typed outcome
(`ok` / `failed` / `not-configured` / `timed-out`) instead of raised.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Literal

from pydantic import BaseModel, ValidationError

from ..redact import redact, redact_data
from ..settings import Settings

ToolOutcome = Literal["ok", "failed", "not-configured", "timed-out"]


class NotConfigured(Exception):
    """The tool's service has no endpoint or credentials here."""


class ToolResult(BaseModel):
    tool: str
    outcome: ToolOutcome
    data: dict[str, Any] | None = None
    error: str | None = None
    truncated: bool = False
    note: str | None = None
    duration_ms: int = 0


@dataclass
class ToolDeps:
    """Configuration and lazily built clients; one per operator (or MCP server), passed to every call."""

    settings: Settings
    kube: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    scope: Any = None  # tenancy.Scope: where tools may read; None = tenancy.tool_scope(settings)
    caller: str | None = None  # who calls, when not the operator itself (an MCP caller's name)

    def scoped(self, scope: Any, caller: str | None = None) -> "ToolDeps":
        """The same clients, pool and registry, bounded to `scope` (one Incident's namespace, or an MCP
        caller's namespaces: then `caller` names it, and what the tools post says so)."""
        other = ToolDeps(settings=self.settings, kube=self.kube, _clients=self._clients, scope=scope, caller=caller)
        for shared in ("registry", "pool"):
            if shared in self.__dict__:
                other.__dict__[shared] = self.__dict__[shared]
        return other

    def effective_scope(self) -> Any:
        from ..tenancy import tool_scope
        return self.scope if self.scope is not None else tool_scope(self.settings)

    def cluster_collector(self, log_tail_lines: int | None = None, scope: Any = None) -> Any:
        """A ClusterCollector bounded by the settings and the scope, sharing the operator's short-lived cache of
        slow-changing configuration (kube/cache.py) with every other Incident."""
        from ..kube.cache import TtlCache
        from ..kube.evidence import ClusterCollector
        s = self.settings
        return ClusterCollector(self.kube, max_pods=s.max_pods, max_events=s.max_events,
                                log_tail_lines=s.log_tail_lines if log_tail_lines is None else log_tail_lines,
                                scope=scope if scope is not None else self.effective_scope(),
                                cache=self.client("evidence-cache", lambda: TtlCache(s.evidence_cache_seconds)))

    def client(self, key: str, factory: Callable[[], Any]) -> Any:
        if key not in self._clients:
            self._clients[key] = factory()
        return self._clients[key]

    @cached_property
    def registry(self) -> "ToolRegistry":
        from .catalogue import default_registry
        return default_registry()

    @cached_property
    def pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=8, thread_name_prefix="tool")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    func: Callable[[Any, ToolDeps], BaseModel]
    category: str
    timeout: float | None = None  # None: settings.tool_timeout_seconds
    # what calling it does (MCP tool annotations): a tool that writes anywhere is not read_only, and is
    # off over the network unless enabled; destructive = may delete or overwrite, not only add
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    def schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()


def _longest_list(node: Any, path: tuple = ()) -> tuple[tuple, int]:
    best: tuple[tuple, int] = ((), 0)
    if isinstance(node, list):
        best = (path, len(node))
        items = enumerate(node)
    elif isinstance(node, dict):
        items = node.items()
    else:
        return best
    for k, v in items:
        sub = _longest_list(v, path + (k,))
        if sub[1] > best[1]:
            best = sub
    return best


def bound(data: dict[str, Any], max_chars: int) -> tuple[dict[str, Any], bool]:
    """Cut the longest lists in half until the JSON fits; say that it was cut."""
    cut = False
    for _ in range(64):
        if len(json.dumps(data, ensure_ascii=False, default=str)) <= max_chars:
            return data, cut
        path, n = _longest_list(data)
        if n <= 1:
            break
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        parent[path[-1]] = parent[path[-1]][: n // 2]
        cut = True
    text = json.dumps(data, ensure_ascii=False, default=str)
    return {"summary": text[: max_chars - 100]}, True


def run_bounded(deps: "ToolDeps", timeout: float, func: Callable[..., Any], *args: Any) -> tuple[str, Any, str]:
    """`func(*args)` on the tools' pool within `timeout`: (outcome, value, error), outcome ok, timed-out,
    not-configured or failed (the error redacted and bounded). Never raises: a failing call is an outcome."""
    future = deps.pool.submit(func, *args)
    try:
        return "ok", future.result(timeout=timeout), ""
    except FutureTimeout:
        future.cancel()
        return "timed-out", None, f"no answer within {timeout:g}s"
    except NotConfigured as exc:
        return "not-configured", None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing call is an outcome
        return "failed", None, redact(f"{type(exc).__name__}: {exc}")[:1000]


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, *tools: Tool) -> None:
        for t in tools:
            if t.name in self._tools:
                raise ValueError(f"tool {t.name} registered twice")
            self._tools[t.name] = t

    def get(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self):
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def call(self, name: str, args: dict[str, Any] | BaseModel, deps: ToolDeps) -> ToolResult:
        from .. import metrics
        result = self._call(name, args, deps)
        metrics.TOOL_CALLS.labels(name, result.outcome).inc()
        return result

    def _call(self, name: str, args: dict[str, Any] | BaseModel, deps: ToolDeps) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(tool=name, outcome="failed", error=f"unknown tool {name}")
        started = time.monotonic()
        elapsed = lambda: int(1000 * (time.monotonic() - started))  # noqa: E731
        try:
            params = args if isinstance(args, tool.input_model) else tool.input_model.model_validate(
                args.model_dump() if isinstance(args, BaseModel) else args)
        except ValidationError as exc:
            return ToolResult(tool=name, outcome="failed", error=redact(f"invalid input: {exc}")[:1000])
        outcome, out, error = run_bounded(deps, tool.timeout or deps.settings.tool_timeout_seconds, tool.func, params, deps)
        if outcome != "ok":
            return ToolResult(tool=name, outcome=outcome, error=error, duration_ms=elapsed())
        data = redact_data(out.model_dump(mode="json", by_alias=True, exclude_none=True))
        data, cut = bound(data, deps.settings.tool_output_max_chars)
        return ToolResult(tool=name, outcome="ok", data=data, truncated=cut, duration_ms=elapsed(),
                          note="결과가 커서 일부만 포함했습니다" if cut else None)
