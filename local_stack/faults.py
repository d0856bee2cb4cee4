"""Kubelet-side faults reproduced for real on the real node (local_stack.real_node).

Each fault is a workload built from the local images (local_stack.images) that makes the kubelet, containerd
and the kernel produce the failure themselves — an OOM kill, a crash loop, a failing probe, an image that
cannot be pulled, an eviction — and a check that the API server now shows it. Nothing is simulated: no
status is written by hand, and the operator sees only what the kubelet reported.

Sources of the fault recipes (public fault catalogues; each names the page it follows):
- Kubernetes docs, "Assign Memory Resources to Containers and Pods" (exceeding a memory limit → OOMKilled):
  https://kubernetes.io/docs/tasks/configure-pod-container/assign-memory-resource/
- Kubernetes docs, "Debug Running Pods" / "Determine the Reason for Pod Failure" (exit codes, termination
  messages, CrashLoopBackOff): https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/
- Kubernetes docs, "Configure Liveness, Readiness and Startup Probes" (exec liveness probe on a missing file):
  https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
- Kubernetes docs, "Configure a Pod to Use a ConfigMap" / "Secrets" (a missing ConfigMap, Secret or key →
  CreateContainerConfigError): https://kubernetes.io/docs/tasks/configure-pod-container/configure-pod-configmap/
- Kubernetes docs, "Images" (ErrImagePull / ImagePullBackOff): https://kubernetes.io/docs/concepts/containers/images/
- Kubernetes docs, "Local ephemeral storage" (a pod over its ephemeral-storage limit is evicted):
  https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#local-ephemeral-storage
- Kubernetes docs, "Assign CPU Resources to Containers and Pods" (a container at its CPU limit is throttled):
  https://kubernetes.io/docs/tasks/configure-pod-container/assign-cpu-resource/
- Chaos Mesh StressChaos / LitmusChaos pod-cpu-hog (a stress-ng CPU burner):
  https://chaos-mesh.org/docs/simulate-heavy-stress-on-kubernetes/ , https://litmuschaos.github.io/litmus/experiments/categories/pods/pod-cpu-hog/
- k8sgpt's pod analyzer (CrashLoopBackOff, init containers, probe failures): https://github.com/k8sgpt-ai/k8sgpt
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .real_node import LABEL_KEY, TAINT_KEY

BUSYBOX = "local/busybox:1"
STRESS = "local/stress-ng:1"
WEB = "local/web:1"


def on_real_node(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec that runs on the real node (its taint keeps ordinary pods on the kwok nodes)."""
    return {**pod_spec, "nodeSelector": {LABEL_KEY: "true"},
            "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": pod_spec.get("terminationGracePeriodSeconds", 2),
            "enableServiceLinks": False}


def container(name: str = "app", image: str = BUSYBOX, command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        c["command"] = command
    c.update(extra)
    return c


def deployment(name: str, containers: list[dict[str, Any]], replicas: int = 1, init: list[dict[str, Any]] | None = None,
               volumes: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "progressDeadlineSeconds": 60,
                     "template": {"metadata": {"labels": {"app": name, **(labels or {})}}, "spec": on_real_node(spec)}}}


def web(name: str, replicas: int = 2, image: str = WEB) -> dict[str, Any]:
    """The HTTP service with real readiness and liveness probes."""
    probe = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2}
    return deployment(name, [container(image=image, env=[{"name": "APP_NAME", "value": name}],
                                       ports=[{"containerPort": 8080, "name": "http"}],
                                       readinessProbe=probe,
                                       livenessProbe={**probe, "httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                                       resources={"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}})],
                      replicas=replicas)


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def _statuses(pod: Any) -> list[Any]:
    st = pod.status
    return list((st.init_container_statuses or []) if st else []) + list((st.container_statuses or []) if st else [])


def any_status(pred: Callable[[Any], bool]) -> Callable[[list[Any]], bool]:
    return lambda pods: any(pred(s) for p in pods for s in _statuses(p))


def waiting(reason: str) -> Callable[[list[Any]], bool]:
    return any_status(lambda s: bool(s.state and s.state.waiting and s.state.waiting.reason == reason))


def last_terminated(reason: str, restarts: int = 1) -> Callable[[list[Any]], bool]:
    return any_status(lambda s: s.restart_count >= restarts and bool(
        s.last_state and s.last_state.terminated and s.last_state.terminated.reason == reason))


def pod_reason(reason: str) -> Callable[[list[Any]], bool]:
    return lambda pods: any(p.status and p.status.reason == reason for p in pods)


def running_not_ready(pods: list[Any]) -> bool:
    return any(s.state and s.state.running and not s.ready for p in pods for s in _statuses(p))


@dataclass
class Fault:
    name: str                    # the Deployment (and Incident) name
    kind: str                    # the cause kind the analyzer must rank first
    objects: list[dict[str, Any]]
    shows: Callable[[list[Any]], bool]   # over the Deployment's pods: the kubelet reports the fault
    source: str                  # the public catalogue entry it follows
    outcome: str = "NeedsAction"  # the Incident's end: a known fix verified (Resolved) or a person needed
    alarm: dict[str, Any] | None = None
    after: Callable[[Any, str], None] | None = None   # a second step once the first is healthy (a bad rollout)
    setup: list[dict[str, Any]] = field(default_factory=list)
    needs_metric: tuple[str, float] | None = None   # Container Insights must show it (metric, at least) before filing


