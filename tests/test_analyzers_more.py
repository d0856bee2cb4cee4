"""The failure kinds k8sgpt's analyzers and the Kubernetes troubleshooting pages name, reproduced for real
on the control plane where it can (a PVC whose StorageClass does not exist, a ResourceQuota refusing pods,
a Service whose selector matches nothing) and from a recorded bundle where only a kubelet could (eviction)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from kubernetes import client

from incident_operator.analyzers import analyze
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.models.spec import Target

from local_stack import scenarios, workloads
from local_stack.cluster import wait_for
from local_stack.workloads import incident


def test_pvc_without_storage_class_is_the_root_of_unschedulable(kube, ns):
    """Source: Kubernetes docs, "Troubleshooting ... PersistentVolumeClaim Pending"; k8sgpt pvc analyzer."""
    kube.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"], storage_class_name="fast-ssd-missing",
                                                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}))))
    body = workloads.deployment("db", replicas=1)
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    scenarios.apply_deployment(kube, ns, body)
    wait_for(lambda: any(c.type == "PodScheduled" and c.status == "False"
                         for p in scenarios.pods_of(kube, ns, "db") for c in (p.status.conditions or [])), 30, "db Pending")
    d = analyze(scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="db")))
    kinds = [c.kind for c in d.causes]
    assert kinds[0] == "pvc-unbound", kinds
    assert "unschedulable" in kinds and kinds.index("pvc-unbound") < kinds.index("unschedulable")  # root first
    assert "fast-ssd-missing" in d.causes[0].title and d.causes[0].confidence >= 0.9


def test_a_claim_a_namespace_and_their_limits_as_targets(kube, ns):
    """Targets may be a PersistentVolumeClaim or a whole Namespace: the collector finds the pods that use the
    claim, the namespace's LimitRanges, and the nodes' capacity (pods, ephemeral storage) next to allocatable."""
    kube.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="uploads"),
        spec=client.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"], storage_class_name="nfs-missing",
                                                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}))))
    kube.core.create_namespaced_limit_range(ns, client.V1LimitRange(
        metadata=client.V1ObjectMeta(name="bounds"),
        spec=client.V1LimitRangeSpec(limits=[client.V1LimitRangeItem(type="Container", max={"memory": "2Gi"})])))
    body = workloads.deployment("web", replicas=1)
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "u", "persistentVolumeClaim": {"claimName": "uploads"}}]
    scenarios.apply_deployment(kube, ns, body)
    scenarios.apply_deployment(kube, ns, workloads.deployment("other", replicas=1))
    wait_for(lambda: len(kube.core.list_namespaced_pod(ns).items) == 2, 30, "pods")
    by_claim = scenarios.evidence(kube, Target(namespace=ns, kind="PersistentVolumeClaim", name="uploads"))
    assert [p.workload_name for p in by_claim.cluster.pods] == ["web"]
    assert by_claim.cluster.pvcs[0].name == "uploads" and by_claim.cluster.pvcs[0].storage_class_exists is False
    limits = by_claim.cluster.limit_ranges[0].limits[0]  # the API server defaults default/defaultRequest from max
    assert limits["type"] == "Container" and limits["max"] == {"memory": "2Gi"} and limits["default"] == {"memory": "2Gi"}
    assert analyze(by_claim).causes[0].kind == "pvc-unbound"
    whole = scenarios.evidence(kube, Target(kind="Namespace", name=ns))
    assert whole.target.namespace == ns and {p.workload_name for p in whole.cluster.pods} == {"web", "other"}
    wait_for(lambda: kube.core.list_namespaced_pod(ns, label_selector="app=other").items[0].spec.node_name, 30, "other scheduled")
    node = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="other")).cluster.nodes[0]
    assert node.capacity.pods == "110" and node.allocatable.pods == "110"


def test_resource_quota_refusing_pods(kube, ns):
    """Source: Kubernetes docs, "Configure Memory and CPU Quotas for a Namespace" (FailedCreate: exceeded quota)."""
    kube.core.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="pods-cap"), spec=client.V1ResourceQuotaSpec(hard={"pods": "1"})))
    wait_for(lambda: (kube.core.read_namespaced_resource_quota("pods-cap", ns).status.hard or {}), 30, "quota counted")
    scenarios.apply_deployment(kube, ns, workloads.deployment("api", replicas=3))
    wait_for(lambda: any(e.reason == "FailedCreate" and "exceeded quota" in (e.message or "")
                         for e in kube.core.list_namespaced_event(ns).items), 30, "FailedCreate")
    d = analyze(scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="api")))
    top = d.causes[0]
    assert top.kind == "quota-exceeded" and top.resource.name == "pods-cap", [c.kind for c in d.causes]
    assert "Deployment `api`" in top.title and any("exceeded quota" in e.text for e in top.evidence)


def test_a_statefulset_refused_by_a_quota_shows_its_own_events(kube, ns):
    """Source: Kubernetes docs, "Configure Memory and CPU Quotas for a Namespace": a StatefulSet (no
    ReplicaSet in between) gets the FailedCreate Event itself; its evidence must carry it."""
    kube.core.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "0"})))
    wait_for(lambda: (kube.core.read_namespaced_resource_quota("no-pods", ns).status.hard or {}), 30, "quota counted")
    labels = {"app": "db"}
    kube.apps.create_namespaced_stateful_set(ns, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1StatefulSetSpec(service_name="db", replicas=1, selector=client.V1LabelSelector(match_labels=labels),
                                      template=client.V1PodTemplateSpec(
                                          metadata=client.V1ObjectMeta(labels=labels),
                                          spec=client.V1PodSpec(containers=[client.V1Container(name="db", image="postgres:16")])))))
    wait_for(lambda: any(e.reason == "FailedCreate" and e.involved_object.kind == "StatefulSet"
                         for e in kube.core.list_namespaced_event(ns).items), 60, "FailedCreate on the StatefulSet")
    bundle = scenarios.evidence(kube, Target(namespace=ns, kind="StatefulSet", name="db"))
    assert any(e.object_kind == "StatefulSet" and e.reason == "FailedCreate" for e in bundle.cluster.events)
    top = analyze(bundle).causes[0]
    assert top.kind == "quota-exceeded" and top.resource.name == "no-pods", top


def test_service_whose_selector_matches_nothing(kube, ns):
    """Source: Kubernetes docs, "Debug Services" (no endpoints); k8sgpt service analyzer."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("checkout", replicas=1))
    scenarios.wait_ready(kube, ns, "checkout", 1)
    kube.core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="checkout"),
        spec=client.V1ServiceSpec(selector={"app": "checkout-v2"}, ports=[client.V1ServicePort(port=80)])))
    wait_for(lambda: kube.discovery.list_namespaced_endpoint_slice(
        ns, label_selector="kubernetes.io/service-name=checkout").items, 30, "EndpointSlice")
    d = analyze(scenarios.evidence(kube, Target(namespace=ns)))
    top = d.causes[0]
    assert top.kind == "service-no-endpoints" and top.resource.name == "checkout", [c.kind for c in d.causes]
    assert "app=checkout-v2" in top.evidence[0].text


