"""The Helm chart (charts/incident-operator): what `helm install` gives an operator user, on the real
kube-apiserver — the same RBAC as manifests/, CRDs that outlive the release, and alerts and a dashboard
on the metrics the operator really serves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from incident_operator import metrics
from incident_operator.constants import GROUP, PLURAL, VERSION
from incident_operator.settings import Settings

from local_stack.cluster import ROOT, kubectl_path, wait_for
from local_stack.workloads import incident

CHART = ROOT / "charts" / "incident-operator"
RBAC_KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")


@cache
def helm() -> str:
    """The helm client built from Go modules by hack/build-helm.sh (cached; `make cluster-build` builds it)."""
    out = subprocess.run(["bash", str(ROOT / "hack" / "build-helm.sh")], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def run_helm(*args: str, kubeconfig: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HELM_CACHE_HOME": str(ROOT / ".local" / "helm" / "cache"),
           "HELM_CONFIG_HOME": str(ROOT / ".local" / "helm" / "config"),
           "HELM_DATA_HOME": str(ROOT / ".local" / "helm" / "data")}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    proc = subprocess.run([helm(), *args], capture_output=True, text=True, env=env)
    if check and proc.returncode:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return proc


def template(*args: str, release: str = "incident-operator", namespace: str = "incident-operator") -> list[dict]:
    out = run_helm("template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run([kubectl_path(), "kustomize", str(path)], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def cli_rbac(*args: str) -> list[dict]:
    """What the admin applies next to manifests/ (`incident-operator rbac ...`)."""
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "rbac", *args],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


# --- CRDs --------------------------------------------------------------------------------------------

def test_chart_crds_are_byte_identical_copies_of_crds():
    """Helm installs charts/.../crds/ (and never deletes it); it must be exactly what crds/ defines
    (`make chart-crds` copies them)."""
    top = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert sorted(chart) == sorted(top), "run `make chart-crds`"
    for name in top:
        assert chart[name] == top[name], f"charts/incident-operator/crds/{name} differs from crds/{name}: run `make chart-crds`"


# --- rendering -----------------------------------------------------------------------------------------

def test_helm_lint_passes_with_defaults_and_with_everything_on():
    run_helm("lint", "--strict", str(CHART))
    run_helm("lint", "--strict", str(CHART), "--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true",
             "--set", "grafanaDashboard.enabled=true,remediation.namespaces={shop},tenantNamespaces={team}",
             "--set", "secrets.github.token=ghp_x,llm.enabled=true,watchNamespaces={shop,team}")


def rbac_of(docs: list[dict]) -> dict[tuple[str, str, str], object]:
    """Roles' rules and bindings' roleRef/subjects, by (kind, namespace, name); labels and order set aside."""
    out: dict[tuple[str, str, str], object] = {}
    for d in docs:
        if d["kind"] not in RBAC_KINDS:
            continue
        key = (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        assert key not in out, f"{key} rendered twice"
        if d["kind"] in ("ClusterRole", "Role"):
            out[key] = sorted(json.dumps({k: sorted(v) for k, v in r.items()}, sort_keys=True) for r in d["rules"])
        else:
            out[key] = {"roleRef": d["roleRef"], "subjects": sorted(json.dumps(s, sort_keys=True) for s in d["subjects"])}
    return out


def normalised(docs: list[dict], names: dict[str, str]) -> list[dict]:
    """The release's names (and namespace) replaced by manifests/' ones, wherever RBAC names them."""
    def fix(value: str) -> str:
        for old, new in names.items():
            if value == old or value.startswith(old + "-"):
                return new + value[len(old):]
        return value
    out = json.loads(json.dumps(docs))
    for d in out:
        meta = d["metadata"]
        meta["name"] = fix(meta["name"])
        if "namespace" in meta:
            meta["namespace"] = fix(meta["namespace"])
        if "roleRef" in d:
            d["roleRef"]["name"] = fix(d["roleRef"]["name"])
        for subject in d.get("subjects", []):
            subject["name"] = fix(subject["name"])
            if "namespace" in subject:  # not a Group's
                subject["namespace"] = fix(subject["namespace"])
        for rule in d.get("rules", []):
            if "resourceNames" in rule:
                rule["resourceNames"] = [fix(n) for n in rule["resourceNames"]]
    return out


def test_chart_renders_the_same_rbac_as_kustomize_and_the_rbac_command():
    """Same settings, same grants: manifests/ plus `incident-operator rbac` for a tenant namespace and a
    remediation namespace, against `helm template` with tenantNamespaces and remediation.namespaces."""
    kust = kustomize(ROOT / "manifests") + cli_rbac("-n", "team") + cli_rbac("-n", "shop", "--remediation", "--no-incidents")
    chart = template("--set", "remediation.namespaces={shop}", "--set", "tenantNamespaces={team}")
    assert rbac_of(chart) == rbac_of(kust)
    # and with nothing listed: exactly manifests/
    assert rbac_of(template()) == rbac_of(kustomize(ROOT / "manifests"))
    # with the Alertmanager receiver: manifests/alertmanager-webhook/ too
    with_webhook = template("--set", "webhook.enabled=true,webhook.token=t0ken")
    assert rbac_of(with_webhook) == rbac_of(kustomize(ROOT / "manifests") + kustomize(ROOT / "manifests" / "alertmanager-webhook"))
    # another release name and namespace: the same grants, names normalised
    other = template("--set", "remediation.namespaces={shop}", "--set", "tenantNamespaces={team}",
                     release="ops", namespace="platform")
    assert rbac_of(normalised(other, {"ops-incident-operator": "incident-operator", "platform": "incident-operator"})) \
        == rbac_of(kust)
    # no write to a built-in object is bound cluster-wide
    bound = {d["roleRef"]["name"] for d in chart if d["kind"] == "ClusterRoleBinding"}
    assert bound == {"incident-operator", "incident-operator-evidence"}
    # RBAC itself only read: the namespaced objects, and the namespaced access review (issue 24); ClusterRoles,
    # ClusterRoleBindings and the cluster-wide SubjectAccessReview never
    rbac_rules = [(g, r, tuple(rule["verbs"])) for d in chart if d["kind"] in ("ClusterRole", "Role")
                  for rule in d.get("rules", []) for g in rule.get("apiGroups", [])
                  for r in rule.get("resources", []) if g in ("rbac.authorization.k8s.io", "authorization.k8s.io")]
    assert sorted(rbac_rules) == [("authorization.k8s.io", "localsubjectaccessreviews", ("create",)),
                                  ("rbac.authorization.k8s.io", "rolebindings", ("get", "list")),
                                  ("rbac.authorization.k8s.io", "roles", ("get", "list"))]


def test_chart_defaults_configure_the_operator_like_manifests(monkeypatch):
    kust = one(kustomize(ROOT / "manifests"), "ConfigMap")["data"]
    chart = one(template(), "ConfigMap")["data"]

    def settings(env: dict[str, str]) -> dict:
        for k in [k for k in os.environ if k.startswith("INCIDENT_")]:
            monkeypatch.delenv(k)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return Settings(identity="x").model_dump()
    from_chart, from_kust = settings(chart), settings(kust)
    assert from_chart == from_kust
    assert from_chart["protected_namespaces"] == sorted(["incident-operator", "kube-node-lease", "kube-public", "kube-system"])


def test_chart_pods_are_as_locked_down_as_manifests():
    kust = one(kustomize(ROOT / "manifests"), "Deployment")["spec"]
    chart = one(template(), "Deployment")["spec"]
    assert chart["replicas"] == kust["replicas"] == 2
    assert chart["template"]["spec"]["securityContext"] == kust["template"]["spec"]["securityContext"]
    k, c = kust["template"]["spec"]["containers"][0], chart["template"]["spec"]["containers"][0]
    for key in ("securityContext", "resources", "livenessProbe", "readinessProbe", "volumeMounts"):
        assert c[key] == k[key], key
    assert c["args"][:3] == k["args"] and c["image"] == k["image"]
    assert {"name": "metrics", "containerPort": 8080} in c["ports"]


def test_remediation_off_binds_remediation_nowhere_and_tells_the_operator():
    docs = template("--set", "remediation.enabled=false,remediation.namespaces={shop}")
    assert not [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"].endswith("-remediation")]
    assert one(docs, "ConfigMap")["data"]["INCIDENT_REMEDIATION_ENABLED"] == "false"


@pytest.mark.parametrize("values", ["remediation.namespaces={kube-system}", "tenantNamespaces={kube-public}",
                                    "incidentNamespaces={kube-system}", "remediation.namespaces={incident-operator}"])
def test_chart_refuses_bindings_in_protected_namespaces(values):
    proc = run_helm("template", "incident-operator", str(CHART), "-n", "incident-operator", "--set", values, check=False)
    assert proc.returncode != 0 and "never granted in protected namespaces" in proc.stderr


@pytest.mark.parametrize("values, message", [
    ("remediation.namespace=shop", "additional properties 'namespace' not allowed"),  # a typo is not silently ignored
    ("llm.mode=remote", "value must be one of 'local', 'agentcore'"),
    ("remediation.namespaces={Shop_1}", "does not match pattern"),
    ("extraConfig.WORKERS=8", "WORKERS"),
    ("slack.channel=#ops", "does not match pattern"),  # Slack's API takes the channel's ID
    # issue 23, finding 4: every namespace an incident namespace only on purpose; no key set twice
    ("incidentNamespaces={*}", "has no literal prefix"),
    ("incidentNamespaces={ops,?*}", "has no literal prefix"),
    ("extraConfig.INCIDENT_PROTECTED_NAMESPACES=[]", "extraConfig.INCIDENT_PROTECTED_NAMESPACES: the chart already sets"),
    ("extraConfig.INCIDENT_INCIDENT_NAMESPACES=*", "from incidentNamespaces"),
    ("bridge.kubernetesGroup=system:masters", "/bridge/kubernetesGroup"),
])
def test_bad_values_get_a_clear_error(values, message):
    proc = run_helm("template", "incident-operator", str(CHART), "--set", values, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_every_namespace_as_an_incident_namespace_only_with_the_opt_in():
    data = one(template("--set", "incidentNamespaces={*},allowWildcardIncidentNamespaces=true"), "ConfigMap")["data"]
    assert json.loads(data["INCIDENT_INCIDENT_NAMESPACES"]) == ["*"]
    assert json.loads(one(template("--set", "incidentNamespaces={ops-*}"), "ConfigMap")["data"]["INCIDENT_INCIDENT_NAMESPACES"]) == ["ops-*"]
    data = one(template("--set", "extraConfig.INCIDENT_WORKERS=8"), "ConfigMap")["data"]  # a key the chart does not set
    assert data["INCIDENT_WORKERS"] == "8"


def test_chart_renders_the_same_admission_policies_as_kustomize():
    """What RBAC cannot name (the alarm writers' own ConfigMaps; a re-run of an archived Incident), the same in both."""
    kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")

    def policies(docs):
        return {(d["kind"], d["metadata"]["name"]): d["spec"] for d in docs if d["kind"] in kinds}
    kust = policies(kustomize(ROOT / "manifests"))
    assert sorted(name for kind, name in kust if kind == kinds[0]) == [
        "incident-operator-alarm-writers", "incident-operator-approvals", "incident-operator-archived-rerun"]
    assert policies(template()) == kust
    writers = (kinds[0], "ops-incident-operator-alarm-writers")
    other = policies(template("--set", "bridge.kubernetesGroup=ops:bridge", release="ops", namespace="platform"))
    expression = other[writers]["matchConditions"][0]["expression"]
    assert "system:serviceaccount:platform:ops-incident-operator-webhook" in expression and "'ops:bridge'" in expression
    assert other[(kinds[1], writers[1])]["policyName"] == writers[1]
    none = policies(template("--set", "bridge.kubernetesGroup="))
    assert "groups" not in none[(kinds[0], "incident-operator-alarm-writers")]["matchConditions"][0]["expression"]


def test_watched_and_incident_namespaces_and_llm_settings_reach_the_operator(monkeypatch):
    docs = template("--set", "watchNamespaces={shop,team},incidentNamespaces={ops,ops-*}",
                    "--set", "llm.enabled=true,llm.modelId=my-model,llm.region=us-west-2,llm.mode=agentcore,llm.provider=openai",
                    "--set", "llm.baseUrl=http://vllm.models:8000/v1",
                    "--set", "llm.agentcore.runtimeArn=arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/x")
    data = one(docs, "ConfigMap")["data"]
    for k in [k for k in os.environ if k.startswith("INCIDENT_")]:
        monkeypatch.delenv(k)
    for k, v in data.items():
        monkeypatch.setenv(k, v)
    s = Settings(identity="x")
    assert s.namespaces == ["shop", "team"] and s.incident_namespaces == ["ops", "ops-*"]
    assert (s.llm_enabled, s.llm_model_id, s.llm_region, s.llm_mode) == (True, "my-model", "us-west-2", "agentcore")
    assert (s.llm_provider, s.llm_base_url) == ("openai", "http://vllm.models:8000/v1")
    assert s.agentcore_runtime_arn.endswith("runtime/x")
    # a pattern cannot be bound: only `ops` gets the evidence-store binding
    stores = [d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"
              and d["roleRef"]["name"] == "incident-operator-evidence-store"]
    assert stores == ["ops"]


def test_secrets_from_values_or_an_existing_secret_and_only_that_secret_is_readable():
    docs = template("--set", "secrets.github.token=ghp_abc,secrets.github.repo=acme/ops",
                    "--set", "secrets.slack.token=xoxb-1-2,slack.channel=C0123ABC,secrets.llmApiKey=sk-ant-x")
    assert one(docs, "Secret")["stringData"] == {"GITHUB_TOKEN": "ghp_abc", "GITHUB_REPO": "acme/ops",
                                                 "INCIDENT_SLACK_TOKEN": "xoxb-1-2", "INCIDENT_LLM_API_KEY": "sk-ant-x"}
    assert one(docs, "ConfigMap")["data"]["INCIDENT_SLACK_CHANNEL"] == "C0123ABC"  # not a secret
    assert one(docs, "Role", "incident-operator-secrets")["rules"][0]["resourceNames"] == ["incident-operator"]
    assert not [d for d in template() if d["kind"] == "Secret"]  # nothing set, nothing created
    docs = template("--set", "secrets.existingSecret=ops-creds,secrets.github.token=ignored")
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert one(docs, "Role", "incident-operator-secrets")["rules"][0]["resourceNames"] == ["ops-creds"]
    env_from = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "ops-creds", "optional": False}} in env_from


