"""The shipped manifests, applied to the real API server: the operator's service account can do what
it needs (a whole incident, remediation included) and nothing more."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from local_stack import scenarios
from local_stack.cluster import ROOT, kubectl_path
from local_stack.workloads import incident

SA_USER = "system:serviceaccount:incident-operator:incident-operator"


kubectl = kubectl_path


GRANTED = "rbac-granted"  # a namespace the admin bound with `incident-operator rbac -n ... --remediation`


@pytest.fixture(scope="module")
def applied(kubeconfig, kube):
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    subprocess.run([kubectl(), "apply", "-k", str(ROOT / "manifests")], check=True, capture_output=True, env=env)
    try:
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=GRANTED)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    grant(GRANTED, kubeconfig)
    return True


def grant(namespace: str, kubeconfig: str) -> None:
    """What the admin runs for a namespace whose Incidents the operator handles and repairs."""
    docs = subprocess.run([sys.executable, "-m", "incident_operator.cli", "rbac", "-n", namespace, "--remediation"],
                          check=True, capture_output=True, text=True, cwd=ROOT).stdout
    subprocess.run([kubectl(), "apply", "-f", "-"], input=docs, check=True, capture_output=True, text=True,
                   env={**os.environ, "KUBECONFIG": kubeconfig})


@functools.lru_cache(maxsize=1)
def _authorization() -> client.AuthorizationV1Api:
    """One client (one connection pool) for every review: a client per call is a TLS handshake per call."""
    return client.AuthorizationV1Api(client.ApiClient())


def can(user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
        subresource: str = "", name: str = "") -> bool:
    """One SubjectAccessReview, sent and read as plain JSON on one shared connection pool: the write-list test
    asks ~1,900 of them, and a new client per call (a TLS handshake) plus the client's model (de)serialisation
    took most of its time."""
    attributes = {"verb": verb, "resource": resource, "group": group, "subresource": subresource, "name": name}
    if namespace is not None:
        attributes["namespace"] = namespace
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": user, "groups": ["system:serviceaccounts", "system:serviceaccounts:incident-operator", "system:authenticated"],
        "resourceAttributes": attributes}}
    answer = _authorization().create_subject_access_review(review, _preload_content=False)
    return json.loads(answer.data)["status"].get("allowed") is True


def test_kustomization_renders_everything_and_applies(applied, kube):
    rendered = subprocess.run([kubectl(), "kustomize", str(ROOT / "manifests")], capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("ClusterRole") == 6  # + incident-operator-approver, -policy-editor (bound per namespace)
    # `kubectl delete -k manifests/` must not take the CRDs, and with them every Incident, along
    assert "CustomResourceDefinition" not in kinds
    crds = subprocess.run([kubectl(), "kustomize", str(ROOT / "crds")], capture_output=True, text=True, check=True).stdout
    assert sorted(d["metadata"]["name"] for d in yaml.safe_load_all(crds) if d) == [
        "clusterkopfpeerings.kopf.dev", "incidentapprovals.netaiops.io", "incidents.netaiops.io", "kopfpeerings.kopf.dev",
        "remediationpolicies.netaiops.io"]
    # no ClusterRoleBinding grants a write to a built-in object: those are bound per namespace
    bound = {d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"}
    assert bound == {"incident-operator", "incident-operator-evidence"}
    dep = kube.apps.read_namespaced_deployment("incident-operator", "incident-operator")
    assert dep.spec.replicas == 2
    c = dep.spec.template.spec.containers[0]
    assert c.security_context.read_only_root_filesystem and c.security_context.allow_privilege_escalation is False
    assert dep.spec.template.spec.security_context.run_as_non_root
    assert c.liveness_probe and c.readiness_probe and c.resources.limits["memory"] == "256Mi"
    sa = kube.core.read_namespaced_service_account("incident-operator", "incident-operator")
    assert "eks.amazonaws.com/role-arn" in sa.metadata.annotations


@pytest.mark.parametrize("verb, resource, group, subresource, namespace", [
    ("watch", "incidents", "netaiops.io", "", "shop"), ("patch", "incidents", "netaiops.io", "status", "shop"),
    ("list", "pods", "", "", "shop"), ("get", "pods", "", "log", "shop"), ("list", "events", "", "", "shop"),
    ("create", "events", "", "", "shop"), ("get", "nodes", "", "", None), ("list", "replicasets", "apps", "", "shop"),
    ("create", "configmaps", "", "", "incident-operator"), ("create", "configmaps", "", "", GRANTED),
    ("patch", "deployments", "apps", "", GRANTED), ("patch", "deployments", "apps", "scale", GRANTED),
    ("delete", "pods", "", "", GRANTED),
    # issue 24: a claim's PersistentVolumes, an Ingress's class, a dependency's endpoints
    ("get", "persistentvolumes", "", "", None), ("list", "persistentvolumes", "", "", None),
    ("get", "ingressclasses", "networking.k8s.io", "", None), ("list", "endpointslices", "discovery.k8s.io", "", "shop"),
    ("get", "configmaps", "", "", GRANTED),  # a mounted ConfigMap, where the admin bound the namespace
    # issue 24: a refused ServiceAccount's RoleBindings and Roles, and the API server's answer for it (namespaced)
    ("list", "rolebindings", "rbac.authorization.k8s.io", "", "shop"), ("get", "roles", "rbac.authorization.k8s.io", "", "shop"),
    ("create", "localsubjectaccessreviews", "authorization.k8s.io", "", "shop"),
])
def test_service_account_can_do_its_job(applied, verb, resource, group, subresource, namespace):
    assert can(SA_USER, verb, resource, namespace, group, subresource)


@pytest.mark.parametrize("verb, resource, group, namespace, name", [
    ("delete", "namespaces", "", None, "shop"), ("get", "secrets", "", "shop", "db-password"),
    ("list", "secrets", "", "incident-operator", ""), ("create", "deployments", "apps", "shop", ""),
    ("delete", "nodes", "", None, "node-1"), ("create", "clusterrolebindings", "rbac.authorization.k8s.io", None, ""),
    ("create", "pods", "", "shop", ""), ("delete", "configmaps", "", "shop", ""),
    # what made the old install cluster-admin in disguise
    ("update", "configmaps", "", "kube-system", "aws-auth"), ("patch", "configmaps", "", "kube-system", "aws-auth"),
    ("create", "configmaps", "", "kube-system", ""), ("patch", "deployments", "apps", "kube-system", "coredns"),
    ("delete", "deployments", "apps", "kube-system", "coredns"),
    # a namespace the admin did not list
    ("create", "configmaps", "", "shop", ""), ("patch", "deployments", "apps", "shop", ""), ("delete", "pods", "", "shop", ""),
    # ConfigMaps are read only where bound (never cluster-wide: kube-system's aws-auth); PVs only read
    ("get", "configmaps", "", "shop", "app-config"), ("get", "configmaps", "", "kube-system", "aws-auth"),
    ("delete", "persistentvolumes", "", None, "pv-1"), ("patch", "persistentvolumes", "", None, "pv-1"),
    # RBAC is read, never changed; ClusterRoles are only named; the review is the namespaced one only
    ("create", "rolebindings", "rbac.authorization.k8s.io", "shop", ""), ("patch", "roles", "rbac.authorization.k8s.io", "shop", "app"),
    ("bind", "roles", "rbac.authorization.k8s.io", "shop", "app"), ("escalate", "roles", "rbac.authorization.k8s.io", "shop", "app"),
    ("get", "clusterroles", "rbac.authorization.k8s.io", None, "admin"), ("list", "clusterrolebindings", "rbac.authorization.k8s.io", None, ""),
    ("create", "subjectaccessreviews", "authorization.k8s.io", None, ""),
])
def test_service_account_cannot_do_more(applied, verb, resource, group, namespace, name):
    assert not can(SA_USER, verb, resource, namespace, group, name=name)


def test_service_account_reads_only_its_own_secret(applied):
    assert can(SA_USER, "get", "secrets", "incident-operator", name="incident-operator")
    assert not can(SA_USER, "get", "secrets", "incident-operator", name="something-else")


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# Everything the shipped service account may write, where. Any other write the API allows fails the test.
ALLOWED_ANYWHERE = {("netaiops.io", "incidents"): {"update", "patch", "delete"},
                    # every authenticated identity may ask about itself (system:basic-user); nothing is stored
                    ("authentication.k8s.io", "selfsubjectreviews"): {"create"},
                    ("authorization.k8s.io", "selfsubjectaccessreviews"): {"create"},
                    ("authorization.k8s.io", "selfsubjectrulesreviews"): {"create"},
                    # the API server's answer for a refused ServiceAccount (issue 24): a question, nothing is stored;
                    # the collector asks only in the Incident's namespace (kube/evidence.py service_account_access)
                    ("authorization.k8s.io", "localsubjectaccessreviews"): {"create"},
                    ("netaiops.io", "incidents/status"): {"update", "patch"},
                    ("", "events"): {"create"}, ("events.k8s.io", "events"): {"create"},
                    ("kopf.dev", "kopfpeerings"): {"create", "patch"}, ("kopf.dev", "clusterkopfpeerings"): {"create", "patch"}}
ALLOWED_WHERE_INCIDENTS_LIVE = {("", "configmaps"): {"create", "update"}}
ALLOWED_WHERE_GRANTED = {("", "pods"): {"delete"}, ("apps", "deployments"): {"patch", "delete"},
                         ("apps", "deployments/scale"): {"update", "patch"}}


def _resources() -> list[tuple[str, str, bool]]:
    """(group, resource[/subresource], namespaced) for every resource the API server serves."""
    from kubernetes import client as k
    out = []
    api = k.ApiClient()
    lists = [("", k.CoreV1Api(api).get_api_resources())]
    for g in k.ApisApi(api).get_api_versions().groups:
        group, version = g.preferred_version.group_version.split("/")
        lists.append((group, k.CustomObjectsApi(api).get_api_resources(group, version)))
    for group, listing in lists:
        for r in listing.resources:
            if any(v in (r.verbs or []) for v in WRITE_VERBS):
                out.append((group, r.name, r.namespaced))
    return out


def test_every_write_the_service_account_may_make_is_on_the_allowed_list(applied):
    """Ask the real API (SubjectAccessReview) about every served resource and write verb, in kube-system,
    the incident namespace, a granted namespace, an unlisted one and cluster-wide."""
    from concurrent.futures import ThreadPoolExecutor

    resources = _resources()
    assert len(resources) > 40
    where = {"kube-system": ALLOWED_ANYWHERE, "shop": ALLOWED_ANYWHERE,
             "incident-operator": {**ALLOWED_ANYWHERE, **ALLOWED_WHERE_INCIDENTS_LIVE},
             GRANTED: {**ALLOWED_ANYWHERE, **ALLOWED_WHERE_INCIDENTS_LIVE, **ALLOWED_WHERE_GRANTED},
             None: ALLOWED_ANYWHERE}
    checks = [(ns, group, res, verb) for ns in where for group, res, namespaced in resources
              if namespaced or ns is None for verb in WRITE_VERBS]

    def allowed(check):
        ns, group, res, verb = check
        name, _, sub = res.partition("/")
        return check, can(SA_USER, verb, name, ns, group, sub)
    with ThreadPoolExecutor(8) as pool:
        granted = [c for c, ok in pool.map(allowed, checks) if ok]
    unexpected = [c for c in granted if c[3] not in where[c[0]].get((c[1], c[2]), set())]
    assert unexpected == []
    # and what it needs is there
    assert (GRANTED, "apps", "deployments/scale", "patch") in granted
    assert ("incident-operator", "", "configmaps", "create") in granted


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
    grant(ns, kubeconfig)  # the admin lists this namespace: Incidents live here and may be repaired here
    scenarios.bad_rollout(kube, ns)
    log = open(tmp_path / "operator.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "run", "-n", ns, "--standalone"],
                            env={**os.environ, "KUBECONFIG": str(path)}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        incidents.create(incident("as-sa", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
        st = incidents.wait_phase("as-sa", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
        assert st["phase"] == "Resolved", st.get("lastError")
        assert st["actions"][0]["state"] == "succeeded"
        assert kube.apps.read_namespaced_deployment("api", ns).spec.template.spec.containers[0].image == "nginx:1.27"
        assert "Forbidden" not in (tmp_path / "operator.log").read_text()
    finally:
        proc.kill()
        proc.wait(10)
        log.close()


def test_a_rerun_annotation_on_an_archived_incident_is_refused_with_what_to_do(applied, kube, ns, incidents):
    """Issue 23, item 9: the operator does not watch archived Incidents, so `kubectl annotate ... netaiops.io/rerun=`
    on one silently did nothing. The manifests' admission policy refuses that write and says what works; the write
    that takes the label off in the same request (what `incident-operator rerun` sends) and the operator's own
    archiving write go through."""
    from local_stack.cluster import wait_for

    body = incident("old", target={"namespace": ns})
    body["metadata"]["annotations"] = {"netaiops.io/rerun": "1"}  # re-run once before
    incidents.create(body)
    kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "old", {
        "metadata": {"labels": {"netaiops.io/archived": "true"}}})  # the operator archiving it

    def refused() -> str | None:
        try:
            kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "old", {
                "metadata": {"annotations": {"netaiops.io/rerun": "2"}}})
        except client.ApiException as exc:
            return exc.body
        kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "old", {
            "metadata": {"annotations": {"netaiops.io/rerun": "1"}}})  # the policy is not active yet: undo, try again
        return None
    body = wait_for(refused, 30, "the admission policy")
    assert "archived" in body and "incident-operator rerun" in body
    assert incidents.get("old")["metadata"]["annotations"]["netaiops.io/rerun"] == "1"
    # other writes to an archived Incident are not affected
    kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "old", {
        "metadata": {"annotations": {"note": "x"}}})
    # the label off in the same write: accepted, and the Incident is back in the operator's view with its request
    kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "old", {
        "metadata": {"labels": {"netaiops.io/archived": None}, "annotations": {"netaiops.io/rerun": "2"}}})
    meta = incidents.get("old")["metadata"]
    assert meta["annotations"]["netaiops.io/rerun"] == "2" and "netaiops.io/archived" not in meta.get("labels", {})
