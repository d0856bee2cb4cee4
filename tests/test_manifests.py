"""The shipped manifests, applied to the real API server: the operator's service account can do what
it needs (a whole incident, remediation included) and nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from .support import scenarios
from .support.cluster import ROOT, kubectl_path
from .support.workloads import incident

SA_USER = "system:serviceaccount:incident-operator:incident-operator"


kubectl = kubectl_path


@pytest.fixture(scope="module")
def applied(kubeconfig):
    subprocess.run([kubectl(), "apply", "-k", str(ROOT / "manifests")], check=True, capture_output=True,
                   env={**os.environ, "KUBECONFIG": kubeconfig})
    return True


def can(user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
        subresource: str = "", name: str = "") -> bool:
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user, groups=["system:serviceaccounts", "system:authenticated"],
        resource_attributes=client.V1ResourceAttributes(
            verb=verb, resource=resource, group=group, namespace=namespace, subresource=subresource, name=name)))
    return client.AuthorizationV1Api().create_subject_access_review(review).status.allowed


def test_kustomization_renders_everything_and_applies(applied, kube):
    rendered = subprocess.run([kubectl(), "kustomize", str(ROOT / "manifests")], capture_output=True, text=True, check=True).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds.count("CustomResourceDefinition") == 3 and kinds.count("ClusterRole") == 3
    dep = kube.apps.read_namespaced_deployment("incident-operator", "incident-operator")
    assert dep.spec.replicas == 2
    c = dep.spec.template.spec.containers[0]
    assert c.security_context.read_only_root_filesystem and c.security_context.allow_privilege_escalation is False
    assert dep.spec.template.spec.security_context.run_as_non_root
    assert c.liveness_probe and c.readiness_probe and c.resources.limits["memory"] == "256Mi"
    sa = kube.core.read_namespaced_service_account("incident-operator", "incident-operator")
    assert "eks.amazonaws.com/role-arn" in sa.metadata.annotations


@pytest.mark.parametrize("verb, resource, group, subresource", [
    ("watch", "incidents", "netaiops.io", ""), ("patch", "incidents", "netaiops.io", "status"),
    ("list", "pods", "", ""), ("get", "pods", "", "log"), ("list", "events", "", ""), ("create", "events", "", ""),
    ("get", "nodes", "", ""), ("list", "replicasets", "apps", ""), ("create", "configmaps", "", ""),
    ("patch", "deployments", "apps", ""), ("patch", "deployments", "apps", "scale"), ("delete", "pods", "", ""),
])
def test_service_account_can_do_its_job(applied, verb, resource, group, subresource):
    assert can(SA_USER, verb, resource, "shop", group, subresource)


@pytest.mark.parametrize("verb, resource, group, namespace, name", [
    ("delete", "namespaces", "", None, "shop"), ("get", "secrets", "", "shop", "db-password"),
    ("list", "secrets", "", "incident-operator", ""), ("create", "deployments", "apps", "shop", ""),
    ("delete", "nodes", "", None, "node-1"), ("create", "clusterrolebindings", "rbac.authorization.k8s.io", None, ""),
    ("create", "pods", "", "shop", ""), ("delete", "configmaps", "", "shop", ""),
])
def test_service_account_cannot_do_more(applied, verb, resource, group, namespace, name):
    assert not can(SA_USER, verb, resource, namespace, group, name=name)


def test_service_account_reads_only_its_own_secret(applied):
    assert can(SA_USER, "get", "secrets", "incident-operator", name="incident-operator")
    assert not can(SA_USER, "get", "secrets", "incident-operator", name="something-else")


def test_analysis_only_install_has_no_write_access(applied, kube):
    """Leaving out rbac-remediation.yaml leaves the operator unable to change workloads."""
    rbac = client.RbacAuthorizationV1Api()
    name = "analysis-only-test"
    kube.core.create_namespaced_service_account("incident-operator", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))
    bindings = []
    try:
        for role in ("incident-operator", "incident-operator-evidence"):
            b = rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
                metadata=client.V1ObjectMeta(generate_name=f"{name}-"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace="incident-operator")]))
            bindings.append(b.metadata.name)
        user = f"system:serviceaccount:incident-operator:{name}"
        assert can(user, "list", "pods", "shop") and can(user, "patch", "incidents", "shop", "netaiops.io", "status")
        assert not can(user, "patch", "deployments", "shop", "apps") and not can(user, "delete", "pods", "shop")
    finally:
        for b in bindings:
            rbac.delete_cluster_role_binding(b)
        kube.core.delete_namespaced_service_account(name, "incident-operator")


def test_operator_running_as_its_service_account_resolves_and_remediates(applied, kube, ns, incidents, tmp_path, kubeconfig):
    token = kube.core.create_namespaced_service_account_token(
        "incident-operator", "incident-operator",
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    sa_config = {**admin, "users": [{"name": "operator", "user": {"token": token}}],
                 "contexts": [{"name": "operator", "context": {"cluster": admin["clusters"][0]["name"], "user": "operator"}}],
                 "current-context": "operator"}
    path = tmp_path / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(sa_config))
    scenarios.bad_rollout(kube, ns)
    log = open(tmp_path / "operator.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "run", "-n", ns, "--standalone"],
                            env={**os.environ, "KUBECONFIG": str(path)}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        incidents.create(incident("as-sa", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
        st = incidents.wait_phase("as-sa", ("Resolved", "Failed"), 60)["status"]
        assert st["phase"] == "Resolved", st.get("lastError")
        assert st["actions"][0]["state"] == "succeeded"
        assert kube.apps.read_namespaced_deployment("api", ns).spec.template.spec.containers[0].image == "nginx:1.27"
        assert "Forbidden" not in (tmp_path / "operator.log").read_text()
    finally:
        proc.kill()
        proc.wait(10)
        log.close()
