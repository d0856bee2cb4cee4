"""The three remediation actions, each idempotent: `is_applied` tells whether it already happened."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from kubernetes import client

from ..kube.client import Kube, is_not_found
from ..kube.evidence import REVISION_ANNOTATION
from ..models.diagnosis import RemediationProposal


class Action(ABC):
    name: str

    def __init__(self, kube: Kube):
        self.kube = kube

    @abstractmethod
    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        """The target's state as far as this action is concerned."""

    @abstractmethod
    def is_applied(self, p: RemediationProposal) -> bool: ...

    @abstractmethod
    def apply(self, p: RemediationProposal) -> None: ...

    def _deployment(self, p: RemediationProposal) -> client.V1Deployment | None:
        try:
            return self.kube.apps.read_namespaced_deployment(p.target.name, p.target.namespace)
        except client.ApiException as exc:
            if is_not_found(exc):
                return None
            raise


def _images(d: client.V1Deployment | None) -> list[str]:
    return [c.image for c in d.spec.template.spec.containers] if d else []


class DeleteCpuBurner(Action):
    name = "delete-cpu-burner"

    def _pods_left(self, p: RemediationProposal) -> list[str]:
        left = []
        for name in p.params.get("pods", []) or []:
            try:
                pod = self.kube.core.read_namespaced_pod(name, p.target.namespace)
                if pod.metadata.deletion_timestamp is None:
                    left.append(name)
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
        return left

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        snap: dict[str, Any] = {"pods": self._pods_left(p)}
        if p.target.kind == "Deployment":
            d = self._deployment(p)
            snap["deployment"] = {"exists": d is not None and d.metadata.deletion_timestamp is None,
                                  "replicas": d.spec.replicas if d else None, "images": _images(d)}
        return snap

    def is_applied(self, p: RemediationProposal) -> bool:
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
            d = self._deployment(p)
            return d is None or d.metadata.deletion_timestamp is not None
        return not self._pods_left(p)

    def apply(self, p: RemediationProposal) -> None:
        ns = p.target.namespace
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
            try:
                self.kube.apps.delete_namespaced_deployment(p.target.name, ns, propagation_policy="Background")
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
            return
        for name in self._pods_left(p):
            try:
                self.kube.core.delete_namespaced_pod(name, ns)
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise


class RollbackImage(Action):
    """Like `kubectl rollout undo --to-revision`: the Deployment takes that ReplicaSet's pod template."""

    name = "rollback-image"

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        return {"images": _images(self._deployment(p))}

    def is_applied(self, p: RemediationProposal) -> bool:
        return _images(self._deployment(p)) == list(p.params.get("images", []))

    def apply(self, p: RemediationProposal) -> None:
        d = self._deployment(p)
        if d is None:
            raise RuntimeError(f"Deployment {p.target} 없음")
        want = str(p.params["toRevision"])
        selector = ",".join(f"{k}={v}" for k, v in sorted((d.spec.selector.match_labels or {}).items()))
        sets = self.kube.apps.list_namespaced_replica_set(p.target.namespace, label_selector=selector).items
        rs = next((r for r in sets if (r.metadata.annotations or {}).get(REVISION_ANNOTATION) == want
                   and any(o.uid == d.metadata.uid for o in r.metadata.owner_references or [])), None)
        if rs is None:
            raise RuntimeError(f"리비전 {want}의 ReplicaSet을 찾을 수 없음")
        template = client.ApiClient().sanitize_for_serialization(rs.spec.template)
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        self.kube.apps.patch_namespaced_deployment(
            p.target.name, p.target.namespace,
            [{"op": "test", "path": "/metadata/resourceVersion", "value": d.metadata.resource_version},
             {"op": "replace", "path": "/spec/template", "value": template}])


class RestoreReplicas(Action):
    name = "restore-replicas"

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        d = self._deployment(p)
        return {"replicas": d.spec.replicas if d else None}

    def is_applied(self, p: RemediationProposal) -> bool:
        d = self._deployment(p)
        return d is not None and d.spec.replicas == int(p.params["replicas"])

    def apply(self, p: RemediationProposal) -> None:
        self.kube.apps.patch_namespaced_deployment_scale(
            p.target.name, p.target.namespace, {"spec": {"replicas": int(p.params["replicas"])}})


def action_for(name: str, kube: Kube) -> Action:
    return {a.name: a for a in (DeleteCpuBurner, RollbackImage, RestoreReplicas)}[name](kube)
