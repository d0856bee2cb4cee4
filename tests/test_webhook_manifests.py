"""The optional Alertmanager receiver's manifests, applied to the real API server: it may write Incidents
and alarm state records in the incident namespace, and nothing else."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from local_stack.cluster import ROOT
from .test_manifests import applied, can, kubectl  # noqa: F401 - `applied` is a fixture

USER = "system:serviceaccount:incident-operator:incident-operator-webhook"


@pytest.fixture(scope="module")
def webhook_applied(applied, kubeconfig):  # noqa: F811
    subprocess.run([kubectl(), "apply", "-k", str(ROOT / "manifests" / "alertmanager-webhook")], check=True,
                   capture_output=True, env={**os.environ, "KUBECONFIG": kubeconfig})
    return True


def test_webhook_manifests_apply_a_hardened_deployment_and_service(webhook_applied, kube):
    rendered = subprocess.run([kubectl(), "kustomize", str(ROOT / "manifests" / "alertmanager-webhook")],
                              capture_output=True, text=True, check=True).stdout
    assert sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d) == [
        "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    dep = kube.apps.read_namespaced_deployment("incident-operator-webhook", "incident-operator")
    c = dep.spec.template.spec.containers[0]
    assert c.args == ["webhook", "--port", "9095"] and c.readiness_probe.http_get.path == "/healthz"
    assert c.security_context.read_only_root_filesystem and dep.spec.template.spec.security_context.run_as_non_root
    token = next(e for e in c.env if e.name == "INCIDENT_WEBHOOK_TOKEN")
    assert token.value_from.secret_key_ref.name == "incident-operator-webhook"
    svc = kube.core.read_namespaced_service("incident-operator-webhook", "incident-operator")
    assert svc.spec.ports[0].port == 9095


@pytest.mark.parametrize("verb, resource, group, namespace, allowed", [
    ("create", "incidents", "netaiops.io", "incident-operator", True),
    ("patch", "incidents", "netaiops.io", "incident-operator", True),
    ("create", "configmaps", "", "incident-operator", True),
    ("update", "configmaps", "", "incident-operator", True),
    ("create", "incidents", "netaiops.io", "shop", False),
    ("create", "configmaps", "", "shop", False),
    ("delete", "incidents", "netaiops.io", "incident-operator", False),
    ("get", "secrets", "", "incident-operator", False),
    ("list", "pods", "", "incident-operator", False),
])
def test_webhook_service_account_writes_only_incidents_and_state_records_there(webhook_applied, verb, resource, group,
                                                                               namespace, allowed):
    assert can(USER, verb, resource, namespace, group) is allowed