def catalogue() -> list[Fault]:
    """Every kubelet-side fault this machine reproduces for real."""
    return [
        Fault("oom", "oom-killed", [deployment("oom", [container(
            command=sh("echo allocating; tail /dev/zero"), resources={"limits": {"memory": "24Mi"}})])],
            last_terminated("OOMKilled"), "kubernetes.io assign-memory-resource (exceed a container's memory limit)"),
        Fault("crash", "crash-loop", [deployment("crash", [container(
            command=sh("echo 'FATAL: cannot open /etc/app/config.yaml: no such file or directory' >&2; exit 1"))])],
            waiting("CrashLoopBackOff"), "kubernetes.io determine-reason-pod-failure (a container that exits 1)"),
        Fault("init-crash", "crash-loop", [deployment("init-crash", [container(command=sh("sleep 3600"))],
                                                      init=[container("migrate", command=sh("echo 'migration failed: relation \"users\" does not exist' >&2; exit 2"))])],
              waiting("CrashLoopBackOff"), "k8sgpt pod analyzer (an init container in CrashLoopBackOff)"),
        # the shell (PID 1) ignores SIGTERM: the kubelet SIGKILLs it after the grace period — exit 137, reason Error —
        # and a memory limit is set, so exit 137 alone must not read as an OOM kill (issue 24)
        Fault("liveness", "probe-failure", [deployment("liveness", [container(
            command=sh("echo started; sleep 3600"), resources={"limits": {"memory": "32Mi"}},
            livenessProbe={"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1})])],
            any_status(lambda s: s.restart_count >= 1), "kubernetes.io liveness probe (exec on a missing file)"),
        Fault("readiness", "probe-failure", [deployment("readiness", [container(
            image=WEB, ports=[{"containerPort": 8080}],
            readinessProbe={"httpGet": {"path": "/not-there", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1})])],
            running_not_ready, "kubernetes.io readiness probe (httpGet on a path the server does not have)"),
        Fault("missing-cm", "missing-config", [deployment("missing-cm", [container(
            command=sh("sleep 3600"), envFrom=[{"configMapRef": {"name": "app-settings"}}])])],
            waiting("CreateContainerConfigError"), "kubernetes.io configure-pod-configmap (a ConfigMap that does not exist)"),
        Fault("missing-secret", "missing-config", [deployment("missing-secret", [container(
            command=sh("sleep 3600"), env=[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}])])],
            waiting("CreateContainerConfigError"), "kubernetes.io secrets (a Secret that does not exist)"),
        Fault("missing-key", "missing-config", [deployment("missing-key", [container(
            command=sh("sleep 3600"), env=[{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "present", "key": "mode"}}}])])],
            waiting("CreateContainerConfigError"), "kubernetes.io configure-pod-configmap (a key the ConfigMap lacks)",
            setup=[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "present"}, "data": {"other": "x"}}]),
        Fault("image-pull", "image-pull", [deployment("image-pull", [container(image="local/does-not-exist:1")])],
              lambda pods: waiting("ErrImagePull")(pods) or waiting("ImagePullBackOff")(pods),
              "kubernetes.io images (an image no registry serves)"),
        Fault("burner", "cpu-burner", [deployment("burner", [container(
            image=STRESS, command=["stress-ng", "--cpu", "1", "--cpu-load", "100", "--timeout", "600s"],
            resources={"limits": {"cpu": "300m"}})])],
            any_status(lambda s: bool(s.state and s.state.running)), "Chaos Mesh StressChaos / LitmusChaos pod-cpu-hog",
            outcome="Resolved", needs_metric=("pod_cpu_utilization", 5.0)),
        Fault("throttled", "cpu-throttling", [deployment("throttled", [container(
            command=sh("echo 'api: serving'; while true; do gzip -c /bin/busybox > /dev/null; done"),
            resources={"requests": {"cpu": "10m"}, "limits": {"cpu": "10m"}})])],
            any_status(lambda s: bool(s.state and s.state.running)),
            "kubernetes.io assign-cpu-resource (a container that needs more CPU than its limit is throttled)",
            needs_metric=("pod_cpu_utilization_over_pod_limit", 80.0)),
        # a load generator that cannot burn the node: stress-ng under 10m is throttled (issue 24), not a burner to delete
        Fault("stress-throttled", "cpu-throttling", [deployment("stress-throttled", [container(
            image=STRESS, command=["stress-ng", "--cpu", "1", "--cpu-load", "100", "--timeout", "600s"],
            resources={"requests": {"cpu": "10m"}, "limits": {"cpu": "10m"}})])],
            any_status(lambda s: bool(s.state and s.state.running)),
            "Chaos Mesh StressChaos / LitmusChaos pod-cpu-hog under a CPU limit (kubernetes.io assign-cpu-resource)",
            needs_metric=("pod_cpu_utilization_over_pod_limit", 80.0)),
        Fault("app-errors", "app-errors", [deployment("app-errors", [container(command=sh(
            'i=0; while true; do i=$((i+1)); echo "$(date -u +%FT%TZ) ERROR checkout: payment-api request failed: '
            'connection refused (attempt $i)"; echo "$(date -u +%FT%TZ) INFO checkout: serving"; sleep 0.5; done'))])],
            any_status(lambda s: bool(s.state and s.state.running)),
            "Chaos Mesh / LitmusChaos dependency outage seen from the caller (errors in its own logs)"),
        Fault("evicted", "evicted", [deployment("evicted", [container(
            command=sh("dd if=/dev/zero of=/tmp/fill bs=1M count=24 2>/dev/null; echo filled; sleep 3600"),
            resources={"limits": {"ephemeral-storage": "4Mi"}})])],
            pod_reason("Evicted"), "kubernetes.io local ephemeral storage (a pod over its ephemeral-storage limit)"),
    ]