def _bundle(**cluster) -> dict:
    now = datetime.now(timezone.utc)
    return {"incident": "shop/evicted", "target": {"namespace": "shop", "kind": "Deployment", "name": "reports"},
            "window": {"start": (now - timedelta(minutes=30)).isoformat(), "end": now.isoformat(), "anchor": now.isoformat()},
            "cluster": cluster}


def test_evicted_pods_from_a_recorded_bundle():
    """Source: Kubernetes docs, "Node-pressure Eviction" (status.reason Evicted, the kubelet's message).
    Only a kubelet evicts, so this one is a recorded bundle."""
    pods = [{"name": f"reports-7d9f-{i}", "namespace": "shop", "phase": "Failed", "node": "ip-10-0-1-5",
             "workloadKind": "Deployment", "workloadName": "reports", "reason": "Evicted",
             "message": "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi.",
             "containers": [{"name": "app", "image": "acme/reports:1", "state": "terminated"}]} for i in range(3)]
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=pods)))
    assert d.causes[0].kind == "evicted" and "ephemeral-storage" in d.causes[0].title


def test_a_crash_looping_init_container_is_seen():
    """Source: Kubernetes docs, "Debug Init Containers" (Init:CrashLoopBackOff, termination message)."""
    pods = [{"name": "api-1", "namespace": "shop", "phase": "Pending", "workloadKind": "Deployment", "workloadName": "api",
             "containers": [
                 {"name": "migrate", "image": "acme/migrate:3", "init": True, "state": "waiting", "stateReason": "CrashLoopBackOff",
                  "restartCount": 6, "lastTerminationReason": "Error", "lastExitCode": 1,
                  "terminationMessage": "schema migration failed: relation \"orders\" already exists"},
                 {"name": "app", "image": "acme/api:3", "state": "waiting", "stateReason": "PodInitializing"}]}]
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=pods)))
    top = d.causes[0]
    assert top.kind == "crash-loop" and "init 컨테이너 `migrate`" in top.title and "already exists" in top.title


