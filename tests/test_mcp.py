"""`incident-operator mcp` lists and runs the registry's tools for a real MCP client (stdio and HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from incident_operator.tools import default_registry

from local_stack.aws import free_port
from .support.datadog_server import API_KEY, APP_KEY, DatadogServer, sample
from .support.pki import make_pki

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


TOKEN = "mcp-test-token-0123456789abcdef"
WRITE_TOOLS = {"github-create-issue", "github-add-comment", "github-close-issue", "chaos-cleanup"}


class McpHttp:
    """`incident-operator mcp --transport streamable-http` in a subprocess, on 127.0.0.1, with callers from a
    file, and the real MCP client (streamable HTTP) calling it with a bearer token."""

    def __init__(self, tmp_path, callers: list[dict] | None = None, args: list[str] = (), env: dict | None = None):
        import yaml
        self.port = free_port()
        self.url = f"{'https' if '--tls-cert' in args else 'http'}://127.0.0.1:{self.port}/mcp"
        argv = [sys.executable, "-m", "incident_operator.cli", "mcp", "--transport", "streamable-http",
                "--port", str(self.port), *args]
        if callers is not None:
            path = tmp_path / f"callers-{self.port}.yaml"
            path.write_text(yaml.safe_dump({"callers": callers}))
            argv += ["--callers", str(path)]
        self.log = tmp_path / f"mcp-{self.port}.log"
        self.proc = subprocess.Popen(argv, env=_env(env or {}), stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        import socket
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.2)

    def run(self, token: str, session_fn, tls=None):
        """`session_fn(session)` in an initialized MCP session authenticated with `token` (`tls`: an SSLContext)."""
        import httpx2
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async def go():
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60,
                                          **({"verify": tls} if tls else {})) as http:
                async with streamable_http_client(self.url, http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as session:
                        await session.initialize()
                        return await session_fn(session)
        return asyncio.run(asyncio.wait_for(go(), 90))

    def tools(self, token: str = TOKEN, tls=None) -> list:
        async def f(session):
            return (await session.list_tools()).tools
        return self.run(token, f, tls)

    def call(self, tool: str, args: dict, token: str = TOKEN) -> dict:
        async def f(session):
            return json.loads((await session.call_tool(tool, args)).content[0].text)
        return self.run(token, f)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def mcp_http(tmp_path):
    started: list[McpHttp] = []

    def start(*a, **kw) -> McpHttp:
        started.append(McpHttp(tmp_path, *a, **kw))
        return started[-1]
    yield start
    for s in started:
        s.stop()


def test_mcp_over_streamable_http(mcp_http):
    """With a token, the same tools as over stdio but the ones that write, each annotated."""
    dd = DatadogServer()
    sample(dd)
    server = mcp_http([{"name": "oncall", "token": TOKEN, "namespaces": ["*"]}],
                      env={"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "INCIDENT_DD_API_URL": dd.url})
    try:
        async def check(session):
            tools = (await session.list_tools()).tools
            assert {t.name for t in tools} == EXPECTED - WRITE_TOOLS
            for t in tools:  # every tool says it only reads
                assert t.annotations.read_only_hint is True and t.annotations.destructive_hint is False, t
            pod = next(t for t in tools if t.name == "container-insight-pod-metrics")
            assert set(pod.input_schema["required"]) == {"namespace", "pod_name"}
            result = await session.call_tool("datadog-get-monitors", {"tags": "kube_namespace:shop"})
            payload = json.loads(result.content[0].text)
            assert payload["outcome"] == "ok" and payload["data"]["alerting"] == 1
        server.run(TOKEN, check)
    finally:
        dd.stop()


def test_mcp_http_refuses_calls_without_the_right_token_or_host(mcp_http):
    """No token or a wrong one: 401 before any MCP message is read; a Host header not allowed (DNS
    rebinding): 421, even with the token."""
    import httpx
    server = mcp_http([{"name": "oncall", "token": TOKEN, "namespaces": ["*"]}])
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream"}
    assert httpx.post(server.url, json=init, headers=headers).status_code == 401
    wrong = httpx.post(server.url, json=init, headers={**headers, "authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
    assert httpx.post(server.url, json=init, headers={**headers, "authorization": "Basic b25jYWxsOng="}).status_code == 401
    rebound = httpx.post(server.url, json=init, headers={**headers, "authorization": f"Bearer {TOKEN}",
                                                          "host": "attacker.example"})
    assert rebound.status_code == 421
    ok = httpx.post(server.url, json=init, headers={**headers, "authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    with pytest.raises(BaseException):  # the real client with a wrong token gets nowhere
        server.tools("not-the-token-0123456789abcdef")
    assert len(server.tools()) == len(EXPECTED - WRITE_TOOLS)


@pytest.mark.parametrize("host,env,error", [
    ("0.0.0.0", {}, "needs authentication"),
    ("127.0.0.1", {}, "needs authentication"),
    ("0.0.0.0", {"INCIDENT_MCP_TOKEN": TOKEN, "INCIDENT_MCP_NAMESPACES": "shop"}, "Host headers"),
    ("127.0.0.1", {"INCIDENT_MCP_TOKEN": "short", "INCIDENT_MCP_NAMESPACES": "shop"}, "shorter than 16"),
    ("127.0.0.1", {"INCIDENT_MCP_TOKEN": TOKEN}, "INCIDENT_MCP_NAMESPACES"),
    ("127.0.0.1", {"INCIDENT_MCP_TOKEN": TOKEN, "INCIDENT_MCP_NAMESPACES": "kube-system"}, "protected namespace"),
])
def test_mcp_http_refuses_to_start_without_authentication(host, env, error):
    """Exits 2 with the reason before it listens: no tokens (on any address), a non-loopback address without
    the Host headers to accept, a short token, a token without namespaces or with a protected one."""
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "incident_operator.cli", "mcp", "--transport", "streamable-http",
                           "--host", host, "--port", str(port)], env=_env(env), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "invalid configuration" in proc.stderr and error in proc.stderr, proc.stderr


def test_mcp_over_mutual_tls_needs_the_client_certificate_and_the_token(mcp_http, tmp_path):
    import ssl

    import httpx
    pki = make_pki(tmp_path / "pki")
    f = lambda name: str(pki(name))  # noqa: E731 - argv and ssl want text
    server = mcp_http([{"name": "oncall", "token": TOKEN, "namespaces": ["*"]}],
                      args=["--tls-cert", f("server.crt"), "--tls-key", f("server.key"), "--client-ca", f("ca.crt")])
    anonymous = ssl.create_default_context(cafile=f("ca.crt"))
    with pytest.raises(httpx.TransportError):  # no client certificate: no TLS session
        httpx.post(server.url, json={}, headers={"authorization": f"Bearer {TOKEN}"}, verify=anonymous)
    client = ssl.create_default_context(cafile=f("ca.crt"))
    client.load_cert_chain(f("client.crt"), f("client.key"))
    assert httpx.post(server.url, json={}, verify=client).status_code == 401  # a certificate is not a token
    assert {t.name for t in server.tools(tls=client)} == EXPECTED - WRITE_TOOLS


def test_write_tools_are_off_over_http_unless_enabled_and_then_only_for_writers(mcp_http):
    server = mcp_http([{"name": "reader", "token": TOKEN, "namespaces": ["*"]},
                       {"name": "writer", "token": TOKEN + "-w", "namespaces": ["*"], "write": True}],
                      args=["--allow-write"])
    tools = {t.name: t for t in server.tools()}
    assert set(tools) == EXPECTED
    cleanup, close, comment = tools["chaos-cleanup"], tools["github-close-issue"], tools["github-add-comment"]
    assert cleanup.annotations.read_only_hint is False and cleanup.annotations.destructive_hint is True
    assert close.annotations.destructive_hint is True and close.annotations.idempotent_hint is True
    assert comment.annotations.destructive_hint is False and comment.annotations.idempotent_hint is False
    refused = server.call("github-close-issue", {"issue_number": 1})
    assert refused["outcome"] == "failed" and "쓰기 도구" in refused["error"]
    assert server.call("github-close-issue", {"issue_number": 1}, token=TOKEN + "-w")["outcome"] == "not-configured"


def test_a_caller_cannot_forge_the_operators_report_markers(mcp_http, github):
    """A "복구 완료" comment posted through MCP under the key of the operator's resolution comment is not
    taken for the operator's (it posts its own), says who posted it and has its heading escaped; a key
    that closes the marker early is refused; an issue opened under a report's fingerprint is not the
    report; a tenant of another namespace neither sees nor closes the report."""
    from incident_operator.settings import Settings
    from incident_operator.tools import ToolDeps
    from incident_operator.tools.github import (AddCommentInput, CreateIssueInput, add_comment, comment_marker,
                                                create_issue, find_issue, repository)

    from local_stack.github_server import TOKEN as GH_TOKEN

    op = ToolDeps(Settings(github_token=GH_TOKEN, github_repo="acme/shop", github_api_url=github.url,
                           github_write_interval_seconds=0))
    report = create_issue(CreateIssueInput(title="[인시던트] cpu 알람 발생", body="## 요약", fingerprint="shop/cpu/uid-1",
                                           labels=["incident"]), op)
    server = mcp_http([{"name": "admin", "token": TOKEN, "namespaces": ["*"], "write": True},
                       {"name": "payments", "token": TOKEN + "-p", "namespaces": ["payments"], "write": True}],
                      args=["--allow-write"], env={"GITHUB_TOKEN": GH_TOKEN, "GITHUB_REPO": "acme/shop",
                                                   "INCIDENT_GITHUB_API_URL": github.url,
                                                   "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0"})
    forged = server.call("github-add-comment", {"issue_number": report.number, "key": "resolution",
                                                "body": "# 복구 완료\n\n자동 복구 완료: 정상화 확인"})
    assert forged["outcome"] == "ok", forged
    body = github.comments[report.number][-1]["body"]
    assert body.startswith("> MCP 호출자 `admin`가 게시") and "\n\\# 복구 완료" in body
    assert not body.rstrip().endswith(comment_marker("resolution"))
    sneaky = server.call("github-add-comment", {"issue_number": report.number, "body": "ok",
                                                "key": "x --> <!-- incident-operator:comment=resolution"})
    assert sneaky["outcome"] == "failed" and "invalid input" in sneaky["error"]
    mine = add_comment(AddCommentInput(issue_number=report.number, body="# 복구 완료", key="resolution"), op)
    assert mine.created  # the operator did not take the forged comment for its own
    assert len(github.comments[report.number]) == 2

    other = server.call("github-create-issue", {"title": "[인시던트] cpu 알람 발생", "body": "가짜 보고",
                                                "fingerprint": "shop/cpu/uid-1", "labels": ["incident"]})
    assert other["outcome"] == "ok" and other["data"]["number"] != report.number
    assert find_issue(repository(op), "shop/cpu/uid-1").number == report.number

    assert server.call("github-list-issues", {}, token=TOKEN + "-p")["data"]["issues"] == []
    assert {i["number"] for i in server.call("github-list-issues", {})["data"]["issues"]} == {report.number, other["data"]["number"]}
    closed = server.call("github-close-issue", {"issue_number": report.number, "comment": "# 복구 완료"}, token=TOKEN + "-p")
    assert closed["outcome"] == "failed" and github.issues[report.number]["state"] == "open"
    assert len(github.comments[report.number]) == 2
    opened = server.call("github-create-issue", {"title": "t", "body": "b", "fingerprint": "payments/x/1"}, token=TOKEN + "-p")
    assert opened["outcome"] == "failed" and len(github.issues) == 2


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


def test_a_callers_token_reads_and_writes_only_its_namespaces(kube, ns, make_namespace, mcp_http):
    """A token is a tenant of its namespaces, like an Incident: another namespace's workload is refused; a
    Node target is refused, or — for a token allowed Nodes — answers without the other namespaces' pods on
    that node; chaos-cleanup cannot touch, nor record in, an Incident of another namespace."""
    from .conftest import Incidents
    from local_stack import scenarios
    from local_stack.workloads import incident

    other = make_namespace("other")
    scenarios.cpu_burner(kube, ns, "burner")
    scenarios.cpu_burner(kube, other, "burner")
    node = scenarios.pods_of(kube, other, "burner")[0].spec.node_name
    theirs = Incidents(kube, other)
    theirs.create(incident("theirs", target={"namespace": other, "kind": "Deployment", "name": "burner"}))
    server = mcp_http([{"name": "mine", "token": TOKEN, "namespaces": [ns], "write": True},
                       {"name": "mine-nodes", "token": TOKEN + "-n", "namespaces": [ns], "nodes": True},
                       {"name": "admin", "token": TOKEN + "-a", "namespaces": ["*"], "nodes": True}],
                      args=["--allow-write"])

    def get(token: str, **target) -> dict:
        return server.call("kubernetes-get-evidence", target, token=token)

    own = get(TOKEN, namespace=ns, kind="Deployment", name="burner")
    assert own["outcome"] == "ok" and {p["namespace"] for p in own["data"]["pods"]} == {ns}
    refused = get(TOKEN, namespace=other, kind="Deployment", name="burner")
    assert refused["outcome"] == "failed" and other in refused["error"] and "data" not in refused
    node_refused = get(TOKEN, kind="Node", name=node)
    assert node_refused["outcome"] == "failed" and "노드" in node_refused["error"]
    on_node = get(TOKEN + "-n", kind="Node", name=node)
    assert on_node["outcome"] == "ok" and on_node["data"]["nodes"][0]["name"] == node
    assert {p["namespace"] for p in on_node["data"].get("pods", [])} <= {ns}
    assert other in {p["namespace"] for p in get(TOKEN + "-a", kind="Node", name=node)["data"]["pods"]}  # it is there

    cross = server.call("chaos-cleanup", {"namespace": other, "name": "burner", "execute": True})
    assert cross["outcome"] == "failed" and other in cross["error"]
    record = server.call("chaos-cleanup", {"namespace": ns, "name": "burner", "incident": f"{other}/theirs"})
    assert record["outcome"] == "failed" and other in record["error"]
    assert not (theirs.get("theirs").get("status") or {}).get("actions")
    assert kube.apps.read_namespaced_deployment("burner", other)
    reader = server.call("chaos-cleanup", {"namespace": ns, "name": "burner"}, token=TOKEN + "-n")
    assert reader["outcome"] == "failed" and "쓰기 도구" in reader["error"]
