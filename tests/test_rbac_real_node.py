"""A ServiceAccount really refused by the real API server, diagnosed by the operator on the real node.

A pod on the real node calls the API server (127.0.0.1:6443 on the host, so hostNetwork) with its own projected
ServiceAccount token and logs the API server's answer as it comes: the 403 Status body. Nothing is written by hand:
busybox's own TLS client (`nc -e` + `ssl_client`, in the locally built busybox image) makes the call, the API
server's RBAC authorizer refuses it, the kubelet serves the log, and the operator files what it finds: the refused
account, verb and resource, the RoleBindings and Roles that bind it (none; a Role granting get and watch but not
list) and the API server's own answer (LocalSubjectAccessReview). Then the Role is fixed and a new Incident says
the API server now allows it.

Source: Kubernetes docs "Using RBAC Authorization" (a Role granting get/watch/list on a resource, a RoleBinding
to a ServiceAccount), "Accessing the Kubernetes API from a Pod" (the token at
/var/run/secrets/kubernetes.io/serviceaccount/token, `Authorization: Bearer`).
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from incident_operator import evidence_store
from incident_operator.constants import GROUP, PLURAL, VERSION
from local_stack import fault_run as FR
from local_stack import faults as F
from local_stack.cluster import wait_for
from local_stack.real_node import NODE_NAME
from local_stack.workloads import incident

pytestmark = pytest.mark.cluster

SA = "config-sync"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# One HTTPS GET with the pod's own token, the JSON body (the line that starts with `{`: a list comes chunked) to the
# container's log, every 3 s.
# `nc -e` hands the connected socket to the script as stdin/stdout; ssl_client speaks TLS over it (fd 3); the
# answer goes to fd 5, the container's stdout saved before nc.
REQUEST = r"""exec 3<&0
printf 'GET /api/v1/namespaces/%s/configmaps HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' \
  "$(cat TOKEN_DIR/namespace)" "$(cat TOKEN_DIR/token)" | ssl_client -s 3 -n kubernetes | grep '^{' >&5
""".replace("TOKEN_DIR", TOKEN_DIR)
LOOP = f"""cat > /tmp/req.sh <<'EOF'
{REQUEST}EOF
exec 5>&1
while true; do nc 127.0.0.1 6443 -e sh /tmp/req.sh; sleep 3; done
"""


def config_sync(name: str) -> dict:
    """A controller listing its namespace's ConfigMaps as its own ServiceAccount, on the real node."""
    body = F.deployment(name, [F.container(command=F.sh(LOOP), resources={"limits": {"memory": "32Mi"}})])
    spec = body["spec"]["template"]["spec"]
    spec.update(serviceAccountName=SA, hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    return body


def pod_log(kube, ns: str, app: str, lines: int = 5) -> str:
    """The pods' last log lines as written (raw bytes: the typed client would parse a JSON line into a dict)."""
    out = []
    for p in FR.pods(kube, ns, app):
        try:
            out.append(kube.core.read_namespaced_pod_log(p.metadata.name, ns, tail_lines=lines,
                                                         _preload_content=False).data.decode())
        except client.ApiException:
            continue
    return "\n".join(out)


def refused_in_log(kube, ns: str, app: str) -> str | None:
    text = pod_log(kube, ns, app)
    return text if "is forbidden" in text else None


def diagnose(kube, ns, incidents, name: str) -> tuple[dict, dict]:
    incidents.create(incident(name, target={"namespace": ns, "kind": "Deployment", "name": "sync"}))
    st = incidents.wait_phase(name, FR.TERMINAL, 120)["status"]
    bundle = evidence_store.load(kube, ns, name)
    return st, bundle


@pytest.fixture
def refused(kube, ns, real_node):
    """The ServiceAccount and the pod whose calls the API server refuses; returns the log line it wrote."""
    kube.core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=SA)))

    def start() -> str:
        FR.apply(kube, ns, config_sync("sync"))
        text = wait_for(lambda: refused_in_log(kube, ns, "sync"), 90, "the API server's 403 in the pod's log")
        assert all(p.spec.node_name == NODE_NAME for p in FR.pods(kube, ns, "sync"))
        return text
    return start