def test_analyze_names_the_fields_it_does_not_know(tmp_path):
    bundle = _bundle(pods=[{"name": "p", "namespace": "shop", "phaze": "Running", "containers": [
        {"name": "c", "image": "i", "exitColour": "red"}]}])
    bundle["severityGuess"] = "high"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "analyze", "--evidence", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    for name in ("severityGuess", "cluster.pods[0].phaze", "cluster.pods[0].containers[0].exitColour"):
        assert name in out.stderr


def _pod(name: str, **kw) -> dict:
    return {"name": name, "namespace": "shop", "phase": "Running", "workloadKind": "Deployment", "workloadName": "api",
            "containers": [{"name": "app", "image": "acme/api:3", "state": "running", "ready": True}], **kw}


def test_a_failed_job_and_its_reason_from_a_recorded_bundle():
    """Source: Kubernetes docs, "Jobs" (BackoffLimitExceeded: Job has reached the specified backoff limit);
    k8sgpt pkg/analyzer/job.go. The pods' failure needs a kubelet, so the bundle is recorded."""
    job = {"name": "nightly-report-29121440", "namespace": "shop", "cronjob": "nightly-report", "failed": 7,
           "backoffLimit": 6, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                              "message": "Job has reached the specified backoff limit"}]}
    pods = [{"name": f"nightly-report-29121440-{i}", "namespace": "shop", "phase": "Failed", "ownerKind": "Job",
             "ownerName": "nightly-report-29121440", "workloadKind": "Job", "workloadName": "nightly-report-29121440",
             "logTail": "loading rows\nERROR: permission denied for table invoices",
             "containers": [{"name": "report", "image": "acme/report:1", "state": "terminated", "lastExitCode": 1}]}
            for i in range(2)]
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=pods, jobs=[job])))
    top = d.causes[0]
    assert top.kind == "job-failed" and top.resource.kind == "CronJob" and top.resource.name == "nightly-report"
    assert "BackoffLimitExceeded" in top.title and "permission denied" in top.title


def test_dns_rbac_and_slow_dependency_read_logs_with_or_without_a_level():
    """Sources: Kubernetes docs "Debugging DNS Resolution"; "Using RBAC Authorization" (forbidden: User ...
    cannot ...); chaos-mesh NetworkChaos "delay" experiment (latency with no error)."""
    dns = _pod("api-1", logTail="\n".join(["dial tcp: lookup payments.shop.svc.cluster.local on 10.100.0.10:53: no such host"] * 3))
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=[dns])))
    assert d.causes[0].kind == "dns-resolution" and "payments.shop.svc.cluster.local" in d.causes[0].title

    rbac = _pod("api-2", logTail='E1125 error listing configmaps: configmaps is forbidden: User "system:serviceaccount:shop:api" '
                                 'cannot list resource "configmaps" in API group "" in the namespace "shop"')
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=[rbac])))
    assert d.causes[0].kind == "rbac-forbidden" and "system:serviceaccount:shop:api" in d.causes[0].title

    slow = _pod("api-3", logTail="\n".join(f"GET https://ledger.internal:8443/balance took {s}s" for s in (2.1, 3.4, 5.0, 4.2)))
    logs = [{"level": "WARN", "message": "upstream timed out calling ledger.internal:8443", "service": "api"}]
    d = analyze(EvidenceBundle.model_validate({**_bundle(pods=[slow]), "logs": logs}))
    assert d.causes[0].kind == "slow-dependency" and "ledger.internal" in d.causes[0].title
    # fast requests are not a slow dependency
    fast = _pod("api-4", logTail="\n".join("GET https://ledger.internal/balance took 12ms" for _ in range(5)))
    assert analyze(EvidenceBundle.model_validate(_bundle(pods=[fast]))).causes[0].kind == "unknown"


