"""Broken workloads created for real in the API, waited on until the simulated kubelet reports them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kubernetes import client

from incident_operator.kube.client import Kube
from incident_operator.kube.evidence import ClusterCollector
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.models.spec import Alarm, IncidentSpec, Target
from incident_operator.phases.context import PhaseContext
from incident_operator.runtime import build_context
from incident_operator.settings import Settings

from . import workloads
from .cluster import wait_for


def apply_deployment(kube: Kube, ns: str, body: dict) -> None:
    kube.apps.create_namespaced_deployment(ns, body)


def pods_of(kube: Kube, ns: str, app: str) -> list[client.V1Pod]:
    return kube.core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def wait_ready(kube: Kube, ns: str, name: str, replicas: int, timeout: float = 30) -> None:
    wait_for(lambda: (kube.apps.read_namespaced_deployment(name, ns).status.ready_replicas or 0) >= replicas,
             timeout, f"{name} ready")


def wait_pod_state(kube: Kube, ns: str, app: str, reason: str | None = None, timeout: float = 30) -> None:
    """Until some pod of `app` has a container waiting for `reason` (or running-not-ready if None)."""
    def seen() -> bool:
        for p in pods_of(kube, ns, app):
            for s in (p.status.container_statuses or []) if p.status else []:
                if reason and s.state and s.state.waiting and s.state.waiting.reason == reason:
                    return True
                if reason is None and s.state and s.state.running and not s.ready:
                    return True
        return False
    wait_for(seen, timeout, f"{app} pod {reason or 'running-not-ready'}")


def bad_rollout(kube: Kube, ns: str, name: str = "api", bad_image: str = "nginx:9.99-does-not-exist") -> None:
    """A healthy Deployment, then a new revision stuck pulling an image that does not exist."""
    apply_deployment(kube, ns, workloads.deployment(name, image="nginx:1.27", replicas=2))
    wait_ready(kube, ns, name, 2)
    workloads.set_image_with_fault(kube.apps, ns, name, bad_image, "image-pull")
    wait_pod_state(kube, ns, name, "ImagePullBackOff")


def cpu_burner(kube: Kube, ns: str, name: str = "cpu-burner") -> None:
    apply_deployment(kube, ns, workloads.deployment(
        name, image="alexeiled/stress-ng:latest", replicas=1, args=["--cpu", "2", "--timeout", "600s"]))
    wait_ready(kube, ns, name, 1)


def scaled_to_zero(kube: Kube, ns: str, name: str = "web", replicas: int = 3) -> None:
    """The seed chaos: the chaos tool (field manager `netaiops-chaos`) notes the replicas and scales to 0."""
    apply_deployment(kube, ns, workloads.deployment(name, replicas=replicas))
    wait_ready(kube, ns, name, replicas)
    chaos_scale_to_zero(kube, ns, name)


def chaos_scale_to_zero(kube: Kube, ns: str, name: str) -> None:
    from incident_operator.scenarios.sim import chaos_scale_to_zero as scale
    scale(kube, ns, name)
    wait_for(lambda: not pods_of(kube, ns, name), 30, f"{name} scaled to 0")


def evidence(kube: Kube, target: Target, alarm: Alarm | None = None) -> EvidenceBundle:
    """What the collect phase would gather about `target` right now, in a ±30 min window."""
    now = datetime.now(timezone.utc)
    return EvidenceBundle(incident=f"{target.namespace}/x", alarm=alarm, target=target,
                          cluster=ClusterCollector(kube).collect(target),
                          window={"start": now - timedelta(minutes=30), "end": now + timedelta(minutes=30), "anchor": now})


def context(kube: Kube, settings: Settings, ns: str, body: dict) -> PhaseContext:
    """An Incident created in the API, and the context the pipeline would give its phases."""
    created = kube.custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", body)
    ctx = build_context(kube, settings, created)
    ctx.spec = IncidentSpec.model_validate(created["spec"])
    return ctx
