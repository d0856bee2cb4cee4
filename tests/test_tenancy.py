"""A shared cluster: an Incident reads and acts only in its own namespace, unless it lives in the
operator's incident namespace. Each test is an attack a hostile tenant tried on the real API server."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from incident_operator.evidence_store import configmap_name, fallback_name, load
from incident_operator.models.spec import Target
from incident_operator.settings import Settings
from incident_operator.tenancy import Refused, Scope, scope_for, tool_scope
from incident_operator.tools import ToolDeps

from local_stack import scenarios, workloads
from local_stack.cluster import wait_for
from local_stack.workloads import incident


@pytest.fixture
def other_ns(make_namespace):
    """A second tenant's namespace (B)."""
    return make_namespace("t")


def condition(st: dict, ctype: str) -> dict:
    return next(c for c in st["conditions"] if c["type"] == ctype)


def test_incident_cannot_act_on_another_tenants_namespace(kube, ns, other_ns, incidents, start_operator):
    """Confused deputy: a user of namespace A points an Incident at B's Deployments."""
    scenarios.scaled_to_zero(kube, other_ns, "web", replicas=3)
    scenarios.apply_deployment(kube, other_ns, workloads.deployment(
        "worker", replicas=1, args=["--cpu=4"],
        annotations={"kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "hunter2-B"}]}]}}}})}))
    start_operator()
    incidents.create(incident("deputy", target={"namespace": other_ns, "kind": "Deployment", "name": "web"}))
    incidents.create(incident("deputy2", target={"namespace": other_ns, "kind": "Deployment", "name": "worker"}))
    for name in ("deputy", "deputy2"):
        st = incidents.wait_phase(name, ("Resolved", "NeedsAction", "Failed"), 60)["status"]
        assert st["phase"] == "Failed" and "다른 네임스페이스" in st["lastError"]
        assert condition(st, "TargetAllowed") == {**condition(st, "TargetAllowed"), "status": "False", "reason": "CrossNamespaceTarget"}
        assert condition(st, "Ready")["status"] == "False" and not st.get("attempts")  # refused once, never retried
        assert "evidence" not in st and "affected" not in st  # refused before any read
        assert load(kube, ns, name) is None
    assert kube.apps.read_namespaced_deployment("web", other_ns).spec.replicas == 0
    assert kube.apps.read_namespaced_deployment("worker", other_ns)  # still there
    assert not [c for c in kube.core.list_namespaced_config_map(ns).items if "hunter2" in json.dumps(c.to_dict(), default=str)]


def test_tenant_incident_cannot_target_a_node(kube, ns, other_ns, incidents, start_operator):
    """A `kind: Node` target would read (and act on) every namespace's pods on that node."""
    scenarios.cpu_burner(kube, other_ns, "burner")
    node = scenarios.pods_of(kube, other_ns, "burner")[0].spec.node_name
    start_operator()
    incidents.create(incident("node", target={"kind": "Node", "name": node}))
    st = incidents.wait_phase("node", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "Failed" and condition(st, "TargetAllowed")["reason"] == "NodeTargetNotAllowed"
    assert kube.apps.read_namespaced_deployment("burner", other_ns)


def test_incident_namespace_may_target_other_namespaces_and_nodes(kube, ns, other_ns, incidents, start_operator):
    """Where the bridge writes (admin-only by RBAC), a node alarm finds the burner on its node."""
    scenarios.cpu_burner(kube, other_ns, "burner")
    node = scenarios.pods_of(kube, other_ns, "burner")[0].spec.node_name
    start_operator({"INCIDENT_INCIDENT_NAMESPACES": f"x-unused,{ns}"})
    incidents.create(incident("node-cpu", target={"kind": "Node", "name": node}, remediation="dry-run"))
    st = incidents.wait_phase("node-cpu", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction", st.get("lastError")  # dry-run: recorded, not done
    # the node is shared with other tests' burners: ours is among the causes, the top one is acted on
    assert st["topCause"].startswith("cpu-burner: ")
    assert f"Deployment/{other_ns}/burner" in [c.get("resource") for c in st["causes"] if c["kind"] == "cpu-burner"]
    assert st["actions"][0]["target"].startswith("Deployment/") and st["actions"][0]["state"] == "dry-run"
    assert st["actions"][0]["message"].startswith("dry-run")


def test_tools_the_model_or_mcp_calls_are_scoped(kube, ns, other_ns):
    scenarios.scaled_to_zero(kube, other_ns, "web", replicas=1)
    settings = Settings()
    deps = ToolDeps(settings=settings, kube=kube).scoped(scope_for(ns, settings))
    registry = deps.registry
    out = registry.call("kubernetes-get-evidence", {"namespace": other_ns, "kind": "Deployment", "name": "web"}, deps)
    assert out.outcome == "failed" and "다른 네임스페이스" in out.error and not out.data
    node = registry.call("kubernetes-get-evidence", {"kind": "Node", "name": "kwok-node-0"}, deps)
    assert node.outcome == "failed" and "노드" in node.error
    own = registry.call("kubernetes-get-evidence", {"namespace": ns}, deps)
    assert own.outcome == "ok"
    # an MCP server configured for some namespaces serves only those
    mcp = ToolDeps(settings=Settings(namespaces=[ns]), kube=kube)
    assert mcp.effective_scope() == tool_scope(mcp.settings)
    assert registry.call("kubernetes-get-evidence", {"namespace": other_ns}, mcp).outcome == "failed"
    # and protected namespaces are never a target, even for the incident namespace
    admin = Scope(namespaces=None, nodes=True, protected=frozenset({"kube-system"}), owner="incident-operator")
    with pytest.raises(Refused):
        admin.check(Target(namespace="kube-system", kind="Deployment", name="coredns"))


def test_a_users_configmap_is_never_overwritten_or_deleted(kube, ns, incidents, start_operator):
    """An Incident named `payments` would have written (and later garbage-collected) `payments-evidence`."""
    users = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=configmap_name("payments")), data={"keep": "me"})
    kube.core.create_namespaced_config_map(ns, users)
    scenarios.scaled_to_zero(kube, ns, "web", replicas=1)
    start_operator()
    incidents.create(incident("payments", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    st = incidents.wait_phase("payments", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "Resolved", st.get("lastError")
    uid = incidents.get("payments")["metadata"]["uid"]
    assert st["evidence"]["configMap"] == fallback_name("payments", uid)
    mine = kube.core.read_namespaced_config_map(configmap_name("payments"), ns)
    assert mine.data == {"keep": "me"} and not mine.metadata.owner_references
    kube.custom.delete_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "payments")

    def evidence_gone():
        try:
            kube.core.read_namespaced_config_map(fallback_name("payments", uid), ns)
            return False
        except client.ApiException as exc:
            return exc.status == 404
    wait_for(evidence_gone, 90, "the operator's own evidence ConfigMap garbage-collected")
    assert kube.core.read_namespaced_config_map(configmap_name("payments"), ns).data == {"keep": "me"}


def test_an_app_with_a_cpu_flag_is_not_a_burner(kube, ns, incidents, start_operator):
    """`--cpu=4` is a setting of many ordinary apps: no deletion on a CPU alarm."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("encoder", image="acme/encoder:2.1", replicas=1,
                                                               args=["--cpu=4", "--workers=8"]))
    scenarios.wait_ready(kube, ns, "encoder", 1)
    alarm = {"name": "netaiops-cpu-spike", "threshold": 80, "metric": {"name": "pod_cpu_utilization"},
             "dimensions": {"ClusterName": "demo", "Namespace": ns, "PodName": "encoder"}}
    start_operator()
    incidents.create(incident("busy", alarm=alarm))
    st = incidents.wait_phase("busy", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction" and not any(c["kind"] == "cpu-burner" for c in st["causes"])
    assert not st.get("actions")
    assert kube.apps.read_namespaced_deployment("encoder", ns)


def test_a_pasted_marker_cannot_hijack_another_incidents_issue():
    from local_stack.github_server import TOKEN, GitHubServer
    from incident_operator.tools.github import CreateIssueInput, create_issue, fingerprint_marker

    server = GitHubServer()
    try:
        deps = ToolDeps(settings=Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url=server.url,
                                          github_write_interval_seconds=0))
        victim = "shop/checkout/1111"
        attacker = create_issue(CreateIssueInput(
            title="[인시던트] 수동", body=f"요약: 확인 부탁 {fingerprint_marker(victim)}", fingerprint="a/b/2222"), deps)
        posted = server.issue_list()[0]["body"]
        assert fingerprint_marker(victim) not in posted  # neutralised on the way out
        own = create_issue(CreateIssueInput(title="[인시던트] checkout", body="본문", fingerprint=victim), deps)
        assert own.created and own.number != attacker.number
    finally:
        server.stop()


def test_logs_metrics_and_datadog_tools_are_scoped_too(kube, ns, other_ns, opensearch):
    """The model asks for another tenant's logs in the query itself: the namespace filter is ANDed."""
    from datetime import datetime, timezone

    index = f"logs-{ns}"
    now = datetime.now(timezone.utc).isoformat()
    opensearch.bulk(index, [{"@timestamp": now, "level": "ERROR", "message": f"mine {i}", "service": "api",
                             "kubernetes": {"pod_name": "api-1", "namespace_name": ns}} for i in range(3)]
                    + [{"@timestamp": now, "level": "ERROR", "message": "theirs: card=4111", "service": "pay",
                        "kubernetes": {"pod_name": "pay-1", "namespace_name": other_ns}}])
    settings = Settings(opensearch_url=opensearch.url, opensearch_index=index)
    tenant = ToolDeps(settings=settings, kube=kube).scoped(scope_for(ns, settings))
    reg = tenant.registry
    found = reg.call("opensearch-search-logs", {"query": f"kubernetes.namespace_name:{other_ns} OR level:ERROR"}, tenant)
    assert found.outcome == "ok" and found.data["total"] == 3
    assert "theirs" not in json.dumps(found.data)
    summary = reg.call("opensearch-get-error-summary", {}, tenant)
    assert summary.outcome == "ok" and summary.data["total_errors"] == 3
    admin = ToolDeps(settings=settings, kube=kube).scoped(scope_for("incident-operator", settings))
    assert reg.call("opensearch-search-logs", {"query": "level:ERROR"}, admin).data["total"] == 4
    # Container Insights: another namespace's pods, or node/cluster-wide series, are out of a tenant's scope
    pods = reg.call("container-insight-pod-metrics", {"namespace": other_ns, "pod_name": "pay"}, tenant)
    assert pods.outcome == "failed" and "다른 네임스페이스" in pods.error
    assert reg.call("container-insight-node-metrics", {"node_name": "n1"}, tenant).outcome == "failed"
    assert reg.call("container-insight-cluster-overview", {}, tenant).outcome == "failed"
    # Datadog: a tenant's query must pin its own kube_namespace tag
    dd = reg.call("datadog-query-metrics", {"query": "avg:kubernetes.cpu.usage.total{*}"}, tenant)
    assert dd.outcome == "failed" and f"kube_namespace:{ns}" in dd.error
    assert reg.call("datadog-get-monitors", {"tags": f"kube_namespace:{other_ns}"}, tenant).outcome == "failed"


SAME_ALARM = {"name": "shop-api-5xx", "state": "ALARM", "threshold": 5, "timestamp": "2026-12-06T10:00:00Z",
              "reason": "Threshold Crossed: 1 datapoint was greater than the threshold (5.0)."}


def _finished(kube, namespace: str, name: str, secret_cause: str) -> None:
    """A past Incident of `namespace` under the shared alarm name, with what a tenant must not learn of."""
    body = incident(name, alarm=SAME_ALARM, target={"namespace": namespace})
    body["metadata"]["labels"] = {"netaiops.io/alarm": SAME_ALARM["name"], "netaiops.io/cause": "oom"}
    kube.custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", namespace, "incidents", body)
    kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", namespace, "incidents", name, {"status": {
        "phase": "Resolved", "topCause": secret_cause, "outcome": "remediated",
        "actions": [{"action": "restore-replicas", "state": "succeeded"}],
        "affected": [{"kind": "Deployment", "namespace": namespace, "name": "payments-ledger"}]}})


def test_similar_incidents_never_name_another_tenants_namespace(kube, ns, other_ns, make_namespace, settings):
    """Issue 23, finding 6: tenant B names her alarm like tenant A's. A's Incidents (cause, resources, actions)
    appear nowhere in B's status, report or model prompt; B's own past Incident does. An Incident in the
    incident namespace still learns from every namespace."""
    from incident_operator.agent.prompt import evidence_prompt
    from incident_operator.analyzers import analyze
    from incident_operator.phases import collect, correlate, diagnose, gather
    from incident_operator.report.render import full_report

    _finished(kube, ns, "a-past", "oom: A's payments-ledger")
    _finished(kube, other_ns, "b-past", "oom: B's own api")
    ctx = scenarios.context(kube, settings, other_ns, incident("b-now", alarm=SAME_ALARM, target={"namespace": other_ns}))
    for phase in (gather, collect, correlate, diagnose):
        ctx.patch_status(phase.run(ctx))
    status = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", other_ns, "incidents", "b-now")["status"]
    assert [s["name"] for s in status["similarIncidents"]] == [f"{other_ns}/b-past"]
    report = full_report("b-now", ctx.incident["spec"], status)
    prompt = evidence_prompt(ctx.evidence(), analyze(ctx.evidence()), status["similarIncidents"])
    for text in (json.dumps(status), report, prompt):
        assert ns not in text and "A's payments-ledger" not in text
    assert "B's own api" in report and "B's own api" in prompt

    ops = make_namespace("ops")
    admin = scenarios.context(kube, settings.model_copy(update={"incident_namespaces": [ops]}), ops,
                              incident("ops-now", alarm=SAME_ALARM, target={"namespace": other_ns}))
    admin.patch_status(gather.run(admin))
    assert {f"{ns}/a-past", f"{other_ns}/b-past"} <= {s.name for s in correlate.similar_incidents(admin)}


def test_a_nodes_kube_system_pods_and_logs_are_not_read_by_default(kube, ns, make_namespace):
    """Issue 23, item 9: an Incident of the incident namespace about a Node read the pods (and logs, and Events) of
    every namespace on it, kube-system's too. By default protected namespaces are never read; reading them is an
    explicit setting (INCIDENT_READ_PROTECTED_NAMESPACES=true)."""
    from incident_operator.kube.evidence import ClusterCollector
    from incident_operator.tenancy import scope_for

    ops = make_namespace("ops")
    node = kube.core.list_node().items[0].metadata.name
    name = f"agent-{ns}"
    for where in ("kube-system", ns):
        kube.core.create_namespaced_pod(where, client.V1Pod(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(node_name=node, containers=[
                client.V1Container(name="c", image="busybox")])))
    try:
        kube.core.create_namespaced_event("kube-system", client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{name}.warn"), type="Warning", reason="BackOff", message="kube-system detail",
            involved_object=client.V1ObjectReference(kind="Pod", namespace="kube-system", name=name)))
        seen = {}
        for read in (False, True):
            cfg = Settings(incident_namespaces=[ops], read_protected_namespaces=read)
            bundle = ClusterCollector(kube, scope=scope_for(ops, cfg)).collect(Target(kind="Node", name=node))
            seen[read] = ({p.namespace for p in bundle.pods if p.name == name},
                          {e.namespace for e in bundle.events if e.object_name == name})
        assert seen[False] == ({ns}, set())
        assert seen[True][0] == {ns, "kube-system"} and "kube-system" in seen[True][1]
        with pytest.raises(Refused, match="보호된"):  # the tools (logs, metrics) say so as well
            scope_for(ops, Settings(incident_namespaces=[ops])).require_namespace("kube-system", "로그")
    finally:
        kube.core.delete_namespaced_pod(name, "kube-system", grace_period_seconds=0)
        kube.core.delete_namespaced_event(f"{name}.warn", "kube-system")


def test_alertmanager_labels_are_tenant_input(kube, ns, other_ns, make_namespace, incidents, start_operator):
    """Alert labels come from rules tenants write. An alert naming namespace A acts like A's own Incident (no Node);
    one naming no namespace reads the node but deletes nothing in another namespace (unless the admin trusts it)."""
    from bridge_lambda.alertmanager import parse_alert, parse_payload
    from incident_operator.webhook import make_writer

    tenant = make_namespace("a")
    scenarios.cpu_burner(kube, other_ns, "burner")
    node = scenarios.pods_of(kube, other_ns, "burner")[0].spec.node_name
    writer = make_writer(Settings(webhook_namespace=ns), kube.core.api_client)

    def deliver(alertname: str, **labels: str) -> str:
        body = {"version": "4", "status": "firing", "receiver": "incident-operator", "groupKey": alertname,
                "alerts": [{"status": "firing", "labels": {"alertname": alertname, "severity": "critical", **labels},
                            "annotations": {"summary": "node CPU high"}, "startsAt": "2026-11-25T01:00:00Z"}]}
        payload = parse_payload(json.dumps(body).encode())
        alert = parse_alert(payload, payload.alerts[0])
        return writer.on_notification(alert, alert.raw(), alert.message_id()).incident

    start_operator({"INCIDENT_INCIDENT_NAMESPACES": ns, "INCIDENT_GROUP_WINDOW_SECONDS": "0"})
    named = deliver("TenantNodeCpu", namespace=tenant, node=node)
    bare = deliver("NodeCpuHigh", node=node)
    st = incidents.wait_phase(named, ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "Failed" and condition(st, "TargetAllowed")["reason"] == "NodeTargetNotAllowed", st.get("lastError")
    st = incidents.wait_phase(bare, ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction", st.get("lastError")
    assert f"Deployment/{other_ns}/burner" in [c.get("resource") for c in st["causes"] if c["kind"] == "cpu-burner"]
    assert st["actions"] and all(a["state"] == "skipped" and "Alertmanager" in a["message"] for a in st["actions"]), st["actions"]
    assert kube.apps.read_namespaced_deployment("burner", other_ns)
    assert scenarios.pods_of(kube, other_ns, "burner")