def test_jobs_are_collected_for_a_job_target(kube, ns):
    kube.batch.create_namespaced_job(ns, client.V1Job(
        metadata=client.V1ObjectMeta(name="migrate"),
        spec=client.V1JobSpec(backoff_limit=2, template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="m", image="acme/migrate:1")])))))
    wait_for(lambda: scenarios.pods_of(kube, ns, "x") is not None and kube.core.list_namespaced_pod(
        ns, label_selector="job-name=migrate").items, 30, "job pod")
    bundle = scenarios.evidence(kube, Target(namespace=ns, kind="Job", name="migrate"))
    [job] = bundle.cluster.jobs
    assert job.name == "migrate" and job.backoff_limit == 2 and bundle.cluster.pods[0].owner_kind == "Job"


def test_a_bad_rollout_is_rolled_back_and_verified(kube, ns, incidents, start_operator):
    """Source: Kubernetes docs, "Deployments — Rolling Back a Deployment" (a new revision that crash-loops
    while the previous ReplicaSet still serves)."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("cart", image="nginx:1.27", replicas=2))
    scenarios.wait_ready(kube, ns, "cart", 2)
    workloads.set_image_with_fault(kube.apps, ns, "cart", "nginx:1.29-rc", "crash-loop")
    scenarios.wait_pod_state(kube, ns, "cart", "CrashLoopBackOff")
    start_operator()
    incidents.create(incident("rollout", target={"namespace": ns, "kind": "Deployment", "name": "cart"}))
    st = incidents.wait_phase("rollout", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    kinds = [c["kind"] for c in st["causes"]]
    assert kinds[0] == "bad-rollout" and (kinds.index("crash-loop") > 0 if "crash-loop" in kinds else True), kinds
    assert st["phase"] == "Resolved" and st["actions"][0]["action"] == "rollback-image", st.get("lastError")
    assert kube.apps.read_namespaced_deployment("cart", ns).spec.template.spec.containers[0].image == "nginx:1.27"


def test_nodes_out_of_pod_capacity_from_a_recorded_bundle():
    """Source: k8sgpt pkg/analyzer/pod.go and the scheduler's message "0/3 nodes are available: 3 Too many pods"."""
    msg = "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found."
    pods = [{"name": "api-9", "namespace": "shop", "phase": "Pending", "workloadKind": "Deployment", "workloadName": "api",
             "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}],
             "containers": [{"name": "app", "image": "acme/api:3"}]}]
    d = analyze(EvidenceBundle.model_validate(_bundle(pods=pods)))
    kinds = [c.kind for c in d.causes]
    assert kinds[:2] == ["node-too-many-pods", "unschedulable"]  # the root before its symptom


def test_unschedulable_names_the_real_blocker():
    """Source: the scheduler's FailedScheduling messages (Kubernetes docs, "Assigning Pods to Nodes",
    "Taints and Tolerations")."""
    msg = ("0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
           "3 node(s) didn't match Pod's node affinity/selector.")
    pods = [{"name": "train-1", "namespace": "shop", "phase": "Pending", "workloadKind": "Deployment", "workloadName": "train",
             "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}],
             "containers": [{"name": "app", "image": "acme/train:1"}]}]
    top = analyze(EvidenceBundle.model_validate(_bundle(pods=pods))).causes[0]
    assert top.kind == "unschedulable" and "taint" in top.title and "nodeSelector" in top.title


