"""`incident-operator mcp` lists and runs the registry's tools for a real MCP client (stdio and HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

from incident_operator.tools import default_registry

from local_stack.aws import free_port
from .support.datadog_server import API_KEY, APP_KEY, DatadogServer, sample

EXPECTED = {t.name for t in default_registry()}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_", "GITHUB_", "DD_"))}
    return {**env, **extra}


async def _session_check(session, dd_url: str) -> None:
    await session.initialize()
    tools = (await session.list_tools()).tools
    assert {t.name for t in tools} == EXPECTED
    pod = next(t for t in tools if t.name == "container-insight-pod-metrics")
    assert set(pod.input_schema["required"]) == {"namespace", "pod_name"}
    assert "window_minutes" in pod.input_schema["properties"]
    result = await session.call_tool("datadog-get-monitors", {"tags": "kube_namespace:shop"})
    payload = json.loads(result.content[0].text)
    assert payload["outcome"] == "ok" and payload["data"]["alerting"] == 1
    gh = json.loads((await session.call_tool("github-list-issues", {})).content[0].text)
    assert gh["outcome"] == "not-configured"


def test_mcp_over_stdio_lists_and_calls_tools():
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    dd = DatadogServer()
    sample(dd)
    params = StdioServerParameters(command=sys.executable, args=["-m", "incident_operator.cli", "mcp"],
                                   env=_env({"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "INCIDENT_DD_API_URL": dd.url}))

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await _session_check(session, dd.url)
    try:
        asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        dd.stop()


def test_mcp_over_streamable_http():
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    dd = DatadogServer()
    sample(dd)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "mcp", "--transport", "streamable-http",
                             "--port", str(port)], env=_env({"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY,
                                                             "INCIDENT_DD_API_URL": dd.url}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def run():
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await _session_check(session, dd.url)
    try:
        import socket
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        proc.kill()
        proc.wait(10)
        dd.stop()


def test_chaos_cleanup_over_mcp_is_a_dry_run_recorded_in_the_incident(kube, ns, incidents):
    """The same guarded path as the respond phase: found by the burner analyzer, decided by the policy,
    a dry-run unless the operator allows execution, audited in the Incident's status."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from local_stack import scenarios
    from local_stack.workloads import incident

    scenarios.cpu_burner(kube, ns, "burner")
    scenarios.apply_deployment(kube, ns, __import__("local_stack.workloads", fromlist=["x"]).deployment("web", replicas=1))
    incidents.create(incident("cleanup", target={"namespace": ns, "kind": "Deployment", "name": "burner"}))
    params = StdioServerParameters(command=sys.executable, args=["-m", "incident_operator.cli", "mcp"], env=_env({}))

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                asked = await session.call_tool("chaos-cleanup", {"namespace": ns, "name": "burner", "execute": True,
                                                                  "incident": f"{ns}/cleanup"})
                ordinary = await session.call_tool("chaos-cleanup", {"namespace": ns, "name": "web"})
                return json.loads(asked.content[0].text), json.loads(ordinary.content[0].text)
    asked, ordinary = asyncio.run(asyncio.wait_for(run(), 60))
    assert asked["outcome"] == "ok", asked
    out = asked["data"]
    assert out["burner"] and out["state"] == "dry-run" and "INCIDENT_CHAOS_CLEANUP_EXECUTE" in out["message"]
    assert out["before"]["deployment"]["exists"] is True and out["recorded_in"] == f"{ns}/cleanup"
    assert kube.apps.read_namespaced_deployment("burner", ns)  # nothing was deleted
    [action] = incidents.get("cleanup")["status"]["actions"]
    assert action["via"] == "chaos-cleanup" and action["state"] == "dry-run" and action["action"] == "delete-cpu-burner"
    assert ordinary["data"]["burner"] is False and ordinary["data"]["state"] == "skipped"
