"""Issue 24: diagnosis that reads the whole picture. Table tests on recorded bundles (milliseconds each), and one
test on the real API server for the evidence the collector now reads (Service ports, dependencies named in env
and a mounted ConfigMap, IngressClasses, the PersistentVolume a deleted claim left Released).

Sources of the recorded shapes: Kubernetes docs ("Configure Liveness, Readiness and Startup Probes", "Determine
the Reason for Pod Failure", "Assign CPU Resources to Containers and Pods", "Debug Services", "Connect a Frontend to
a Backend Using Services", "Ingress", "Persistent Volumes", "Debugging DNS Resolution"), k8sgpt's analyzers
(service.go, ingress.go, pvc.go, pod.go), Chaos Mesh StressChaos / NetworkChaos, LitmusChaos pod-cpu-hog, and the
resolver messages of glibc, musl, Go, Java, Node.js and curl.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from incident_operator.analyzers import analyze
from incident_operator.analyzers.logs import fields, latency_ms
from incident_operator.kube.dependencies import names_in
from incident_operator.kube.evidence import ClusterCollector
from incident_operator.tenancy import Scope
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.models.spec import Target

from local_stack import scenarios
from local_stack.cluster import wait_for


def bundle(alarm: dict | None = None, metrics: list | None = None, logs: list | None = None,
           target: dict | None = None, **cluster) -> EvidenceBundle:
    now = datetime.now(timezone.utc)
    doc = {"incident": "shop/i", "target": target or {"namespace": "shop", "kind": "Deployment", "name": "api"},
           "window": {"start": (now - timedelta(minutes=30)).isoformat(), "end": now.isoformat(), "anchor": now.isoformat()},
           "cluster": cluster, "metrics": metrics or [], "logs": logs or []}
    if alarm:
        doc["alarm"] = alarm
    return EvidenceBundle.model_validate(doc)


def pod(name: str = "api-1", workload: str = "api", **kw) -> dict:
    c = {"name": "app", "image": "acme/api:3", "state": "running", "ready": True}
    c.update(kw.pop("container", {}))
    return {"name": name, "namespace": "shop", "phase": "Running", "workloadKind": "Deployment", "workloadName": workload,
            "labels": {"app": workload}, "node": "node-1", "containers": [c], **kw}


def series(name: str, values: list[float], **dims: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"name": name, "dimensions": dims, "points": [
        {"timestamp": (now - timedelta(minutes=len(values) - i)).isoformat(), "value": v} for i, v in enumerate(values)]}


def event(reason: str, message: str, name: str = "api-1", kind: str = "Pod", count: int = 3) -> dict:
    return {"type": "Warning", "reason": reason, "message": message, "objectKind": kind, "objectName": name,
            "namespace": "shop", "count": count}


def kinds(b: EvidenceBundle) -> list[str]:
    return [c.kind for c in analyze(b).causes]


# ---- (1) exit 137 is a SIGKILL; only reason OOMKilled is an OOM kill ---------------------------------------------
SIGKILLED = {"state": "running", "ready": False, "restartCount": 4, "lastTerminationReason": "Error",
             "lastExitCode": 137, "hasLivenessProbe": True, "limits": {"memory": "128Mi"}}


@pytest.mark.parametrize("container, events, want, not_want", [
    # the real node's liveness kill: Unhealthy + Killing, exit 137 reason Error (Kubernetes docs, liveness probes)
    (SIGKILLED, [event("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
                 event("Killing", "Container app failed liveness probe, will be restarted")], "probe-failure", "oom-killed"),
    # the same kill after its Events expired: still not an OOM kill
    (SIGKILLED, [], "probe-failure", "oom-killed"),
    # a SIGKILL without a probe: a crash, not an OOM kill
    ({**SIGKILLED, "hasLivenessProbe": False, "state": "waiting", "stateReason": "CrashLoopBackOff"}, [], "crash-loop", "oom-killed"),
    # the kubelet's own reason
    ({**SIGKILLED, "lastTerminationReason": "OOMKilled", "hasLivenessProbe": False}, [], "oom-killed", "probe-failure"),
])
def test_exit_137_is_oom_only_when_the_kubelet_says_oomkilled(container, events, want, not_want):
    got = kinds(bundle(pods=[pod(container=container)], events=events))
    assert got[0] == want and not_want not in got, got


# ---- (2) throttling judged by limit and measured usage, not the image's name ------------------------------------
STRESS = {"image": "polinux/stress-ng:latest", "command": ["stress-ng", "--cpu", "1"]}
OVER = [series("pod_cpu_utilization_over_pod_limit", [97, 100, 100, 99], PodName="api")]
CPU_ALARM = {"name": "api-cpu", "metric": {"name": "pod_cpu_utilization_over_pod_limit"}, "threshold": 90}


@pytest.mark.parametrize("container, metrics, alarm, want, second", [
    # Chaos Mesh StressChaos / Litmus pod-cpu-hog under a 10m limit: throttled, its limit is the fix
    ({**STRESS, "limits": {"cpu": "10m"}}, OVER, CPU_ALARM, "cpu-throttling", "cpu-burner"),
    # the kubelet's CFS counters say so without Container Insights
    ({**STRESS, "limits": {"cpu": "10m"}}, [series("container_cpu_cfs_throttled_ratio", [0.8, 0.9], PodName="api")], None,
     "cpu-throttling", "cpu-burner"),
    # a burner with a real limit burns a node's CPU: delete it (throttling only an alternative)
    ({**STRESS, "limits": {"cpu": "300m"}}, OVER + [series("pod_cpu_utilization", [40, 45], PodName="api")],
     {"name": "netaiops-cpu-spike", "metric": {"name": "pod_cpu_utilization"}, "threshold": 80}, "cpu-burner", "cpu-throttling"),
    # an app at a small limit (Kubernetes docs, assign CPU resources)
    ({"limits": {"cpu": "200m"}}, OVER, CPU_ALARM, "cpu-throttling", None),
])
def test_cpu_throttling_is_judged_by_limit_and_usage(container, metrics, alarm, want, second):
    d = analyze(bundle(pods=[pod(container=container)], metrics=metrics, alarm=alarm))
    got = [c.kind for c in d.causes]
    assert got[0] == want, got
    if second:
        assert second in got[1:3], got
    if want == "cpu-throttling":
        assert d.causes[0].remediation is None and all(c.remediation is None for c in d.causes)


# ---- (3) Service ports vs the selected pods' containerPorts ------------------------------------------------------
def svc(ports: list[dict], pod_ports: list[dict], ready: int = 1, matching: int = 1, endpoint_ports: list[int] | None = None) -> dict:
    return {"name": "api", "namespace": "shop", "selector": {"app": "api"}, "readyEndpoints": ready, "matchingPods": matching,
            "ports": ports, "podPorts": pod_ports, "endpointPorts": endpoint_ports or []}


@pytest.mark.parametrize("service, want", [
    # k8s docs "Debug Services": targetPort 8080, the container listens on 80 (one ready endpoint, nothing there)
    (svc([{"port": 80, "targetPort": "8080"}], [{"port": 80}]), "service-port-mismatch"),
    # a named targetPort no container declares: the EndpointSlice lists the pod with no port (as the real controller
    # does, see the collector test below); with no ready pod at all, still the root before service-no-endpoints
    (svc([{"port": 80, "targetPort": "http"}], [{"port": 8080, "name": "web"}]), "service-port-mismatch"),
    (svc([{"port": 80, "targetPort": "http"}], [{"port": 8080, "name": "web"}], ready=0), "service-port-mismatch"),
    # right, by number and by name
    (svc([{"port": 80, "targetPort": "8080"}], [{"port": 8080}]), "unknown"),
    (svc([{"port": 80, "targetPort": "http"}], [{"port": 8080, "name": "http"}], endpoint_ports=[8080]), "unknown"),
    # pods that declare no ports: a numeric targetPort is not judged (declaring is optional)
    (svc([{"port": 80, "targetPort": "8080"}], []), "unknown"),
])
def test_service_target_ports_against_container_ports(service, want):
    got = kinds(bundle(pods=[pod()], services=[service]))
    assert got[0] == want, got
    if want == "service-port-mismatch" and not service["readyEndpoints"]:
        assert got.index("service-no-endpoints") > 0


# ---- (4) the target's dependencies --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, bare, want", [
    ("http://payments:8080/api", False, [("payments", "shop", "payments:8080")]),
    ("postgres://app:s3cr3t@orders-db:5432/orders", False, [("orders-db", "shop", "orders-db:5432")]),
    ("payments.billing.svc.cluster.local:9000", False, [("payments", "billing", "payments.billing.svc.cluster.local:9000")]),
    ("redis:6379", False, [("redis", "shop", "redis:6379")]),
    ("--upstream=catalog:80 --listen=:8080", False, [("catalog", "shop", "catalog:80")]),
    ("postgres", True, [("postgres", "shop", "postgres")]),
    ("https://api.example.com/v1 localhost:9090 10.0.0.5:80 12:30 postgres:16 node:20", False, []),
])
def test_service_names_in_configuration(text, bare, want):
    got = [(n, ns, a) for n, ns, a, _ in names_in(text, "shop", bare)]
    assert got == want
    assert all("s3cr3t" not in a for _, _, a in got)


def dep(**kw) -> dict:
    return {"name": "payments", "namespace": "shop", "address": "payments:8080", "referencedBy": ["env PAYMENTS_URL"],
            "selector": {"app": "payments"}, **kw}


REFUSED = [{"level": "ERROR", "message": "POST http://payments:8080/charge failed: connect ECONNREFUSED 10.96.3.4:8080",
            "service": "checkout"}] * 6


@pytest.mark.parametrize("dependency, logs, events, want", [
    # its backend scaled to 0 (Chaos Mesh PodChaos / Litmus pod-delete seen from the caller): the root of the errors
    (dep(backends=["Deployment/payments 0/0"]), REFUSED,
     [event("ScalingReplicaSet", "Scaled down replica set payments-7d9f to 0", "payments", "Deployment", 1)], "dependency-unavailable"),
    # a Service that does not exist (renamed), named in a mounted ConfigMap, the client failing on that name
    (dep(exists=False, selector={}, referencedBy=["ConfigMap/app-config"]),
     [{"level": "ERROR", "message": "java.net.UnknownHostException: payments", "service": "checkout"}] * 6, [], "dependency-unavailable"),
    # a healthy backend: nothing to say
    (dep(readyEndpoints=2, matchingPods=2, backends=["Deployment/payments 2/2"]), [], [], "unknown"),
])
def test_a_dependency_without_endpoints_is_diagnosed(dependency, logs, events, want):
    got = kinds(bundle(pods=[pod(workload="checkout")], dependencies=[dependency], logs=logs, events=events,
                       target={"namespace": "shop", "kind": "Deployment", "name": "checkout"}))
    assert got[0] == want, got
    if logs:
        assert "app-errors" in got[1:], got  # the symptom stays as an alternative


# ---- (5) resolver dialects, structured latency, logfmt errors ------------------------------------------------------
@pytest.mark.parametrize("line, host", [
    ("socket.gaierror: [Errno -3] Temporary failure in name resolution", None),
    ("requests.exceptions.ConnectionError: HTTPConnectionPool(host='payments', port=8080): Max retries exceeded "
     "(Caused by NewConnectionError(': Failed to establish a new connection: [Errno -3] Try again'))", "payments"),
    ("urllib3 HTTPConnectionPool(host='ledger', port=80): [Errno -2] Name or service not known", "ledger"),
    ("wget: bad address 'inventory'", "inventory"),  # busybox / musl
    ("getaddrinfo for payments failed: Name does not resolve", None),  # musl
    ('Get "http://payments:8080/": dial tcp: lookup payments on 10.96.0.10:53: no such host', "payments"),  # Go
    ("java.net.UnknownHostException: payments: Name or service not known", "payments"),  # Java
    ("Error: getaddrinfo ENOTFOUND payments", "payments"),  # Node
    ("Error: getaddrinfo EAI_AGAIN payments", "payments"),
    ("curl: (6) Could not resolve host: payments", "payments"),  # curl
])
def test_dns_failures_in_every_dialect(line, host):
    d = analyze(bundle(pods=[pod(logTail="\n".join([line] * 3))]))
    assert d.causes[0].kind == "dns-resolution", [c.kind for c in d.causes]
    if host:
        assert f"`{host}`" in d.causes[0].title


@pytest.mark.parametrize("line, ms", [
    ('{"level":"info","msg":"request","responseTime":7800}', 7800),
    ('{"msg":"GET /cart","duration_ms":2500}', 2500),
    ('{"request_time": 7.8, "status": 200}', 7800),
    ('level=warn msg="upstream call" duration=7.8s upstream=ledger:8443', 7800),
    ('ts=2026-12-06T01:02:03Z latency=1200ms', 1200),
    ('{"http": {"latency_ms": 30}}', 30),
    ("plain text took a while", None),
])
def test_latency_fields_of_structured_lines(line, ms):
    assert latency_ms(fields(line)) == ms


def test_latency_in_json_logs_and_errors_in_logfmt():
    """Chaos Mesh NetworkChaos delay (slow, no error) in pino-style JSON; an HTTPChaos abort seen in logfmt."""
    slow = [json.dumps({"level": 30, "msg": "GET /quote", "upstream": "pricing:8080", "responseTime": 7800 + i}) for i in range(4)]
    d = analyze(bundle(pods=[pod(logTail="\n".join(slow))]))
    assert d.causes[0].kind == "slow-dependency" and "pricing:8080" in d.causes[0].title
    errors = [f'ts=2026-12-06T01:02:0{i}Z level=error msg="charge failed" err="payment-api: 503 Service Unavailable" id={i}'
              for i in range(6)]
    d = analyze(bundle(pods=[pod(logTail="\n".join(errors))]))
    assert d.causes[0].kind == "app-errors" and "(6건)" in d.causes[0].title
    # the same through OpenSearch, without a level field (the line declares it)
    d = analyze(bundle(pods=[pod()], logs=[{"message": e, "service": "api"} for e in errors]))
    assert d.causes[0].kind == "app-errors"
    # 5xx in JSON access logs are errors; fast 200s are nothing
    access = [json.dumps({"status": 503, "msg": "upstream unavailable", "path": f"/p/{i}"}) for i in range(6)]
    assert kinds(bundle(pods=[pod(logTail="\n".join(access))]))[0] == "app-errors"
    fine = [json.dumps({"level": "info", "status": 200, "responseTime": 12}) for _ in range(10)]
    assert kinds(bundle(pods=[pod(logTail="\n".join(fine))])) == ["unknown"]


# ---- (6) IngressClass, (7) PersistentVolumes, (8) node pod capacity ----------------------------------------------
def test_an_ingress_naming_a_class_that_does_not_exist():
    """k8sgpt ingress.go: "Ingress uses the ingress class %s which does not exist"."""
    ing = {"name": "shop", "namespace": "shop", "backends": ["api:80"], "ingressClass": "nginx-internal", "ingressClassExists": False}
    d = analyze(bundle(pods=[pod()], ingresses=[ing]))
    assert d.causes[0].kind == "ingress-class-missing" and "nginx-internal" in d.causes[0].title
    assert kinds(bundle(pods=[pod()], ingresses=[{**ing, "ingressClassExists": True}])) == ["unknown"]


def pv(name: str, phase: str, claim: str | None, current: bool | None, cls: str = "manual") -> dict:
    return {"name": name, "phase": phase, "claimRef": claim, "claimRefCurrent": current, "reclaimPolicy": "Retain",
            "storageClass": cls, "capacity": "10Gi"}


PENDING = pod(phase="Pending", claims=["data"], conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
              "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}])


@pytest.mark.parametrize("pvc, want, fix", [
    # k8s docs "Persistent Volumes" (Retain → Released, the old claimRef kept): not a StorageClass problem
    ({"candidateVolumes": [pv("pv-data", "Released", "shop/data", False)]}, "pv-released", "claimRef"),
    ({"candidateVolumes": [pv("pv-a", "Released", "shop/old-a", False), pv("pv-b", "Released", "shop/old-b", False)]},
     "pv-released", "claimRef"),
    # a free static PV of that class: the class is not the blocker (pvc-unbound, without blaming the class)
    ({"candidateVolumes": [pv("pv-free", "Available", None, None)]}, "pvc-unbound", "바인딩할 수 있는 PV"),
    # no PV and no class: the StorageClass is the cause (scenario 17)
    ({}, "pvc-unbound", "StorageClass를 만들거나"),
])
def test_a_released_volume_is_the_true_blocker(pvc, want, fix):
    claim = {"name": "data", "namespace": "shop", "phase": "Pending", "storageClass": "manual", "storageClassExists": False, **pvc}
    d = analyze(bundle(pods=[PENDING], pvcs=[claim]))
    assert d.causes[0].kind == want, [c.kind for c in d.causes]
    assert any(fix in a for a in d.causes[0].immediate_actions), d.causes[0].immediate_actions
    assert "unschedulable" in [c.kind for c in d.causes][1:]


@pytest.mark.parametrize("nodes, pods, target, want", [
    # a Node alarm: the node holds 110 of 110 pods (kubelet --max-pods), no scheduler message needed
    ([{"name": "node-1", "allocatable": {"pods": "110"}, "podCount": 110}], [], {"kind": "Node", "name": "node-1"}, "node-too-many-pods"),
    # a pod still Pending beside a full node
    ([{"name": "node-1", "allocatable": {"pods": "4"}, "podCount": 4}], [pod(phase="Pending")], None, "node-too-many-pods"),
    # room left: nothing
    ([{"name": "node-1", "allocatable": {"pods": "110"}, "podCount": 31}], [], {"kind": "Node", "name": "node-1"}, "unknown"),
])
def test_node_pod_capacity_from_node_state(nodes, pods, target, want):
    assert kinds(bundle(nodes=nodes, pods=pods, target=target))[0] == want


# ---- (9) alternatives and healthy controls -------------------------------------------------------------------------
HEALTHY = {
    "Deployment": bundle(pods=[pod()], services=[svc([{"port": 80, "targetPort": "http"}], [{"port": 8080, "name": "http"}])],
                         dependencies=[dep(readyEndpoints=1, matchingPods=1)]),
    "StatefulSet": bundle(pods=[pod(workload="db", claims=["data-db-0"])], target={"namespace": "shop", "kind": "StatefulSet", "name": "db"},
                          pvcs=[{"name": "data-db-0", "namespace": "shop", "phase": "Bound", "storageClass": "gp3",
                                 "volume": pv("pvc-1", "Bound", "shop/data-db-0", True, "gp3")}]),
    "Service": bundle(pods=[pod()], target={"namespace": "shop", "kind": "Service", "name": "api"},
                      services=[svc([{"port": 80, "targetPort": "8080"}], [{"port": 8080}])]),
    "Node": bundle(nodes=[{"name": "node-1", "ready": True, "allocatable": {"pods": "110"}, "podCount": 12}],
                   target={"kind": "Node", "name": "node-1"}),
    "Namespace": bundle(pods=[pod()], target={"namespace": "shop", "kind": "Namespace", "name": "shop"},
                        ingresses=[{"name": "web", "namespace": "shop", "backends": ["api:80"], "ingressClass": "nginx",
                                    "ingressClassExists": True}]),
    "Pod": bundle(pods=[pod(container={"limits": {"cpu": "10m"}})], target={"namespace": "shop", "kind": "Pod", "name": "api-1"},
                  metrics=[series("pod_cpu_utilization_over_pod_limit", [20, 30], PodName="api-1")]),
}


HEALTHY["Deployment+optional"] = bundle(pods=[pod()], dependencies=[dep(exists=False, selector={})])  # named, unused


@pytest.mark.parametrize("kind", sorted(HEALTHY))
def test_healthy_targets_get_no_cause_above_one_half(kind):
    causes = analyze(HEALTHY[kind]).causes
    assert all(c.confidence <= 0.5 for c in causes), [(c.kind, c.confidence) for c in causes]


def test_an_uncertain_top_cause_comes_with_ranked_alternatives():
    """Two plausible causes (a stress container at a 10m limit): the answer is ranked, not alone."""
    d = analyze(bundle(pods=[pod(container={**STRESS, "limits": {"cpu": "10m"}})], metrics=OVER, alarm=CPU_ALARM))
    assert [c.kind for c in d.causes][:2] == ["cpu-throttling", "cpu-burner"]
    assert d.causes[0].confidence > d.causes[1].confidence


# ---- the collector on the real API server ---------------------------------------------------------------------------
def test_the_collector_reads_ports_dependencies_classes_and_volumes(kube, ns):
    """One namespace, four faults the control plane produces for real: a Service whose named targetPort no container
    declares (the EndpointSlice controller gives it no endpoint), a client whose backend (named in its env and in a
    mounted ConfigMap) is scaled to 0, an Ingress naming an IngressClass nobody installed, and a claim whose
    PersistentVolume still holds the deleted claim of the same name (Released)."""
    pv_name, elsewhere = f"pv-{ns}", f"pv-elsewhere-{ns}"
    apps = kube.apps
    tmpl = lambda app, port: client.V1PodTemplateSpec(  # noqa: E731
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="app", image="nginx:1.27", ports=[client.V1ContainerPort(container_port=port, name="web")],
            env=[client.V1EnvVar(name="PAYMENTS_URL", value="http://payments:8080/charge"),
                 client.V1EnvVar(name="DNS_PROBE", value="kube-dns.kube-system.svc.cluster.local:53")])],
            volumes=[client.V1Volume(name="cfg", config_map=client.V1ConfigMapVolumeSource(name="app-config"))]))
    kube.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app-config"),
                                                                  data={"app.yaml": "cache: redis:6379\n"}))
    for name, replicas in (("checkout", 1), ("payments", 0)):
        apps.create_namespaced_deployment(ns, client.V1Deployment(metadata=client.V1ObjectMeta(name=name), spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels={"app": name}), template=tmpl(name, 8080))))
    for name, target in (("checkout", "http"), ("payments", "web"), ("redis", "6379")):
        kube.core.create_namespaced_service(ns, client.V1Service(metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(
            selector={"app": name}, ports=[client.V1ServicePort(port=80, target_port=int(target) if target.isdigit() else target)])))
    kube.networking.create_namespaced_ingress(ns, client.V1Ingress(metadata=client.V1ObjectMeta(name="shop"), spec=client.V1IngressSpec(
        ingress_class_name=f"missing-{ns}", default_backend=client.V1IngressBackend(service=client.V1IngressServiceBackend(
            name="checkout", port=client.V1ServiceBackendPort(number=80))))))
    cls = f"manual-{ns}"  # this run's class: volumes other tests or replays left of a shared class are not counted
    kube.core.create_persistent_volume(client.V1PersistentVolume(metadata=client.V1ObjectMeta(name=pv_name), spec=client.V1PersistentVolumeSpec(
        capacity={"storage": "1Gi"}, access_modes=["ReadWriteOnce"], storage_class_name=cls,
        persistent_volume_reclaim_policy="Retain", host_path=client.V1HostPathVolumeSource(path=f"/tmp/{pv_name}"),
        claim_ref=client.V1ObjectReference(namespace=ns, name="data", uid="00000000-0000-0000-0000-00000000dead"))))
    # another tenant's volume of the same class: counted for a tenant's Incident, never named
    kube.core.create_persistent_volume(client.V1PersistentVolume(metadata=client.V1ObjectMeta(name=elsewhere), spec=client.V1PersistentVolumeSpec(
        capacity={"storage": "1Gi"}, access_modes=["ReadWriteOnce"], storage_class_name=cls,
        persistent_volume_reclaim_policy="Retain", host_path=client.V1HostPathVolumeSource(path=f"/tmp/{elsewhere}"),
        claim_ref=client.V1ObjectReference(namespace=f"other-{ns}", name="data", uid="00000000-0000-0000-0000-0000000000ee"))))
    try:
        kube.core.create_namespaced_persistent_volume_claim(ns, client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="data"), spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"], storage_class_name=cls,
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}))))
        scenarios.wait_ready(kube, ns, "checkout", 1)
        wait_for(lambda: kube.core.read_persistent_volume(pv_name).status.phase == "Released", 30, "the PV controller: Released")
        wait_for(lambda: any(es.endpoints for es in kube.discovery.list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=checkout").items), 30, "the EndpointSlice controller: checkout's pod")

        b = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name="checkout"))
        [own] = [s for s in b.cluster.services if s.name == "checkout"]
        # the controller still lists the pod, ready, but resolves no port for it: a Service that looks healthy
        assert own.ready_endpoints == 1 and own.endpoint_ports == [] and [p.target_port for p in own.ports] == ["http"]
        assert own.pod_ports[0].name == "web"
        deps = {d.name: d for d in b.cluster.dependencies}
        assert deps["payments"].ready_endpoints == 0 and deps["payments"].backends == ["Deployment/payments 0/0"]
        assert "env PAYMENTS_URL" in deps["payments"].referenced_by and deps["redis"].referenced_by == ["ConfigMap/app-config"]
        assert b.cluster.ingresses[0].ingress_class_exists is False
        got = kinds(b)
        for kind in ("service-port-mismatch", "dependency-unavailable", "ingress-class-missing"):
            assert kind in got, got

        assert deps["kube-dns"].namespace == "kube-system"  # unscoped (the collector alone): read

        # a tenant's Incident: its own namespace only — no Service of kube-system, no other tenant's volume named
        tenant = ClusterCollector(kube, scope=Scope(namespaces=frozenset({ns}), nodes=False, owner=ns))
        scoped = tenant.collect(Target(namespace=ns, kind="Deployment", name="checkout"))
        assert "kube-dns" not in {d.name for d in scoped.dependencies} and "payments" in {d.name for d in scoped.dependencies}
        [pvc] = tenant.collect(Target(namespace=ns, kind="PersistentVolumeClaim", name="data")).pvcs
        [held] = pvc.candidate_volumes
        assert held.name == pv_name and held.phase == "Released" and held.claim_ref_current is False
        assert pvc.class_volumes_elsewhere == 1 and elsewhere not in json.dumps(pvc.model_dump(mode="json"))
        claim = scenarios.evidence(kube, Target(namespace=ns, kind="PersistentVolumeClaim", name="data"))
        assert kinds(claim)[0] == "pv-released"
    finally:
        for name in (pv_name, elsewhere):
            kube.core.delete_persistent_volume(name)


def test_a_slow_app_under_a_small_limit_gets_throttling_as_an_alternative():
    """Unmeasured: slow requests in its own logs, a 200m limit. Slow dependency first, throttling offered beside it
    (Kubernetes docs, CPU limits enforced by throttling; Chaos Mesh NetworkChaos delay for the other reading)."""
    slow = [json.dumps({"msg": "GET /search", "upstream": "index:9200", "duration_ms": 4200 + i}) for i in range(5)]
    d = analyze(bundle(pods=[pod(container={"limits": {"cpu": "200m"}}, logTail="\n".join(slow))]))
    got = [(c.kind, c.confidence) for c in d.causes]
    assert got[0][0] == "slow-dependency" and ("cpu-throttling", 0.45) in got[1:3], got
    # without the small limit: no such alternative
    assert kinds(bundle(pods=[pod(logTail="\n".join(slow))])) == ["slow-dependency"]


def test_a_node_at_its_pod_capacity_from_its_own_state(kube, ns):
    """kubelet --max-pods (Kubernetes docs, "Node Allocatable"): a node whose allocatable pods are all taken, read
    from the node and the pods bound to it — no scheduler message involved. Finished pods hold no slot."""
    name = f"full-{ns}"
    kube.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name), spec=client.V1NodeSpec(
        taints=[client.V1Taint(key="diag.netaiops.io/test", effect="NoSchedule")])))
    try:
        kube.core.patch_node_status(name, {"status": {"capacity": {"pods": "2", "cpu": "2", "memory": "4Gi"},
                                                      "allocatable": {"pods": "2", "cpu": "2", "memory": "4Gi"}}})
        for i in range(2):
            kube.core.create_namespaced_pod(ns, client.V1Pod(metadata=client.V1ObjectMeta(name=f"p{i}"), spec=client.V1PodSpec(
                node_name=name, containers=[client.V1Container(name="c", image="nginx:1.27")])))
        top = analyze(scenarios.evidence(kube, Target(kind="Node", name=name, node=name))).causes[0]
        assert top.kind == "node-too-many-pods" and "2/2" in " ".join(e.text for e in top.evidence), top
    finally:
        kube.core.delete_node(name)


def test_measured_cpu_compares_percentages_only():
    """pod_cpu_usage_total is in millicores (Container Insights): 60m must not read as 60 % against the burner
    floor; the pod's percentages and its node's do."""
    from incident_operator.remediation.policy import measured_cpu
    millicores = bundle(metrics=[series("pod_cpu_usage_total", [60.0], Namespace="shop", PodName="burner")])
    assert measured_cpu(millicores, "shop", {"burner"}, set()) is None
    pct = bundle(metrics=[series("pod_cpu_usage_total", [900.0], Namespace="shop", PodName="burner"),
                          series("pod_cpu_utilization_over_pod_limit", [40.0, 97.0], Namespace="shop", PodName="burner"),
                          series("node_cpu_utilization", [40.0], NodeName="node-1")])
    assert measured_cpu(pct, "shop", {"burner"}, {"node-1"}) == (97.0, "pod_cpu_utilization_over_pod_limit{PodName=burner}")


@pytest.mark.parametrize("message,resource", [
    ("The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi.", "ephemeral-storage"),
    ("Pod ephemeral local storage usage exceeds the total limit of containers 4Mi. ", "ephemeral-storage"),  # real node
    ('Container app exceeded its local ephemeral storage limit "1Mi". ', "ephemeral-storage"),
    ('Usage of EmptyDir volume "cache" exceeds the limit "1Gi". ', "ephemeral-storage"),
    ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi.", "memory"),
    ("something else", None),
])
def test_eviction_messages_in_the_kubelets_wordings(message, resource):
    from incident_operator.analyzers.evicted import evicted_for
    assert evicted_for(message) == resource


def _node_cpu(values: list[float]) -> list[dict]:
    now = datetime.now(timezone.utc)
    return [{"name": "node_cpu_utilization", "dimensions": {"NodeName": "n1"},
             "points": [{"timestamp": (now - timedelta(minutes=len(values) - i)).isoformat(), "value": v}
                        for i, v in enumerate(values)]}]


@pytest.mark.parametrize("values, least, most", [
    ([50, 70, 90, 96, 97], 0.6, 0.6),  # still saturated: the alarm is measured
    ([41, 44, 83, 46, 42], None, None),  # a spike that is over, nothing to explain it: no cause (healthy control 75)
    (None, 0.45, 0.45),                # nothing measured: the alarm alone says it, weakly
])
def test_node_cpu_saturation_is_judged_on_what_was_measured(values, least, most):
    """A Node CPU alarm on a node whose CPU is back to normal got "노드 CPU 포화" at 0.55: the alarm restated,
    above what a healthy target may get. Now the node's own node_cpu_utilization decides."""
    alarm = {"name": "node-cpu", "metric": {"name": "node_cpu_utilization"}, "threshold": 80, "dimensions": {"NodeName": "n1"}}
    b = bundle(alarm=alarm, metrics=_node_cpu(values) if values else [], target={"kind": "Node", "name": "n1", "node": "n1"})
    cause = next((c for c in analyze(b).causes if c.kind == "node-pressure"), None)
    if least is None:
        assert cause is None, cause
        return
    assert least <= cause.confidence <= most, cause
    assert (values is None) or any(e.source == "metrics" for e in cause.evidence)
