"""Workloads for the tests and the demo, with the kubelet faults kwok's pod-fault stage simulates.

A fault is described on the pod template (label sim.netaiops.io/fault plus annotations); kwok
writes the matching container status. The operator never reads these labels, only the status.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

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
    "not-ready": {"fault": "not-ready"},
}


def fault_template_meta(fault: str | None, image: str) -> tuple[dict[str, str], dict[str, str]]:
    if not fault:
        return {}, {}
    f = FAULTS[fault]
    labels = {FAULT_LABEL: f["fault"]}
    annotations = {f"sim.netaiops.io/{k}": v.format(image=image) for k, v in f.items() if k != "fault"}
    return labels, annotations


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2, fault: str | None = None,
               command: list[str] | None = None, args: list[str] | None = None,
               limits: dict[str, str] | None = None, requests: dict[str, str] | None = None,
               readiness: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels, ann = fault_template_meta(fault, image)
    container: dict[str, Any] = {"name": "app", "image": image}
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if limits or requests:
        container["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
    if readiness:
        container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name, **labels}, "annotations": ann},
                              "spec": {"containers": [container]}}},
    }


def set_image_with_fault(apps: client.AppsV1Api, ns: str, name: str, image: str, fault: str | None) -> None:
    """What a bad rollout looks like: a new image, and (simulated) kubelet failing to run it."""
    labels, ann = fault_template_meta(fault, image)
    dep = apps.read_namespaced_deployment(name, ns)
    tmpl = dep.spec.template
    tmpl.metadata.labels = {k: v for k, v in (tmpl.metadata.labels or {}).items() if k != FAULT_LABEL} | labels
    tmpl.metadata.annotations = {k: v for k, v in (tmpl.metadata.annotations or {}).items()
                                 if not k.startswith("sim.netaiops.io/")} | ann
    tmpl.spec.containers[0].image = image
    apps.replace_namespaced_deployment(name, ns, dep)


def incident(name: str, *, target: dict | None = None, alarm: dict | None = None,
             remediation: str = "auto", severity: str = "high") -> dict[str, Any]:
    spec: dict[str, Any] = {"source": "alarm" if alarm else "manual", "severity": severity,
                            "options": {"remediation": remediation}}
    if target:
        spec["target"] = target
    if alarm:
        spec["alarm"] = alarm
    return {"apiVersion": "netaiops.io/v1alpha1", "kind": "Incident", "metadata": {"name": name}, "spec": spec}
