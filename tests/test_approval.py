"""Remediation people can trust (issue 25), on the real node: approval by a named person (the API server's word),
denial, expiry, a stale plan refused and proposed again, a failed fix undone and the undo verified, and whether the
fix held (held and regressed) — all from one operator process that is restarted while every plan awaits approval.

One module fixture runs every flow at once in one namespace (short windows: verify 8 s, approval 25 s,
effectiveness 10 s), each test asserts its own Incident.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from kubernetes import client, config

from incident_operator.constants import GROUP, VERSION
from incident_operator.kube.approvals import APPROVALS, approval_name
from incident_operator.scenarios.sim import chaos_scale_to_zero
from local_stack import faults as F
from local_stack.cluster import ROOT, apply_cluster_docs, install_crds, wait_for
from local_stack.workloads import incident

from .conftest import OperatorProcess

pytestmark = pytest.mark.cluster
TERMINAL = ("Resolved", "NeedsAction", "Failed")
APPROVE = ("ok", "deny", "expire", "stale", "regress")
ENV = {"INCIDENT_REMEDIATION_VERIFY_SECONDS": "8", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1",
       "INCIDENT_REMEDIATION_APPROVAL_TIMEOUT_SECONDS": "25", "INCIDENT_REMEDIATION_APPROVAL_POLL_SECONDS": "5",
       "INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS": "10", "INCIDENT_GROUP_WINDOW_SECONDS": "0"}


def as_user(kubeconfig: str, user: str) -> client.ApiClient:
    api = config.new_client_from_config(config_file=kubeconfig)
    api.set_default_header("Impersonate-User", user)
    return api


def approval_body(inc: str, plan: str, by: str, decision: str = "approve") -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "IncidentApproval", "metadata": {"name": approval_name(inc, plan)},
            "spec": {"incident": inc, "plan": plan, "decision": decision, "approvedBy": by}}


def cli(kubeconfig: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "incident_operator.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": kubeconfig}, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def policy_in_force(kube, kubeconfig):
    """The approvals admission policy and the approver ClusterRole, as the manifests ship them; active once a forged
    approver is refused."""
    apply_cluster_docs(kube.core.api_client, ROOT / "manifests" / "admission.yaml", {"incident-operator-approvals"})
    apply_cluster_docs(kube.core.api_client, ROOT / "manifests" / "rbac-approver.yaml", {"incident-operator-approver"})
    ns = f"appr-probe-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        def refused() -> bool:
            try:
                kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, APPROVALS,
                                                            approval_body("x", "abcdef0123456789", "somebody-else"))
            except client.ApiException as exc:
                return exc.status == 403
            kube.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, APPROVALS, approval_name("x", "abcdef0123456789"))
            return False
        wait_for(refused, 60, "the approvals admission policy in force", interval=1)
    finally:
        kube.core.delete_namespace(ns)
    time.sleep(1.1)  # approvals are trusted only when created after the policy (timestamps have whole seconds)


def workload(name: str, ready: bool = True) -> dict:
    c = F.container(command=["sleep", "3600"])
    if not ready:  # runs, never ready: a restore that never becomes healthy
        c["readinessProbe"] = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    return F.deployment(name, [c], replicas=1)


def status(kube, ns: str, name: str) -> dict:
    return kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "incidents", name).get("status") or {}


def waiting_action(st: dict) -> dict | None:
    return next((a for a in st.get("actions") or [] if a.get("state") == "awaiting-approval"), None)


def events(kube, ns: str, name: str) -> list:
    return kube.core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name},involvedObject.kind=Incident").items


@pytest.fixture(scope="module")
def crds_kept(kube):
    """A cluster shared with other checkouts gets their (older) copy of the Incident CRD at each of their test
    sessions' start, and the API server then prunes the status fields this module needs. Ours is a superset: put it
    back whenever it is replaced, while this module runs (a no-op on a cluster of one's own)."""
    import threading
    ext = client.ApiextensionsV1Api(kube.core.api_client)
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(0.3):
            try:
                crd = ext.read_custom_resource_definition("incidents.netaiops.io")
                if "planHash" not in str(crd.spec.versions[0].schema.open_apiv3_schema.properties["status"]):
                    install_crds(kube.core.api_client)
            except Exception:  # noqa: BLE001 - try again in a second
                pass
    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    yield
    stop.set()


@pytest.fixture(scope="module")
def flows(kube, kubeconfig, real_node, policy_in_force, crds_kept, tmp_path_factory):
    ns = f"appr-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_for(lambda: kube.core.read_namespaced_service_account("default", ns), 30, "default ServiceAccount")
    log = tmp_path_factory.mktemp("approval")
    procs: list[OperatorProcess] = []
    try:
        yield from _run_flows(kube, kubeconfig, ns, log, procs)
    finally:
        for p in procs:
            p.kill()
        kube.core.delete_namespace(ns)


def _run_flows(kube, kubeconfig, ns, log, procs):
    started = time.monotonic()
    install_crds(kube.core.api_client)  # the shared cluster may hold another checkout's copy (without these fields)
    names = (*APPROVE, "undo")
    for name in names:
        kube.apps.create_namespaced_deployment(ns, workload(name, ready=name != "undo"))
    for name in names:  # running on the real node; the ReplicaSet records the count (desired-replicas)
        wait_for(lambda: any(p.status.phase == "Running" for p in kube.core.list_namespaced_pod(
            ns, label_selector=f"app={name}").items), 90, f"{name} running")
    for name in names:
        chaos_scale_to_zero(kube, ns, name)
    procs.append(OperatorProcess(ns, {"KUBECONFIG": kubeconfig, **ENV}, log / "operator-1.log", ["--standalone"]))
    for name in names:
        body = incident(name, target={"namespace": ns, "kind": "Deployment", "name": name},
                        remediation="approve" if name in APPROVE else "auto")
        for attempt in range(3):
            try:
                kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "incidents", body)
                break
            except client.ApiException as exc:  # the shared cluster's CRD was replaced by an older copy meanwhile
                if exc.status != 422 or attempt == 2:
                    raise
                install_crds(kube.core.api_client)
    plans = {n: wait_for(lambda: waiting_action(status(kube, ns, n)), 90, f"{n} awaiting approval") for n in APPROVE}
    awaiting = wait_for(lambda: (lambda s: s if s.get("phase") == "AwaitingApproval" else None)(status(kube, ns, "ok")), 30,
                        "ok in phase AwaitingApproval")
    # the operator stops while every plan awaits approval; a new one carries on (nothing lost, nothing run twice)
    procs[0].kill()
    procs.append(OperatorProcess(ns, {"KUBECONFIG": kubeconfig, **ENV}, log / "operator-2.log", ["--standalone"]))
    out: dict = {"ns": ns, "plans": plans, "log": log, "awaiting": awaiting}

    # ok: a tenant's ServiceAccount with the approver role here approves; a forged approver name is refused first
    kube.core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="oncall")))
    client.RbacAuthorizationV1Api(kube.core.api_client).create_namespaced_role_binding(ns, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="oncall-approver"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="incident-operator-approver"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="oncall", namespace=ns)]))
    oncall = f"system:serviceaccount:{ns}:oncall"
    tenant = client.CustomObjectsApi(as_user(kubeconfig, oncall))
    plan = plans["ok"]["planHash"]
    try:
        tenant.create_namespaced_custom_object(GROUP, VERSION, ns, APPROVALS, approval_body("ok", plan, "admin"))
        out["forged"] = 201
    except client.ApiException as exc:
        out["forged"] = exc.status
    wait_for(lambda: tenant.create_namespaced_custom_object(GROUP, VERSION, ns, APPROVALS, approval_body("ok", plan, oncall)),
             20, "the role binding in effect")
    out["oncall"] = oncall
    # deny and regress through the CLI (the caller's name from a SelfSubjectReview)
    out["deny_cli"] = cli(kubeconfig, "deny", "deny", "-n", ns, "--comment", "점검 중")
    out["regress_cli"] = cli(kubeconfig, "approve", "regress", "-n", ns)
    # stale: the Deployment's spec changes after the plan was proposed, then the old plan is approved
    kube.apps.patch_namespaced_deployment("stale", ns, {"spec": {"minReadySeconds": 1}}, field_manager="netaiops-chaos")
    out["stale_cli"] = cli(kubeconfig, "approve", "stale", "-n", ns, "--plan", plans["stale"]["planHash"])
    fresh = wait_for(lambda: (lambda a: a if a and a.get("planHash") not in (None, plans["stale"]["planHash"]) else None)(
        waiting_action(status(kube, ns, "stale"))), 60, "stale: a new plan proposed")
    out["stale_new"] = fresh
    out["stale_cli2"] = cli(kubeconfig, "approve", "stale", "-n", ns)
    # regress: scaled to 0 again right after it resolved, before its effectiveness check
    wait_for(lambda: status(kube, ns, "regress").get("phase") in TERMINAL, 90, "regress finished", interval=0.2)
    chaos_scale_to_zero(kube, ns, "regress")
    final = {}
    for name in names:
        final[name] = wait_for(lambda: (lambda s: s if s.get("phase") in TERMINAL else None)(status(kube, ns, name)),
                               120, f"{name} finished")
    for name in ("ok", "regress"):
        final[name] = wait_for(lambda: (lambda s: s if (s.get("effectiveness") or {}).get("state") in ("held", "regressed")
                                        else None)(status(kube, ns, name)), 60, f"{name} effectiveness checked")
    out["status"] = final
    out["wall"] = time.monotonic() - started
    yield out


