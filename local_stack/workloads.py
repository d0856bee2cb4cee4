"""Workloads for the tests and the demo, with the kubelet faults kwok's pod-fault stage simulates.

A fault is described on the pod template (label sim.netaiops.io/fault plus annotations); kwok
writes the matching container status. The operator never reads these labels, only the status.
"""

from __future__ import annotations

from typing import Any

from incident_operator.scenarios.sim import FAULT_LABEL, FAULTS, fault_metadata, set_image_with_fault

__all__ = ["FAULT_LABEL", "FAULTS", "deployment", "incident", "set_image_with_fault"]


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2, fault: str | None = None,
               command: list[str] | None = None, args: list[str] | None = None,
               limits: dict[str, str] | None = None, requests: dict[str, str] | None = None,
               readiness: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels, ann = fault_metadata(fault, image)
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


def incident(name: str, *, target: dict | None = None, alarm: dict | None = None,
             remediation: str = "auto", severity: str = "high") -> dict[str, Any]:
    spec: dict[str, Any] = {"source": "alarm" if alarm else "manual", "severity": severity,
                            "options": {"remediation": remediation}}
    if target:
        spec["target"] = target
    if alarm:
        spec["alarm"] = alarm
    return {"apiVersion": "netaiops.io/v1alpha1", "kind": "Incident", "metadata": {"name": name}, "spec": spec}
