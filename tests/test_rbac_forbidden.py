"""rbac-forbidden with what RBAC says about the refused ServiceAccount (pure: no cluster).

The API server's refusal (k8s.io/apiserver responsewriters.forbiddenMessage; Kubernetes docs "Using RBAC
Authorization") parsed as a client logs it and as the JSON Status body; the RoleBindings, Roles and the
LocalSubjectAccessReview the collector reads, matched as RBAC matches them; the analyzer's answer for each state
of the account's bindings. The real refusal on the real node: tests/test_rbac_real_node.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace as NS

import pytest
from kubernetes import client

from incident_operator.analyzers import analyze
from incident_operator.analyzers.rbac_forbidden import RbacForbiddenAnalyzer
from incident_operator.kube import access
from incident_operator.kube.evidence import ClusterCollector
from incident_operator.models.evidence import EvidenceBundle, PolicyRuleEvidence
from incident_operator.tenancy import Scope

SA = "system:serviceaccount:shop:api"
MSG = (f'configmaps is forbidden: User "{SA}" cannot list resource "configmaps" in API group "" in the namespace "shop"')
# the same refusal as the JSON Status body a client prints (curl, wget, a raw HTTP call): quotes escaped
BODY = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": MSG, "reason": "Forbidden",
                   "details": {"kind": "configmaps"}, "code": 403})


@pytest.mark.parametrize("text, expected", [
    (f"E1125 reflector.go:147 failed to list *v1.ConfigMap: {MSG}",
     ("shop", "api", "list", "configmaps", "", "shop", None)),
    (BODY, ("shop", "api", "list", "configmaps", "", "shop", None)),
    (f'pods "web-1" is forbidden: User "{SA}" cannot get resource "pods/log" in API group "" in the namespace "shop"',
     ("shop", "api", "get", "pods/log", "", "shop", "web-1")),
    (f'deployments.apps "web" is forbidden: User "{SA}" cannot patch resource "deployments/scale" in API group "apps" '
     'in the namespace "shop"', ("shop", "api", "patch", "deployments/scale", "apps", "shop", "web")),
    (f'nodes is forbidden: User "{SA}" cannot list resource "nodes" in API group "" at the cluster scope',
     ("shop", "api", "list", "nodes", "", None, None)),
    (f'leases.coordination.k8s.io is forbidden: User "{SA}" cannot create resource "leases" in API group '
     '"coordination.k8s.io" in the namespace "kube-system"', ("shop", "api", "create", "leases", "coordination.k8s.io",
                                                             "kube-system", None)),
])
def test_the_api_servers_refusal_is_parsed_as_logged_and_as_the_json_body(text, expected):
    r = access.parse(text)
    assert (r.sa_namespace, r.sa, r.verb, r.resource, r.group, r.namespace, r.name) == expected


def test_not_a_service_accounts_refusal_is_not_parsed():
    assert access.parse('pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "x"') is None
    assert access.parse("403 Forbidden") is None
    assert access.parse('pods "x" is forbidden: exceeded quota: compute, requested: cpu=2') is None


def test_distinct_refusals_bounded():
    texts = [MSG] * 5 + [MSG.replace("list", "watch")] + [MSG.replace("configmaps", f"r{i}") for i in range(10)]
    out = access.refusals(texts)
    assert len(out) == access.MAX_REQUESTS and [r.verb for r in out[:2]] == ["list", "watch"]


def rule(verbs, resources, groups=("",), names=()):
    return PolicyRuleEvidence(verbs=list(verbs), resources=list(resources), api_groups=list(groups), resource_names=list(names))


R = access.parse(MSG)
NAMED = access.parse(MSG.replace("configmaps is", 'configmaps "app" is').replace("cannot list", "cannot get"))
SCALE = access.parse(f'deployments.apps "web" is forbidden: User "{SA}" cannot patch resource "deployments/scale" in API group "apps" '
                     'in the namespace "shop"')


@pytest.mark.parametrize("r, rules, granted", [
    (R, [rule(["list"], ["configmaps"])], True),
    (R, [rule(["get", "watch"], ["configmaps"])], False),
    (R, [rule(["*"], ["*"], ["*"])], True),
    (R, [rule(["list"], ["configmaps"], ["apps"])], False),  # another API group
    (R, [rule(["list"], ["secrets"])], False),
    (R, [rule(["list"], ["configmaps"], names=["app"])], False),  # resourceNames never allow a list
    (NAMED, [rule(["get"], ["configmaps"], names=["app"])], True),
    (NAMED, [rule(["get"], ["configmaps"], names=["other"])], False),
    (SCALE, [rule(["patch"], ["deployments"], ["apps"])], False),  # the subresource must be named
    (SCALE, [rule(["patch"], ["*/scale"], ["apps"])], True),
    (SCALE, [rule(["patch"], ["deployments/scale"], ["apps"])], True),
])
def test_rules_match_as_rbac_matches(r, rules, granted):
    assert any(access.grants(x, r) for x in rules) is granted


@pytest.mark.parametrize("subject, binds", [
    ({"kind": "ServiceAccount", "name": "api", "namespace": "shop"}, "ServiceAccount shop/api"),
    ({"kind": "ServiceAccount", "name": "api", "namespace": "other"}, None),
    ({"kind": "ServiceAccount", "name": "web", "namespace": "shop"}, None),
    ({"kind": "Group", "name": "system:serviceaccounts:shop"}, "Group system:serviceaccounts:shop"),
    ({"kind": "Group", "name": "system:serviceaccounts:other"}, None),
    ({"kind": "User", "name": SA}, f"User {SA}"),
])
def test_which_subjects_bind_the_account(subject, binds):
    assert access.subject_binds(subject, R) == binds


# ---- the analyzer: one row per state of the account's RBAC --------------------------------------------------
def bundle(access_ev: list[dict] | None = None, log: str = MSG) -> EvidenceBundle:
    now = datetime.now(timezone.utc)
    pod = {"name": "api-1", "namespace": "shop", "phase": "Running", "workloadKind": "Deployment", "workloadName": "api",
           "containers": [{"name": "app", "image": "acme/api:3", "state": "running", "ready": True}],
           "logTail": "\n".join([log] * 3)}
    return EvidenceBundle.model_validate({
        "incident": "shop/x", "target": {"namespace": "shop", "kind": "Deployment", "name": "api"},
        "window": {"start": (now - timedelta(minutes=30)).isoformat(), "end": now.isoformat(), "anchor": now.isoformat()},
        "cluster": {"pods": [pod], "serviceAccounts": access_ev or []}})


def sa_access(**kw) -> dict:
    return {"name": "api", "namespace": "shop", "verb": "list", "resource": "configmaps", "apiGroup": "",
            "requestNamespace": "shop", "read": "ok", "roleBindings": 2, **kw}


BOUND_GET = {"name": "api-reader", "roleKind": "Role", "roleName": "config-reader", "subject": "ServiceAccount shop/api",
             "roleFound": True, "grants": False, "verbs": ["get", "watch"],
             "rules": [{"verbs": ["get", "watch"], "apiGroups": [""], "resources": ["configmaps"]}]}


@pytest.mark.parametrize("name, ev, title_has, actions_have, confidence", [
    ("no binding, denied", [sa_access(allowed=False)], ["`shop/api`를 바인딩하는 RoleBinding이 없음"],
     ["kubectl create role api-configmaps-list -n shop --verb=list --resource=configmaps",
      "kubectl create rolebinding api-configmaps-list -n shop --role=api-configmaps-list --serviceaccount=shop:api"], 0.95),
    ("no binding, review failed", [sa_access()], ["RoleBinding이 없음"], ["--verb=list --resource=configmaps"], 0.92),
    ("a Role without the verb", [sa_access(allowed=False, bindings=[BOUND_GET])],
     ["Role `config-reader`", "get, watch만 허용", "`list`는 허용하지 않음"],
     ['kubectl patch role config-reader -n shop --type=json', '"verbs":["list"]', '"resources":["configmaps"]'], 0.95),
    ("a binding to a missing Role", [sa_access(allowed=False, bindings=[{**BOUND_GET, "roleFound": False, "grants": None,
                                                                          "verbs": [], "rules": []}])],
     ["Role `config-reader`이(가) 없음"], ["kubectl create role config-reader -n shop --verb=list"], 0.95),
    ("a ClusterRole (not read)", [sa_access(allowed=False, bindings=[
        {"name": "api-view", "roleKind": "ClusterRole", "roleName": "view", "subject": "ServiceAccount shop/api"}])],
     ["ClusterRole `view`에 바인딩되어 있으나"], ["공유 ClusterRole을 넓히지 말고", "--verb=list --resource=configmaps"], 0.93),
    ("allowed now (fixed meanwhile)", [sa_access(allowed=True, bindings=[{**BOUND_GET, "grants": True, "verbs": ["get", "list"]}])],
     ["지금은 허용"], ["다시 확인"], 0.5),
    ("bindings not readable", [sa_access(read="failed", detail="Forbidden")], [], ["kubectl auth can-i list configmaps"], 0.9),
    ("nothing collected (an older bundle)", None, [], ["kubectl auth can-i list configmaps --as=system:serviceaccount:shop:api -n shop",
                                                       "kubectl create role"], 0.9),
])
def test_the_diagnosis_names_the_missing_rule(name, ev, title_has, actions_have, confidence):
    d = analyze(bundle(ev))
    top = d.causes[0]
    assert top.kind == "rbac-forbidden", name
    assert SA in top.title and "`configmaps`" in top.title and "`list`" in top.title
    for text in title_has:
        assert text in top.title, (name, top.title)
    actions = " ".join(top.immediate_actions)
    for text in actions_have:
        assert text in actions, (name, actions)
    assert top.confidence == confidence, name
    assert top.remediation is None  # RBAC is never changed automatically
    assert top.resource.kind == "ServiceAccount" and top.resource.name == "api" and top.resource.namespace == "shop"


def test_the_answer_is_the_same_for_the_json_body_the_pod_printed():
    top = analyze(bundle([sa_access(allowed=False)], log=BODY)).causes[0]
    assert top.kind == "rbac-forbidden" and "RoleBinding이 없음" in top.title and top.confidence == 0.95


def test_a_refusal_at_the_cluster_scope_needs_a_cluster_role():
    log = f'nodes is forbidden: User "{SA}" cannot list resource "nodes" in API group "" at the cluster scope'
    top = analyze(bundle([sa_access(resource="nodes", requestNamespace=None, read="cluster-scope")], log=log)).causes[0]
    assert "ClusterRole + ClusterRoleBinding" in top.title
    assert any("kubectl create clusterrole api-nodes-list --verb=list --resource=nodes" in a for a in top.immediate_actions)


def test_evidence_names_the_bindings_and_the_api_servers_answer():
    top = analyze(bundle([sa_access(allowed=False, bindings=[BOUND_GET])])).causes[0]
    texts = [e.text for e in top.evidence]
    assert any("RoleBinding `api-reader` → Role `config-reader`" in t and "get, watch" in t for t in texts)
    assert any("LocalSubjectAccessReview" in t and "거부" in t for t in texts)


def test_without_the_refusal_there_is_no_cause():
    assert RbacForbiddenAnalyzer().analyze(bundle(log="all good")) == []


# ---- the collector: what it reads, where, and how it fails ------------------------------------------------------
class FakeRbac:
    def __init__(self, bindings, roles, fail_list=None):
        self.bindings, self.roles, self.fail_list, self.calls = bindings, roles, fail_list, []

    def list_namespaced_role_binding(self, ns, **kw):
        self.calls.append(("list rolebindings", ns, kw.get("limit"), kw.get("_request_timeout")))
        if self.fail_list:
            raise client.ApiException(status=self.fail_list, reason="Forbidden")
        return NS(items=self.bindings)

    def read_namespaced_role(self, name, ns, **kw):
        self.calls.append(("get role", ns, name))
        if name not in self.roles:
            raise client.ApiException(status=404, reason="Not Found")
        return self.roles[name]


class FakeAuthz:
    def __init__(self, allowed=False, fail=None):
        self.allowed, self.fail, self.reviews = allowed, fail, []

    def create_namespaced_local_subject_access_review(self, ns, body, **kw):
        self.reviews.append((ns, body))
        if self.fail:
            raise client.ApiException(status=self.fail, reason="Forbidden")
        return NS(status=NS(allowed=self.allowed, reason=None, evaluation_error=None))


def binding(name, role, subjects, kind="Role"):
    return NS(metadata=NS(name=name, namespace="shop"), role_ref=NS(kind=kind, name=role),
              subjects=[NS(kind=s[0], name=s[1], namespace=s[2] if len(s) > 2 else None) for s in subjects])


def collector(rbac, authz, scope=None):
    return ClusterCollector(NS(rbac=rbac, authorization=authz), scope=scope)


def test_collector_reads_the_bindings_of_the_account_and_their_roles_and_asks_the_api_server():
    rbac = FakeRbac([binding("api-reader", "config-reader", [("ServiceAccount", "api", "shop")]),
                     binding("others", "config-reader", [("ServiceAccount", "web", "shop")]),
                     binding("api-view", "view", [("Group", "system:serviceaccounts:shop")], kind="ClusterRole")],
                    {"config-reader": NS(rules=[client.V1PolicyRule(verbs=["get", "watch"], api_groups=[""], resources=["configmaps"]),
                                                client.V1PolicyRule(verbs=["*"], api_groups=[""], resources=["secrets"])])})
    authz = FakeAuthz(allowed=False)
    [ev] = collector(rbac, authz, Scope(namespaces=frozenset({"shop"}), nodes=False)).service_account_access("shop", [R])
    assert ev.read == "ok" and ev.role_bindings == 3 and ev.allowed is False
    assert [(b.name, b.role_kind, b.role_name, b.role_found, b.grants, b.verbs) for b in ev.bindings] == [
        ("api-reader", "Role", "config-reader", True, False, ["get", "watch"]),
        ("api-view", "ClusterRole", "view", None, None, [])]
    assert [x.resources for x in ev.bindings[0].rules] == [["configmaps"]]  # only the rules about the request
    assert ("get role", "shop", "view") not in rbac.calls  # a ClusterRole is never read
    assert rbac.calls[0] == ("list rolebindings", "shop", 500, 5)
    ns, body = authz.reviews[0]
    assert ns == "shop" and body.spec.user == SA and "system:serviceaccounts:shop" in body.spec.groups
    assert (body.spec.resource_attributes.verb, body.spec.resource_attributes.resource,
            body.spec.resource_attributes.namespace) == ("list", "configmaps", "shop")


def test_collector_reads_nothing_outside_the_incidents_namespace_or_at_the_cluster_scope():
    rbac, authz = FakeRbac([], {}), FakeAuthz()
    other = access.parse(MSG.replace('namespace "shop"', 'namespace "billing"'))
    nodes = access.parse(f'nodes is forbidden: User "{SA}" cannot list resource "nodes" in API group "" at the cluster scope')
    out = collector(rbac, authz, Scope(namespaces=frozenset({"shop"}), nodes=False)).service_account_access("shop", [other, nodes])
    assert [e.read for e in out] == ["out-of-scope", "cluster-scope"]
    assert rbac.calls == [] and authz.reviews == []
    # a protected namespace is not read either, even when the target is there
    kube_system = access.parse(MSG.replace('namespace "shop"', 'namespace "kube-system"'))
    out = collector(rbac, authz, Scope(namespaces=None, nodes=True)).service_account_access("kube-system", [kube_system])
    assert out[0].read == "out-of-scope" and rbac.calls == [] and authz.reviews == []


def test_each_read_fails_on_its_own():
    rbac, authz = FakeRbac([], {}, fail_list=403), FakeAuthz(allowed=False)
    [ev] = collector(rbac, authz).service_account_access("shop", [R])
    assert ev.read == "failed" and ev.detail == "Forbidden" and ev.allowed is False  # the review still answered
    rbac, authz = FakeRbac([binding("api-reader", "gone", [("ServiceAccount", "api", "shop")])], {}), FakeAuthz(fail=403)
    [ev] = collector(rbac, authz).service_account_access("shop", [R])
    assert ev.read == "ok" and ev.bindings[0].role_found is False and ev.allowed is None


def test_the_bindings_are_listed_once_per_collection():
    rbac, authz = FakeRbac([], {}), FakeAuthz()
    two = [R, access.parse(MSG.replace("cannot list", "cannot watch"))]
    collector(rbac, authz).service_account_access("shop", two)
    assert [c[0] for c in rbac.calls] == ["list rolebindings"] and len(authz.reviews) == 2


def test_merging_suspects_keeps_each_refusal_of_one_account_once():
    from incident_operator.models.evidence import ClusterEvidence, ServiceAccountAccessEvidence
    from incident_operator.sources import merge

    def ev(verb):
        return ServiceAccountAccessEvidence(name="api", namespace="shop", verb=verb, resource="configmaps", request_namespace="shop")
    merged = merge(ClusterEvidence(service_accounts=[ev("list")]), ClusterEvidence(service_accounts=[ev("list"), ev("watch")]))
    assert [e.verb for e in merged.service_accounts] == ["list", "watch"]


def _ctx_with(rbac, authz):
    from incident_operator.sources import ClusterSource
    source = ClusterSource.__new__(ClusterSource)
    source.collector = collector(rbac, authz, Scope(namespaces=frozenset({"shop"}), nodes=False))
    return NS(sources=[source])


def test_a_refusal_only_the_log_index_holds_is_looked_into_after_the_sources():
    from incident_operator.phases.collect import _refusals_in_logs
    b = EvidenceBundle.model_validate({**bundle(log="all good").model_dump(by_alias=True),
                                       "logs": [{"message": BODY, "level": "ERROR"}]})
    rbac, authz = FakeRbac([], {}), FakeAuthz(allowed=False)
    out = _refusals_in_logs(_ctx_with(rbac, authz), b, 5)
    assert [(a.name, a.verb, a.read, a.allowed) for a in out.cluster.service_accounts] == [("api", "list", "ok", False)]
    assert analyze(out).causes[0].title.endswith("`shop/api`를 바인딩하는 RoleBinding이 없음")
    # what the cluster source already read is not read again
    rbac2, authz2 = FakeRbac([], {}), FakeAuthz()
    assert _refusals_in_logs(_ctx_with(rbac2, authz2), out, 5) == out and rbac2.calls == [] and authz2.reviews == []


def test_refusals_the_cluster_source_read_do_not_hide_a_new_one_in_the_log_index():
    """The log index's distinct refusals were capped at three before the known ones were left out: three the
    cluster source had read already hid a fourth (review finding)."""
    from incident_operator.phases.collect import _refusals_in_logs
    verbs = ("get", "watch", "update", "list")
    lines = [MSG.replace("cannot list", f"cannot {v}") for v in verbs]
    b = EvidenceBundle.model_validate({**bundle(log="all good").model_dump(by_alias=True),
                                       "logs": [{"message": line} for line in lines]})
    known = _refusals_in_logs(_ctx_with(FakeRbac([], {}), FakeAuthz(allowed=False)), b, 5)
    assert [a.verb for a in known.cluster.service_accounts] == ["get", "watch", "update"]
    out = _refusals_in_logs(_ctx_with(FakeRbac([], {}), FakeAuthz(allowed=False)), known, 5)
    assert [a.verb for a in out.cluster.service_accounts] == ["get", "watch", "update", "list"]


def test_a_late_rbac_read_does_not_hold_the_collect_phase():
    import threading
    import time

    from incident_operator.phases.collect import _refusals_in_logs
    b = EvidenceBundle.model_validate({**bundle(log="all good").model_dump(by_alias=True), "logs": [{"message": MSG}]})
    release = threading.Event()

    class Slow(FakeRbac):
        def list_namespaced_role_binding(self, ns, **kw):
            release.wait(10)
            return NS(items=[])
    t0 = time.monotonic()
    out = _refusals_in_logs(_ctx_with(Slow([], {}), FakeAuthz()), b, 1)
    release.set()
    assert time.monotonic() - t0 < 3 and out.cluster.service_accounts == []


def test_scenario_21_keeps_its_answer_and_confidence_when_the_account_is_another_namespaces():
    """scenarios/21-rbac-forbidden replays in a fresh namespace while its logs (OpenSearch) name `apps:config-sync`:
    the refusal is outside the Incident's namespace, so nothing is read and the answer stays the logs' own (0.9)."""
    from pathlib import Path

    from incident_operator.phases.collect import _refusals_in_logs
    logs = [json.loads(line) for line in (Path(__file__).parents[1] / "scenarios" / "21-rbac-forbidden" / "logs.jsonl")
            .read_text().splitlines() if line.strip()]
    b = bundle(log="started").model_dump(by_alias=True)
    b = EvidenceBundle.model_validate({**b, "target": {"namespace": "scen-1a2b3c", "kind": "Deployment", "name": "sync"},
                                       "logs": [{"message": x["message"], "level": x["level"]} for x in logs]})
    rbac, authz = FakeRbac([], {}), FakeAuthz()
    out = _refusals_in_logs(_ctx_with(rbac, authz), b, 5)
    assert [a.read for a in out.cluster.service_accounts] == ["out-of-scope"] and rbac.calls == [] and authz.reviews == []
    top = analyze(out).causes[0]
    assert top.kind == "rbac-forbidden" and top.confidence == 0.9 and "system:serviceaccount:apps:config-sync" in top.title


# ---- what an independent review found (each fails on the code before it) -----------------------------------------
def test_a_log_line_naming_another_namespaces_account_asks_the_api_server_nothing():
    """A tenant's log line in `shop` naming kube-system's account had the operator run a review for that account and
    put the API server's answer (with the ClusterRoleBinding that allows it) in the tenant's evidence."""
    rbac, authz = FakeRbac([], {}), FakeAuthz(allowed=True)
    foreign = access.parse(MSG.replace("system:serviceaccount:shop:api", "system:serviceaccount:kube-system:foo"))
    [ev] = collector(rbac, authz, Scope(namespaces=frozenset({"shop"}), nodes=False)).service_account_access("shop", [foreign])
    assert ev.read == "out-of-scope" and rbac.calls == [] and authz.reviews == []


def test_a_service_account_subject_without_a_namespace_is_the_bindings_own():
    """RBAC reads a ServiceAccount subject with no namespace as the RoleBinding's namespace's (appliesToUser)."""
    subject = {"kind": "ServiceAccount", "name": "api"}
    assert access.subject_binds(subject, R, "shop") == "ServiceAccount shop/api"
    assert access.subject_binds(subject, R, "billing") is None


def test_a_namespace_with_more_rolebindings_than_one_page_is_not_said_to_have_none():
    rbac, authz = FakeRbac([], {}), FakeAuthz(allowed=False)
    rbac.list_namespaced_role_binding = lambda ns, **kw: NS(items=[], metadata=NS(_continue="more"))
    [ev] = collector(rbac, authz).service_account_access("shop", [R])
    assert ev.read == "partial"
    top = analyze(bundle([sa_access(read="partial", roleBindings=500, allowed=False)])).causes[0]
    assert "RoleBinding이 없음" not in top.title and top.confidence == 0.9


def test_names_from_logs_and_bindings_are_quoted_in_the_commands_to_copy():
    """An object name with a shell command in it was pasted into `kubectl create role … --resource-name=…`."""
    evil = access.parse(f'secrets "x; kubectl create clusterrolebinding pwn --clusterrole=cluster-admin" is forbidden: '
                        f'User "{SA}" cannot get resource "secrets" in API group "" in the namespace "shop"')
    assert evil is not None and evil.name is None  # not a Kubernetes name: not taken as the object
    from incident_operator.analyzers.rbac_forbidden import _add_rule, _create_role
    named = access.Refusal("shop", "api", "get", "secrets", "", "shop", "db-creds")
    assert "--resource-name=db-creds" in _create_role(named)[0]
    patch = _add_rule("it's; rm -rf /", named)
    assert "'it'\"'\"'s; rm -rf /'" in patch and "-p '[{\"op\":\"add\"" in patch


def test_finding_the_refusal_costs_about_a_plain_scan_on_long_word_runs():
    """The pattern's optional object prefix tried ~500 steps at every character (320 KB of letters: 2.5 s, holding
    the GIL): now the text is scanned for the literal first, and the pattern runs only in bounded windows around
    at most a few anchors."""
    import re
    import time

    def cpu(fn) -> float:
        started = time.thread_time()
        for _ in range(5):
            fn()
        return time.thread_time() - started
    letters = "a" * 320_000
    scan = cpu(lambda: re.search(r"forbidden: User ", letters, re.I))
    assert cpu(lambda: access.parse(letters)) < 50 * max(scan, 1e-4)
    anchors = ("a" * 700 + "forbidden: User x ") * 400  # ~290 KB of near misses: eight windows are tried, not 400
    assert cpu(lambda: access.parse(anchors)) < 40 * cpu(lambda: access.parse(anchors[:24_000])) + 0.05