def test_approved_by_a_tenant_recorded_from_the_api_server_and_restart_safe(flows, kube):
    st, ns = flows["status"]["ok"], flows["ns"]
    ready = next(c for c in flows["awaiting"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "AwaitingApproval" and "승인 대기" in ready["message"]
    assert flows["forged"] == 403  # the request claimed "admin": admission refused it
    [action] = st["actions"]
    assert st["phase"] == "Resolved" and action["state"] == "succeeded", st
    assert action["decidedBy"] == flows["oncall"] and action["planHash"] == flows["plans"]["ok"]["planHash"]
    assert action["plan"] == [{"object": f"Deployment/{ns}/ok", "field": "spec.replicas", "before": "0", "after": "1"}]
    assert [r["state"] for r in st["approvals"]] == ["approved"]
    reasons = [e.reason for e in events(kube, ns, "ok")]
    assert reasons.count("RemediationApplied") == 1 and reasons.count("RemediationAwaitingApproval") == 1  # restart: once
    assert kube.apps.read_namespaced_deployment("ok", ns).spec.replicas == 1
    assert "승인" in st["report"]["markdown"] and flows["oncall"] in st["report"]["markdown"]


def test_a_tenant_cannot_approve_in_another_namespace(flows, kube, kubeconfig, make_namespace):
    other = make_namespace("appr-b")
    tenant = client.CustomObjectsApi(as_user(kubeconfig, flows["oncall"]))
    with pytest.raises(client.ApiException) as exc:
        tenant.create_namespaced_custom_object(GROUP, VERSION, other, APPROVALS,
                                               approval_body("ok", "abcdef0123456789", flows["oncall"]))
    assert exc.value.status == 403  # RBAC: the approver role is bound in its own namespace only


def test_denied(flows, kube):
    st = flows["status"]["deny"]
    assert flows["deny_cli"].returncode == 0, flows["deny_cli"].stderr
    [action] = st["actions"]
    assert st["phase"] == "NeedsAction" and action["state"] == "denied" and "점검 중" in action["message"]
    assert action["decidedBy"]  # the CLI's caller, as the API server named it
    assert next(c for c in st["conditions"] if c["type"] == "Ready")["reason"] == "RemediationDenied"
    assert kube.apps.read_namespaced_deployment("deny", flows["ns"]).spec.replicas == 0


def test_expired(flows, kube):
    st = flows["status"]["expire"]
    [action] = st["actions"]
    assert st["phase"] == "NeedsAction" and action["state"] == "expired", st
    assert next(c for c in st["conditions"] if c["type"] == "Ready")["reason"] == "ApprovalExpired"
    assert kube.apps.read_namespaced_deployment("expire", flows["ns"]).spec.replicas == 0


def test_a_stale_plan_is_refused_and_proposed_again(flows, kube):
    st = flows["status"]["stale"]
    assert flows["stale_cli"].returncode == 0 and flows["stale_cli2"].returncode == 0, flows["stale_cli2"].stderr
    [action] = st["actions"]
    old, new = flows["plans"]["stale"]["planHash"], flows["stale_new"]["planHash"]
    assert old != new and action["planHash"] == new
    assert st["phase"] == "Resolved" and action["state"] == "succeeded", st
    assert [(r["planHash"], r["state"]) for r in st["approvals"]] == [(old, "stale"), (new, "approved")]
    assert any(e.reason == "RemediationPlanStale" for e in events(kube, flows["ns"], "stale"))


def test_a_failed_fix_is_undone_and_the_undo_verified(flows, kube):
    st = flows["status"]["undo"]
    [action] = st["actions"]
    assert st["phase"] == "NeedsAction" and st["outcome"] == "unverified", st
    assert action["state"] == "unverified" and action["undoState"] == "verified" and action["undoVerifiedAt"], action
    assert kube.apps.read_namespaced_deployment("undo", flows["ns"]).spec.replicas == 0
    reasons = {e.reason for e in events(kube, flows["ns"], "undo")}
    assert {"RemediationUnverified", "RemediationUndone"} <= reasons
    assert "되돌림 확인됨" in st["report"]["markdown"]


def test_effectiveness_held_and_regressed(flows, kube):
    held, regressed = flows["status"]["ok"]["effectiveness"], flows["status"]["regress"]["effectiveness"]
    assert held["state"] == "held" and any("새 재시작 없음" in e for e in held["evidence"]), held
    assert regressed["state"] == "regressed" and any("다시 비정상" in e for e in regressed["evidence"]), regressed
    labels = kube.custom.get_namespaced_custom_object(GROUP, VERSION, flows["ns"], "incidents", "regress")["metadata"]["labels"]
    assert labels["netaiops.io/fix"] == "restore-replicas" and labels["netaiops.io/fix-result"] == "regressed"
    print(f"approval flows: {flows['wall']:.1f}s")


def test_a_namespace_policy_is_read_and_only_tightens(kube, make_namespace, crds_kept):
    from incident_operator.kube.approvals import namespace_policies
    from incident_operator.remediation.approval import effective_mode
    ns = make_namespace("appr-pol")
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RemediationPolicy", "metadata": {"name": "default"},
            "spec": {"default": "auto", "actions": {"restore-replicas": "approve"}, "approvalTimeoutSeconds": 60}}
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies", body)
    policies = namespace_policies(kube, ns)
    assert effective_mode("restore-replicas", "auto", "auto", {}, policies, 3600).mode == "approve"
    assert effective_mode("rollback-image", "auto", "never", {}, policies, 3600).mode == "off"  # cannot loosen
    assert effective_mode("restore-replicas", "auto", "auto", {}, policies, 3600).timeout == 60
    with pytest.raises(client.ApiException) as exc:  # the CRD refuses a mode it does not know
        kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies", {
            **body, "metadata": {"name": "bad"}, "spec": {"default": "yolo"}})
    assert exc.value.status == 422