def test_webhook_receiver_needs_its_token_and_never_selects_the_operator():
    proc = run_helm("template", "incident-operator", str(CHART), "--set", "webhook.enabled=true", check=False)
    assert proc.returncode != 0 and "webhook.existingSecret" in proc.stderr
    docs = template("--set", "webhook.enabled=true,webhook.existingSecret=am-token")
    assert not [d for d in docs if d["kind"] == "Secret"]
    receiver = one(docs, "Deployment", "incident-operator-webhook")
    env = {e["name"]: e for e in receiver["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["INCIDENT_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "am-token", "key": "INCIDENT_WEBHOOK_TOKEN"}
    labels = receiver["spec"]["template"]["metadata"]["labels"]
    operator = one(docs, "Deployment", "incident-operator")
    for selector in (operator["spec"]["selector"]["matchLabels"], one(docs, "Service", "incident-operator-metrics")["spec"]["selector"],
                     one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert not selector.items() <= labels.items()


def test_no_iam_role_unless_given():
    assert not one(template(), "ServiceAccount")["metadata"].get("annotations")
    arn = "arn:aws:iam::210987654321:role/incident-operator"
    sa = one(template("--set-string", f"serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={arn}"), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}


def test_replicas_get_a_disruption_budget_and_are_spread():
    docs = template()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == ["kubernetes.io/hostname"]
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == selector
    single = template("--set", "replicaCount=1")
    assert not [d for d in single if d["kind"] == "PodDisruptionBudget"]


def exposed_metrics() -> dict[str, set[str]]:
    """Series names /metrics serves (prometheus_client naming) → their label names."""
    from prometheus_client.metrics import MetricWrapperBase

    out: dict[str, set[str]] = {}
    suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",), "gauge": ("",)}
    for m in [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]:
        for family in m.collect():
            names = {family.name + s for s in suffixes[family.type]}
            for n in names:
                out[n] = set(m._labelnames) | ({"le"} if n.endswith("_bucket") else set())
    out[metrics.PendingApprovals.NAME] = set()  # a collector of its own (read from the API server when scraped)
    return out


SELECTOR = re.compile(r"(incident_operator_\w+)\s*(\{[^}]*\})?")


def check_expressions(exprs: list[str]) -> set[str]:
    served = exposed_metrics()
    used = set()
    for expr in exprs:
        depth = {"(": 0, "{": 0, "[": 0}
        for ch in expr:
            if ch in depth:
                depth[ch] += 1
            elif ch in ")}]":
                depth[{")": "(", "}": "{", "]": "["}[ch]] -= 1
                assert min(depth.values()) >= 0, f"unbalanced: {expr}"
        assert set(depth.values()) == {0}, f"unbalanced: {expr}"
        for name, matchers in SELECTOR.findall(expr):
            assert name in served, f"{name} is not served by operator/incident_operator/metrics.py ({expr})"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", matchers or "")) - {"job", "namespace"}
            assert labels <= served[name], f"{name} has no label(s) {labels - served[name]}"
            used.add(name)
    return used


def test_alerts_and_dashboard_use_only_metrics_the_operator_serves():
    docs = template("--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true")
    rules = [r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {"IncidentOperatorDown", "IncidentOperatorIncidentFailed",
                                           "IncidentOperatorRemediationFailed", "IncidentOperatorToolFailing"}
    check_expressions([r["expr"] for r in rules])
    # every alert selects the series of this release's metrics Service, as the ServiceMonitor scrapes it
    service = one(docs, "Service")
    assert all(f'job="{service["metadata"]["name"]}"' in r["expr"] for r in rules)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    dashboard = one(docs, "ConfigMap", "incident-operator-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["incident-operator.json"])
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "namespace", "job"}
    used = check_expressions([t["expr"] for p in board["panels"] for t in p["targets"]])
    assert {n.removesuffix("_bucket").removesuffix("_count") for n in used} >= {
        "incident_operator_incidents_total", "incident_operator_phase_duration_seconds", "incident_operator_tool_calls_total",
        "incident_operator_remediations_total", "incident_operator_llm_calls_total", "incident_operator_llm_tokens_total",
        "incident_operator_phase_retries_total", "incident_operator_incidents_queued", "incident_operator_feature_ready"}
    # nothing of that renders unless asked (the Prometheus Operator's CRDs may be absent)
    assert not {d["kind"] for d in template()} & {"ServiceMonitor", "PrometheusRule"}


def test_series_the_alerts_watch_exist_before_their_first_event():
    """increase() cannot see the event that creates a series: the ones the alerts count start at 0."""
    from prometheus_client import REGISTRY
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.exposition import generate_latest

    from incident_operator.remediation.policy import ALLOWED_ACTIONS

    served = {(s.name, tuple(sorted(s.labels.items()))) for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())
              for s in f.samples}
    assert ("incident_operator_incidents_total", (("outcome", "failed"), ("phase", "Failed"))) in served
    for action in ALLOWED_ACTIONS:
        for result in ("failed", "unverified"):
            assert ("incident_operator_remediations_total", (("action", action), ("result", result))) in served


# --- on the real API server -----------------------------------------------------------------------------

# The parts of the Prometheus Operator's CRDs (monitoring.coreos.com/v1) the chart uses, with structural
# schemas and no unknown fields allowed, so that the server's strict validation checks the chart's field
# names (ServiceMonitor: spec.selector/namespaceSelector/endpoints[]; PrometheusRule: spec.groups[].rules[]).
def _crd(plural: str, kind: str, spec: dict) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "listKind": f"{kind}List", "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "required": ["spec"], "properties": {"spec": spec}}}}]}}


STR = {"type": "string"}
DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
LABELS = {"type": "object", "additionalProperties": STR}
PROMETHEUS_OPERATOR_CRDS = [
    _crd("servicemonitors", "ServiceMonitor", {"type": "object", "required": ["selector", "endpoints"], "properties": {
        "jobLabel": STR,
        "selector": {"type": "object", "properties": {"matchLabels": LABELS}},
        "namespaceSelector": {"type": "object", "properties": {"any": {"type": "boolean"},
                                                               "matchNames": {"type": "array", "items": STR}}},
        "endpoints": {"type": "array", "items": {"type": "object", "properties": {
            "port": STR, "path": STR, "interval": DURATION,
            "scrapeTimeout": STR, "scheme": STR}}}}}),
    _crd("prometheusrules", "PrometheusRule", {"type": "object", "properties": {"groups": {"type": "array", "items": {
        "type": "object", "required": ["name"], "properties": {"name": STR, "interval": STR, "rules": {"type": "array", "items": {
            "type": "object", "required": ["expr"], "properties": {
                "alert": STR, "record": STR, "expr": {"x-kubernetes-int-or-string": True},
                "for": STR, "labels": LABELS, "annotations": LABELS}}}}}}}}),
]


def kubectl(kubeconfig: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl_path(), *args], input=input, capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": kubeconfig})


def test_rendered_chart_passes_server_side_dry_run(kubeconfig, kube, make_namespace):
    for crd in PROMETHEUS_OPERATOR_CRDS:
        proc = kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(crd))
        assert proc.returncode == 0, proc.stderr
        name = crd["metadata"]["name"]
        wait_for(lambda: any(c.type == "Established" and c.status == "True" for c in
                             client.ApiextensionsV1Api().read_custom_resource_definition(name).status.conditions or []),
                 30, f"CRD {name}")
    release_ns, shop, team = make_namespace("t-helm"), make_namespace("t-helm"), make_namespace("t-helm")
    out = run_helm("template", "dry", str(CHART), "-n", release_ns, "--include-crds",
                   "--set", f"remediation.namespaces={{{shop}}},tenantNamespaces={{{team}}}",
                   "--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true",
                   "--set", "secrets.github.token=ghp_x,watchNamespaces={a,b},webhook.enabled=true,webhook.token=t0ken",
                   "--set-string",
                   "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::210987654321:role/x").stdout
    proc = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=out)
    assert proc.returncode == 0, proc.stderr
    applied = proc.stdout
    for kind in ("customresourcedefinition.apiextensions.k8s.io/incidents.netaiops.io",
                 "deployment.apps/dry-incident-operator", "poddisruptionbudget.policy/dry-incident-operator",
                 "servicemonitor.monitoring.coreos.com/dry-incident-operator",
                 "prometheusrule.monitoring.coreos.com/dry-incident-operator",
                 "rolebinding.rbac.authorization.k8s.io/dry-incident-operator-remediation",
                 "deployment.apps/dry-incident-operator-webhook"):
        assert kind in applied, applied
    # a typo in a field name is refused by the same check (strict validation against the schema)
    bad = out.replace("namespaceSelector:", "namespaceSelectr:")
    proc = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=bad)
    assert proc.returncode != 0 and "namespaceSelectr" in proc.stderr