def test_a_network_policy_without_dns_egress_is_the_root_of_dns_failures(kube, ns):
    """Source: Kubernetes docs, "Network Policies" (default-deny egress) and "Debugging DNS Resolution"."""
    from incident_operator.models.evidence import LogEntry

    scenarios.apply_deployment(kube, ns, workloads.deployment("api", replicas=1))
    scenarios.wait_ready(kube, ns, "api", 1)
    kube.networking.create_namespaced_network_policy(ns, client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="lockdown"),
        spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector(match_labels={"app": "api"}),
                                        policy_types=["Egress"], egress=[client.V1NetworkPolicyEgressRule(
                                            ports=[client.V1NetworkPolicyPort(port=5432, protocol="TCP")])])))
    bundle = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="api"))
    [policy] = bundle.cluster.network_policies
    assert policy.name == "lockdown" and policy.allows_dns is False
    # the application's log lines, as the logs source would bring them (a kwok pod writes none)
    bundle.logs = [LogEntry(message=f"lookup db.{ns}.svc.cluster.local on 10.100.0.10:53: i/o timeout") for _ in range(4)]
    kinds = [c.kind for c in analyze(bundle).causes]
    assert kinds[0] == "network-policy" and kinds.index("dns-resolution") > 0, kinds


def _policies(*policies: client.V1NetworkPolicy, pods: list[dict[str, str]]) -> dict:
    """What the collector makes of these NetworkPolicies for pods with these labels (no API server needed)."""
    from types import SimpleNamespace

    from incident_operator.kube.evidence import ClusterCollector
    from incident_operator.models.evidence import PodEvidence

    kube = SimpleNamespace(networking=SimpleNamespace(
        list_namespaced_network_policy=lambda ns, limit: SimpleNamespace(items=list(policies))))
    found = ClusterCollector(kube).network_policies(
        "shop", [PodEvidence(name=f"p{i}", namespace="shop", labels=labels) for i, labels in enumerate(pods)])
    return {p.name: p.allows_dns for p in found}


def _egress(name: str, *rules: client.V1NetworkPolicyEgressRule, selector: client.V1LabelSelector | None = None):
    return client.V1NetworkPolicy(metadata=client.V1ObjectMeta(name=name), spec=client.V1NetworkPolicySpec(
        pod_selector=selector or client.V1LabelSelector(), policy_types=["Egress"], egress=list(rules)))


def test_an_egress_rule_to_peers_without_ports_opens_dns_to_them():
    """Source: Kubernetes docs, "Network Policies": a rule without `ports` allows every port to its `to` peers."""
    kube_system = client.V1NetworkPolicyPeer(namespace_selector=client.V1LabelSelector(
        match_labels={"kubernetes.io/metadata.name": "kube-system"}))
    only_db = client.V1NetworkPolicyPeer(pod_selector=client.V1LabelSelector(match_labels={"app": "db"}))
    port = client.V1NetworkPolicyPort
    got = _policies(
        _egress("to-kube-system", client.V1NetworkPolicyEgressRule(to=[kube_system])),
        _egress("to-anywhere-53", client.V1NetworkPolicyEgressRule(ports=[port(port=53, protocol="UDP")])),
        _egress("udp-any-port", client.V1NetworkPolicyEgressRule(ports=[port(protocol="UDP")])),
        _egress("port-range", client.V1NetworkPolicyEgressRule(ports=[port(port=1, end_port=1024, protocol="UDP")])),
        _egress("only-db", client.V1NetworkPolicyEgressRule(to=[only_db])),  # this namespace's db pods: no DNS
        _egress("db-port", client.V1NetworkPolicyEgressRule(ports=[port(port=5432, protocol="TCP")])),
        _egress("deny-all"),
        pods=[{"app": "api"}])
    assert got == {"to-kube-system": True, "to-anywhere-53": True, "udp-any-port": True, "port-range": True,
                   "only-db": False, "db-port": False, "deny-all": False}, got


