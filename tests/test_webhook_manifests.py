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


BRIDGE_GROUP = "netaiops:incident-bridge"  # manifests/rbac-bridge.yaml: what the bridge's IAM role is mapped to


def _identity_clients(kube, kubeconfig):
    """The receiver's real ServiceAccount token, and the bridge as an EKS access entry presents it (an IAM
    session name in the group the manifests bind), both through RBAC and admission of the real API server."""
    from kubernetes import client, config

    token = kube.core.create_namespaced_service_account_token(
        "incident-operator-webhook", "incident-operator",
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    admin = yaml.safe_load(open(kubeconfig))
    as_webhook = {**admin, "users": [{"name": "webhook", "user": {"token": token}}],
                  "contexts": [{"name": "webhook", "context": {"cluster": admin["clusters"][0]["name"], "user": "webhook"}}],
                  "current-context": "webhook"}
    webhook = config.new_client_from_config_dict(as_webhook)
    bridge = config.new_client_from_config_dict(admin)
    bridge.set_default_header("Impersonate-User", "arn:aws:sts::123456789012:assumed-role/incident-bridge/lambda")
    bridge.set_default_header("Impersonate-Group", BRIDGE_GROUP)
    return {"webhook": webhook, "bridge": bridge}


def _status(call) -> int:
    from kubernetes import client
    try:
        call()
        return 200
    except client.ApiException as exc:
        return exc.status


@pytest.mark.parametrize("who", ["webhook", "bridge"])
def test_receiver_and_bridge_cannot_write_the_operators_settings(webhook_applied, kube, kubeconfig, who):
    """Issue 23, finding 4: with the receiver's token, INCIDENT_INCIDENT_NAMESPACES=["*"] was written into the operator's
    settings ConfigMap. Both alarm writers may write only their own records (alarm-state-*, *-alarm, labelled by
    them): the settings ConfigMap, and any other, is Forbidden; their own records still work (a real notification)."""
    from kubernetes import client

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter
    from incident_operator.scenarios.notifications import cloudwatch_message, notification_record

    from local_stack.cluster import wait_for

    api = _identity_clients(kube, kubeconfig)[who]
    core = client.CoreV1Api(api)
    ns = "incident-operator"
    probe = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"probe-{who}"), data={"x": "1"})

    def refused() -> bool:  # the policy is active once a write of someone else's ConfigMap is refused
        code = _status(lambda: core.create_namespaced_config_map(ns, probe))
        if code == 200:
            kube.core.delete_namespaced_config_map(probe.metadata.name, ns)
        return code == 403
    try:
        wait_for(refused, 30, "the admission policy")  # policies take effect shortly after they are created
    except AssertionError:
        pass  # never active: the assertions below say what it let through

    settings = kube.core.read_namespaced_config_map("incident-operator", ns)
    assert settings.data["INCIDENT_INCIDENT_NAMESPACES"] == "incident-operator"
    widened = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="incident-operator", resource_version=settings.metadata.resource_version),
                                 data={**settings.data, "INCIDENT_INCIDENT_NAMESPACES": '["*"]'})
    try:
        assert _status(lambda: core.replace_namespaced_config_map("incident-operator", ns, widened)) == 403
        assert _status(lambda: core.patch_namespaced_config_map("incident-operator", ns, {"data": {
            "INCIDENT_INCIDENT_NAMESPACES": '["*"]'}})) == 403
    finally:
        if kube.core.read_namespaced_config_map("incident-operator", ns).data != settings.data:
            kube.core.patch_namespaced_config_map("incident-operator", ns, {"data": settings.data})  # for the next tests
    # a name like its own, but not labelled as its own (or someone else's *-alarm): refused as well
    unlabelled = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"alarm-state-unlabelled-{who}"), data={"state": "OK"})
    assert _status(lambda: core.create_namespaced_config_map(ns, unlabelled)) == 403
    theirs = f"someones-{who}-alarm"
    kube.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=theirs), data={"a": "1"}))
    try:
        assert _status(lambda: core.patch_namespaced_config_map(theirs, ns, {"metadata": {"labels": {
            "app.kubernetes.io/managed-by": "incident-bridge"}}, "data": {"a": "2"}})) == 403
    finally:
        kube.core.delete_namespaced_config_map(theirs, ns)
    # its own work is unchanged: a notification makes its Incident and its state record, as this identity
    alarm = f"finding4-{who}"
    a = {"AlarmName": alarm, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{alarm}",
         "MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
         "Dimensions": [{"Name": "ClusterName", "Value": "local"}, {"Name": "Namespace", "Value": "shop"}],
         "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80}
    writer = IncidentWriter(api, BridgeConfig(namespace=ns))
    for state in ("ALARM", "OK"):
        out = handle({"Records": [notification_record(cloudwatch_message(a, "OK" if state == "ALARM" else "ALARM", state, "t"))]},
                     None, writer)
        assert out["results"][0]["status"] in ("created", "recovered"), out
    records = kube.core.list_namespaced_config_map(ns, label_selector=f"netaiops.io/alarm={alarm}").items
    assert [r.data["state"] for r in records] == ["OK"]