def test_no_role_binding_the_real_refusal_names_the_account_the_verb_and_the_missing_binding(
        kube, ns, incidents, start_operator, refused):
    text = refused()
    assert f'User \\"system:serviceaccount:{ns}:{SA}\\" cannot list resource \\"configmaps\\"' in text  # the real body
    start_operator()
    st, bundle = diagnose(kube, ns, incidents, "sync-forbidden")
    top = st["causes"][0]
    assert top["kind"] == "rbac-forbidden", [(c["kind"], c["title"]) for c in st["causes"]]
    assert f"system:serviceaccount:{ns}:{SA}" in top["title"] and "`configmaps`" in top["title"] and "`list`" in top["title"]
    assert f"`{ns}/{SA}`를 바인딩하는 RoleBinding이 없음" in top["title"], top["title"]
    actions = " ".join(st["guide"]["immediate"])
    assert f"kubectl create role {SA}-configmaps-list -n {ns} --verb=list --resource=configmaps" in actions
    assert f"--serviceaccount={ns}:{SA}" in actions
    assert any("LocalSubjectAccessReview" in e["text"] and "거부" in e["text"] for e in top["evidence"])
    assert top["confidence"] == 0.95 and not st.get("actions")  # never remediated
    [sa] = bundle.cluster.service_accounts
    assert (sa.name, sa.verb, sa.resource, sa.read, sa.bindings, sa.allowed) == (SA, "list", "configmaps", "ok", [], False)


def test_a_role_without_the_verb_is_named_and_once_fixed_the_api_server_says_allowed(
        kube, ns, incidents, start_operator, refused):
    rbac = client.RbacAuthorizationV1Api(kube.core.api_client)
    rbac.create_namespaced_role(ns, client.V1Role(metadata=client.V1ObjectMeta(name="config-reader"), rules=[
        client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "watch"])]))
    rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="config-sync-reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="config-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=SA, namespace=ns)]))
    refused()
    start_operator()
    st, bundle = diagnose(kube, ns, incidents, "sync-verb")
    top = st["causes"][0]
    assert top["kind"] == "rbac-forbidden", [(c["kind"], c["title"]) for c in st["causes"]]
    assert f"system:serviceaccount:{ns}:{SA}" in top["title"]
    assert "Role `config-reader`(RoleBinding `config-sync-reader`)" in top["title"], top["title"]
    assert "get, watch만 허용" in top["title"] and "`list`는 허용하지 않음" in top["title"]
    actions = " ".join(st["guide"]["immediate"])
    assert f"kubectl patch role config-reader -n {ns} --type=json" in actions and '"verbs":["list"]' in actions
    assert top["confidence"] == 0.95
    [b] = bundle.cluster.service_accounts[0].bindings
    assert (b.name, b.role_name, b.role_found, b.grants, b.verbs) == ("config-sync-reader", "config-reader", True, False,
                                                                      ["get", "watch"])

    # a person adds the rule and closes the Incident (an open one would take the next one in as Grouped); the pod's
    # calls now succeed, its log still holds the earlier refusals
    incidents.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "sync-verb")
    wait_for(lambda: not [i for i in incidents.kube.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]],
             60, "the Incident deleted")
    rbac.patch_namespaced_role("config-reader", ns, {"rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch", "list"]}]})
    wait_for(lambda: '"kind":"ConfigMapList"' in pod_log(kube, ns, "sync", 2), 30, "the pod's call allowed")
    st, bundle = diagnose(kube, ns, incidents, "sync-fixed")
    top = st["causes"][0]
    assert top["kind"] == "rbac-forbidden" and "지금은 허용" in top["title"], top["title"]
    assert top["confidence"] == 0.5
    assert bundle.cluster.service_accounts[0].allowed is True
    print(json.dumps(top, ensure_ascii=False, indent=1))