def test_a_network_policy_selecting_by_match_expressions_is_judged_on_the_pods_labels():
    """Source: Kubernetes API, LabelSelector (matchExpressions In, NotIn, Exists, DoesNotExist)."""
    def expr(op: str, *values: str, key: str = "app") -> client.V1LabelSelector:
        return client.V1LabelSelector(match_expressions=[
            client.V1LabelSelectorRequirement(key=key, operator=op, values=list(values) or None)])
    got = _policies(
        _egress("in-api", selector=expr("In", "api", "web")),
        _egress("in-other", selector=expr("In", "batch")),
        _egress("notin-api", selector=expr("NotIn", "api")),
        _egress("notin-other", selector=expr("NotIn", "batch")),
        _egress("exists", selector=expr("Exists")),
        _egress("exists-other", selector=expr("Exists", key="tier")),
        _egress("absent-tier", selector=expr("DoesNotExist", key="tier")),
        _egress("absent-app", selector=expr("DoesNotExist")),
        _egress("labels-and-expr", selector=client.V1LabelSelector(match_labels={"app": "api"}, match_expressions=[
            client.V1LabelSelectorRequirement(key="track", operator="In", values=["canary"])])),
        pods=[{"app": "api", "track": "stable"}])
    assert set(got) == {"in-api", "notin-other", "exists", "absent-tier"}, got


def test_an_hpa_that_cannot_read_metrics(kube, ns):
    """Source: Kubernetes docs, "Horizontal Pod Autoscaling" (ScalingActive False, FailedGetResourceMetric);
    k8sgpt pkg/analyzer/hpa.go. The real HPA controller, with no metrics API in this cluster."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("web", replicas=1))
    kube.autoscaling.create_namespaced_horizontal_pod_autoscaler(ns, client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
            min_replicas=1, max_replicas=5, metrics=[client.V2MetricSpec(type="Resource", resource=client.V2ResourceMetricSource(
                name="cpu", target=client.V2MetricTarget(type="Utilization", average_utilization=60)))])))
    wait_for(lambda: any(c.type == "ScalingActive" and c.status == "False" for c in (
        kube.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", ns).status.conditions or [])), 60, "HPA condition")
    d = analyze(scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="web")))
    assert d.causes[0].kind == "hpa-misconfigured" and "ScalingActive" not in d.causes[0].title
    assert "지표를 읽지 못해" in d.causes[0].title


def test_an_ingress_routing_to_a_missing_service(kube, ns):
    """Source: k8sgpt pkg/analyzer/ingress.go (backend Service does not exist); Kubernetes docs, "Ingress"."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("shop", replicas=1))
    kube.core.create_namespaced_service(ns, client.V1Service(metadata=client.V1ObjectMeta(name="shop"), spec=client.V1ServiceSpec(
        selector={"app": "shop"}, ports=[client.V1ServicePort(port=80, name="http")])))
    kube.networking.create_namespaced_ingress(ns, client.V1Ingress(metadata=client.V1ObjectMeta(name="edge"), spec=client.V1IngressSpec(
        rules=[client.V1IngressRule(host="shop.example", http=client.V1HTTPIngressRuleValue(paths=[
            client.V1HTTPIngressPath(path="/", path_type="Prefix", backend=client.V1IngressBackend(service=client.V1IngressServiceBackend(
                name="shop", port=client.V1ServiceBackendPort(number=80)))),
            client.V1HTTPIngressPath(path="/api", path_type="Prefix", backend=client.V1IngressBackend(service=client.V1IngressServiceBackend(
                name="shop-api", port=client.V1ServiceBackendPort(number=8080))))]))])))
    d = analyze(scenarios.evidence(kube, Target(namespace=ns)))
    assert d.causes[0].kind == "ingress-misconfigured" and "shop-api:8080" in d.causes[0].title
    assert "shop:80" not in d.causes[0].title


def _series(name: str, values: list[float], **dims: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"name": name, "dimensions": dims, "points": [
        {"timestamp": (now - timedelta(minutes=len(values) - i)).isoformat(), "value": v} for i, v in enumerate(values)]}