def can(user: str, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user, resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace)))
    return client.AuthorizationV1Api().create_subject_access_review(review).status.allowed


def test_install_upgrade_uninstall_keeps_crds_and_incidents(kubeconfig, kube, make_namespace):
    release_ns, shop = make_namespace("t-helm"), make_namespace("t-helm")
    release = f"io-{uuid.uuid4().hex[:6]}"
    fullname = f"{release}-incident-operator"
    sa = f"system:serviceaccount:{release_ns}:{fullname}"
    try:
        run_helm("install", release, str(CHART), "-n", release_ns, "--wait", "--timeout", "180s",
                 "--set", f"remediation.namespaces={{{shop}}},webhook.enabled=true,webhook.token=t0ken", kubeconfig=kubeconfig)
        receiver = kube.apps.read_namespaced_deployment(f"{fullname}-webhook", release_ns)
        assert receiver.status.ready_replicas == 2
        assert can(f"system:serviceaccount:{release_ns}:{fullname}-webhook", "create", "incidents", release_ns, "netaiops.io")
        assert not can(f"system:serviceaccount:{release_ns}:{fullname}-webhook", "create", "incidents", shop, "netaiops.io")
        dep = kube.apps.read_namespaced_deployment(fullname, release_ns)
        assert dep.status.ready_replicas == 2 and dep.status.available_replicas == 2
        operator_pods = f"app.kubernetes.io/instance={release},app.kubernetes.io/name=incident-operator"
        pods = kube.core.list_namespaced_pod(release_ns, label_selector=operator_pods).items
        assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        assert all(c.type != "Ready" or c.status == "True" for p in pods for c in p.status.conditions)
        assert len({p.spec.node_name for p in pods}) == 2  # spread across the kwok nodes
        assert client.PolicyV1Api().read_namespaced_pod_disruption_budget(fullname, release_ns).spec.max_unavailable == 1
        svc = kube.core.read_namespaced_service(f"{fullname}-metrics", release_ns)
        assert [(p.name, p.port) for p in svc.spec.ports] == [("metrics", 8080)]
        assert can(sa, "patch", "deployments", shop, "apps") and can(sa, "create", "configmaps", release_ns)
        assert not can(sa, "patch", "deployments", release_ns, "apps")
        # Helm keeps crds/ out of the release: nothing it could delete on uninstall
        manifest = run_helm("get", "manifest", release, "-n", release_ns, kubeconfig=kubeconfig).stdout
        assert "CustomResourceDefinition" not in manifest and "kind: Deployment" in manifest
        before = pods[0].metadata.labels.get("pod-template-hash")

        run_helm("upgrade", release, str(CHART), "-n", release_ns, "--wait", "--timeout", "180s",
                 "--set", f"replicaCount=1,remediation.enabled=false,remediation.namespaces={{{shop}}}",
                 "--set", f"llm.enabled=true,watchNamespaces={{{shop}}}", kubeconfig=kubeconfig)
        data = kube.core.read_namespaced_config_map(fullname, release_ns).data
        assert data["INCIDENT_LLM_ENABLED"] == "true" and data["INCIDENT_REMEDIATION_ENABLED"] == "false"
        assert json.loads(data["INCIDENT_NAMESPACES"]) == [shop]
        dep = kube.apps.read_namespaced_deployment(fullname, release_ns)
        assert dep.spec.replicas == 1 and dep.status.ready_replicas == 1
        # the settings changed, so the pods were replaced (checksum annotation)
        pods = wait_for(lambda: (lambda ps: ps if len(ps) == 1 else None)(kube.core.list_namespaced_pod(
            release_ns, label_selector=operator_pods).items), 60, "one pod left")
        assert pods[0].metadata.labels.get("pod-template-hash") != before
        assert not can(sa, "patch", "deployments", shop, "apps")  # remediation off: its binding is gone
        with pytest.raises(client.ApiException) as gone:
            client.PolicyV1Api().read_namespaced_pod_disruption_budget(fullname, release_ns)
        assert gone.value.status == 404

        kube.custom.create_namespaced_custom_object(GROUP, VERSION, release_ns, PLURAL, incident(
            "kept", target={"namespace": shop, "kind": "Deployment", "name": "api"}, remediation="off"))
        run_helm("uninstall", release, "-n", release_ns, "--wait", "--timeout", "120s", kubeconfig=kubeconfig)
        with pytest.raises(client.ApiException) as gone:
            client.RbacAuthorizationV1Api().read_cluster_role(fullname)
        assert gone.value.status == 404
        ext = client.ApiextensionsV1Api()
        assert ext.read_custom_resource_definition("incidents.netaiops.io").metadata.deletion_timestamp is None
        assert kube.custom.get_namespaced_custom_object(GROUP, VERSION, release_ns, PLURAL, "kept")["spec"]["target"]["name"] == "api"
    finally:
        run_helm("uninstall", release, "-n", release_ns, "--ignore-not-found", kubeconfig=kubeconfig, check=False)
