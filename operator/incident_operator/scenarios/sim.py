"""Kubelet faults for pods on kwok's fake nodes.

A pod template labelled `sim.netaiops.io/fault` (plus `sim.netaiops.io/*` annotations) gets, from
kwok's `pod-fault` Stage (hack/kwok/stages.yaml), the container status a real kubelet would report.
The operator never reads these labels; it sees only the status.
"""

from __future__ import annotations

from typing import Any

FAULT_LABEL = "sim.netaiops.io/fault"

FAULTS: dict[str, dict[str, str]] = {
    "image-pull": {"fault": "waiting", "reason": "ImagePullBackOff",
                   "message": 'Back-off pulling image "{image}": not found'},
    "image-pull-auth": {"fault": "waiting", "reason": "ErrImagePull",
                        "message": "pull access denied, repository does not exist or may require authorization"},
    "crash-loop": {"fault": "waiting", "reason": "CrashLoopBackOff", "restarts": "7", "last-reason": "Error",
                   "exit-code": "1", "message": "back-off 5m0s restarting failed container"},
    "oom": {"fault": "waiting", "reason": "CrashLoopBackOff", "restarts": "4", "last-reason": "OOMKilled",
            "exit-code": "137", "message": "back-off restarting failed container"},
    "missing-config": {"fault": "waiting", "reason": "CreateContainerConfigError",
                       "message": 'configmap "app-settings" not found'},
    "missing-secret": {"fault": "waiting", "reason": "CreateContainerConfigError",
                       "message": 'secret "db-credentials" not found'},
    "not-ready": {"fault": "not-ready"},
}


def fault_metadata(fault: str | None, image: str) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) for a pod template that should show `fault`."""
    if not fault:
        return {}, {}
    f = FAULTS[fault]
    labels = {FAULT_LABEL: f["fault"]}
    annotations = {f"sim.netaiops.io/{k}": v.format(image=image) for k, v in f.items() if k != "fault"}
    return labels, annotations


def set_image_with_fault(apps: Any, ns: str, name: str, image: str, fault: str | None) -> None:
    """What a bad rollout looks like: a new image, and (simulated) kubelet failing to run it."""
    labels, ann = fault_metadata(fault, image)
    dep = apps.read_namespaced_deployment(name, ns)
    tmpl = dep.spec.template
    tmpl.metadata.labels = {k: v for k, v in (tmpl.metadata.labels or {}).items() if k != FAULT_LABEL} | labels
    tmpl.metadata.annotations = {k: v for k, v in (tmpl.metadata.annotations or {}).items()
                                 if not k.startswith("sim.netaiops.io/")} | ann
    tmpl.spec.containers[0].image = image
    apps.replace_namespaced_deployment(name, ns, dep)


CHAOS_MANAGER = "netaiops-chaos"  # the seed chaos' field manager (INCIDENT_REMEDIATION_CHAOS_MANAGERS lists it)


def chaos_scale_to_zero(kube: Any, ns: str, name: str) -> None:
    """The seed chaos "scaled to 0", as a chaos tool does it: it notes the replicas it found
    (netaiops.io/previous-replicas) and sets spec.replicas to 0, both under its own field manager, so
    managedFields show the API who did it (the operator scales back only what a known chaos tool scaled down)."""
    replicas = kube.apps.read_namespaced_deployment(name, ns).spec.replicas or 0
    kube.apps.patch_namespaced_deployment(name, ns, {"metadata": {"annotations": {
        "netaiops.io/previous-replicas": str(replicas)}}}, field_manager=CHAOS_MANAGER)
    # a patch of the Deployment, not the scale subresource: only the former records who set spec.replicas
    kube.apps.patch_namespaced_deployment(name, ns, {"spec": {"replicas": 0}}, field_manager=CHAOS_MANAGER)