def test_throttling_and_a_memory_leak_from_recorded_metrics():
    """Sources: Container Insights pod_cpu_utilization_over_pod_limit (CPU limits and throttling, Kubernetes docs
    "Resource Management for Pods and Containers"); a leak ending in OOMKilled (ITBench/chaos-mesh memory stress)."""
    slow = _pod("api-1")
    slow["containers"][0]["limits"] = {"cpu": "100m"}
    b = {**_bundle(pods=[slow]), "metrics": [_series("pod_cpu_utilization_over_pod_limit", [97, 99, 100, 98], PodName="api")]}
    top = analyze(EvidenceBundle.model_validate(b)).causes[0]
    assert top.kind == "cpu-throttling" and "100m" in top.title

    oom = _pod("api-2", containers=[{"name": "app", "image": "acme/api:3", "state": "waiting", "stateReason": "CrashLoopBackOff",
                                      "restartCount": 4, "lastTerminationReason": "OOMKilled", "lastExitCode": 137,
                                      "limits": {"memory": "512Mi"}}])
    b = {**_bundle(pods=[oom]), "metrics": [_series("pod_memory_utilization", [31, 38, 44, 52, 61, 70, 79, 88, 97], PodName="api")]}
    kinds = [c.kind for c in analyze(EvidenceBundle.model_validate(b)).causes]
    assert kinds[0] == "memory-leak" and "oom-killed" in kinds[1:], kinds


def test_a_memory_spike_that_fell_back_is_not_a_leak():
    """LitmusChaos pod-memory-hog: memory jumps to the limit, the container is OOM-killed and restarts low.
    That is an OOM kill under a burst, not a leak (a leak never gives memory back)."""
    oom = _pod("catalog-1", containers=[{"name": "app", "image": "acme/catalog:1", "state": "waiting", "stateReason": "CrashLoopBackOff",
                                          "restartCount": 3, "lastTerminationReason": "OOMKilled", "lastExitCode": 137,
                                          "limits": {"memory": "256Mi"}}])
    b = {**_bundle(pods=[oom]), "metrics": [_series("pod_memory_utilization_over_pod_limit", [35, 36, 99, 100, 40, 100], PodName="catalog")]}
    kinds = [c.kind for c in analyze(EvidenceBundle.model_validate(b)).causes]
    assert kinds[0] == "oom-killed" and "memory-leak" not in kinds, kinds


# The container states the real node's kubelet reported for a container that exits 1 under restartPolicy
# Always, sampled every 0.3 s (local_stack.faults "crash"): most of each back-off is spent as terminated/Error,
# not as waiting/CrashLoopBackOff — the analyzer must see the loop whichever moment it reads.
CRASH_STATES = [
    # (state, reason, restarts, last exit, looping)
    ("running", None, 0, None, False),              # first run
    ("terminated", "Error", 0, None, False),        # first failure: not a loop yet
    ("terminated", "Error", 1, 1, True),            # failed, restarted, failed again (~12 s of the first back-off)
    ("waiting", "CrashLoopBackOff", 1, 1, True),
    ("running", None, 2, 1, False),                 # caught while running again: only the restart count says it
    ("running", None, 3, 1, True),
    ("terminated", "Completed", 2, 0, False),       # exits 0: not a failure
    ("terminated", "OOMKilled", 2, 137, False),     # the OOM analyzer's
    ("terminated", "Error", 1, 137, True),          # killed again and again (a liveness probe ranks above it)
    ("terminated", "ContainerStatusUnknown", 1, 137, False),  # an evicted pod's container, deleted with it
]


@pytest.mark.parametrize("state,reason,restarts,last_exit,expected", CRASH_STATES)
def test_a_crash_loop_is_seen_between_back_offs(state, reason, restarts, last_exit, expected):
    from incident_operator.analyzers.crashloop import looping
    from incident_operator.models.evidence import ContainerEvidence
    c = ContainerEvidence(name="app", image="local/busybox:1", state=state, state_reason=reason,
                          restart_count=restarts, last_exit_code=last_exit,
                          last_termination_reason="Error" if last_exit else None)
    assert looping(c) is expected
    assert looping(c, pod_phase="Failed") is False  # an evicted or finished pod restarts nothing
