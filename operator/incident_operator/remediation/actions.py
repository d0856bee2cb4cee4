"""The three remediation actions, each idempotent: `is_applied` tells whether it already happened."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from kubernetes import client

from ..kube.client import Kube, is_not_found
from ..kube.evidence import REVISION_ANNOTATION, ClusterCollector, container_from_spec
from ..models.diagnosis import RemediationProposal
from ..settings import Settings
from .policy import OPERATOR_MANAGER, non_burners, replica_plan


class NotGrounded(RuntimeError):
    """The live object no longer supports the action (checked again right before acting)."""


class Action(ABC):
    name: str

    def __init__(self, kube: Kube, settings: Settings | None = None):
        self.kube = kube
        self.settings = settings or Settings()

    @abstractmethod
    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        """The target's state as far as this action is concerned."""

    @abstractmethod
    def is_applied(self, p: RemediationProposal) -> bool: ...

    @abstractmethod
    def apply(self, p: RemediationProposal) -> None: ...

    @abstractmethod
    def healthy(self, p: RemediationProposal) -> tuple[bool, str]:
        """Whether the target is healthy again after the action, and what was seen (Korean)."""

    def undo(self, p: RemediationProposal, before: dict[str, Any]) -> str | None:
        """Put back what the action changed, where that is possible; returns what was done, or None."""
        return None

    def undo_settled(self, p: RemediationProposal, before: dict[str, Any]) -> tuple[bool, str]:
        """Whether the undo is in effect: the target as it was before, seen by its controller (Korean)."""
        return True, "되돌릴 것 없음"

    @abstractmethod
    def plan(self, p: RemediationProposal) -> tuple[list[dict[str, Any]], list[str]]:
        """What the action would change, read from the live objects: [{object, field, before, after}], and each
        target's fingerprint (Kind/ns/name uid generation) the plan's hash is taken over."""

    def restarts(self, p: RemediationProposal) -> int | None:
        """Container restarts of the target's pods now (the effectiveness check compares against it)."""
        d = self._deployment(p) if p.target.kind == "Deployment" else None
        if d is None or not (d.spec.selector and d.spec.selector.match_labels):
            return None
        selector = ",".join(f"{k}={v}" for k, v in sorted(d.spec.selector.match_labels.items()))
        pods = self.kube.core.list_namespaced_pod(p.target.namespace, label_selector=selector).items
        return sum(c.restart_count or 0 for pod in pods for c in (pod.status.container_statuses or []) if pod.status)

    def _deployment(self, p: RemediationProposal) -> client.V1Deployment | None:
        try:
            return self.kube.apps.read_namespaced_deployment(p.target.name, p.target.namespace)
        except client.ApiException as exc:
            if is_not_found(exc):
                return None
            raise


def _fingerprint(kind: str, obj: Any) -> str:
    m = obj.metadata
    return f"{kind}/{m.namespace}/{m.name} uid={m.uid} generation={m.generation}"


def _images(d: client.V1Deployment | None) -> list[str]:
    return [c.image for c in d.spec.template.spec.containers] if d else []


def rollout_complete(d: client.V1Deployment | None) -> tuple[bool, str]:
    """Like `kubectl rollout status`: the new template observed, every replica updated, ready and available,
    and no old replica left."""
    if d is None:
        return False, "Deployment 없음"
    want = d.spec.replicas if d.spec.replicas is not None else 1
    st = d.status or client.V1DeploymentStatus()
    seen = f"준비 {st.ready_replicas or 0}/{want}, 최신 {st.updated_replicas or 0}/{want}, 가용 {st.available_replicas or 0}/{want}"
    if (st.observed_generation or 0) < (d.metadata.generation or 0):
        return False, f"새 스펙 미반영 ({seen})"
    ok = ((st.updated_replicas or 0) == want and (st.ready_replicas or 0) == want
          and (st.available_replicas or 0) == want and (st.replicas or 0) == want)
    return ok, seen


class DeleteCpuBurner(Action):
    name = "delete-cpu-burner"

    def _live_pods(self, p: RemediationProposal, terminating: bool = False) -> list[Any]:
        """The burner pods that still exist, as the API server has them now (with `terminating`: those being
        deleted count too)."""
        left = []
        for name in p.params.get("pods", []) or []:
            try:
                pod = self.kube.core.read_namespaced_pod(name, p.target.namespace)
                if terminating or pod.metadata.deletion_timestamp is None:
                    left.append(pod)
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
        return left

    def _pods_left(self, p: RemediationProposal, terminating: bool = False) -> list[str]:
        return [pod.metadata.name for pod in self._live_pods(p, terminating)]

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        snap: dict[str, Any] = {"pods": self._pods_left(p)}
        if p.target.kind == "Deployment":
            d = self._deployment(p)
            snap["deployment"] = {"exists": d is not None and d.metadata.deletion_timestamp is None,
                                  "replicas": d.spec.replicas if d else None, "images": _images(d)}
        return snap

    def plan(self, p: RemediationProposal) -> tuple[list[dict[str, Any]], list[str]]:
        ns = p.target.namespace
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
            d = self._deployment(p)
            if d is None:
                return [], []
            return ([{"object": f"Deployment/{ns}/{p.target.name}", "field": "(객체)", "before": "존재",
                      "after": "삭제 (파드 포함)"}], [_fingerprint("Deployment", d)])
        changes, prints = [], []
        for pod in self._live_pods(p):
            name = pod.metadata.name
            changes.append({"object": f"Pod/{ns}/{name}", "field": "(객체)", "before": "존재", "after": "삭제"})
            prints.append(_fingerprint("Pod", pod))
        return changes, prints

    def is_applied(self, p: RemediationProposal) -> bool:
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
            d = self._deployment(p)
            return d is None or d.metadata.deletion_timestamp is not None
        return not self._pods_left(p)

    def healthy(self, p: RemediationProposal) -> tuple[bool, str]:
        left = self._pods_left(p, terminating=True)  # terminating pods still burn CPU: wait until gone
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload") and self._deployment(p) is not None:
            return False, f"Deployment `{p.target.name}` 삭제 진행 중, 남은 파드 {len(left)}개"
        return (not left), (f"부하 생성 파드 {len(left)}개 남음" if left else "부하 생성 파드 모두 종료")

    def apply(self, p: RemediationProposal) -> None:
        """Each pod (or the Deployment's template) is checked again as the API has it now: every container a
        burner, or nothing is deleted. Deletes are preconditioned on the uid and resourceVersion just read."""
        ns = p.target.namespace
        if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
            d = self._deployment(p)
            if d is None:
                return
            other = non_burners([container_from_spec(c) for c in d.spec.template.spec.containers])
            if other:
                raise NotGrounded(f"Deployment `{p.target.name}`의 템플릿에 부하 생성기가 아닌 컨테이너({', '.join(other)})가 있어 삭제하지 않음")
            try:
                self.kube.apps.delete_namespaced_deployment(
                    p.target.name, ns, propagation_policy="Background",
                    body=client.V1DeleteOptions(preconditions=client.V1Preconditions(
                        uid=d.metadata.uid, resource_version=d.metadata.resource_version)))
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
            return
        for pod in self._live_pods(p):
            name = pod.metadata.name
            owners = {o.name for o in pod.metadata.owner_references or []}
            if p.target.kind != "Pod" and not any(o == p.target.name or o.startswith(f"{p.target.name}-") for o in owners):
                raise NotGrounded(f"파드 `{name}`은(는) `{p.target}`의 파드가 아님")
            other = non_burners([container_from_spec(c) for c in pod.spec.containers])
            if other:
                raise NotGrounded(f"파드 `{name}`에 부하 생성기가 아닌 컨테이너({', '.join(other)})가 있어 삭제하지 않음")
            try:
                self.kube.core.delete_namespaced_pod(name, ns, body=client.V1DeleteOptions(
                    preconditions=client.V1Preconditions(uid=pod.metadata.uid, resource_version=pod.metadata.resource_version)))
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise


class RollbackImage(Action):
    """Like `kubectl rollout undo --to-revision`: the Deployment takes that ReplicaSet's pod template."""

    name = "rollback-image"

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        d = self._deployment(p)
        rev = (d.metadata.annotations or {}).get(REVISION_ANNOTATION) if d else None
        return {"images": _images(d), **({"revision": int(rev)} if rev and rev.isdigit() else {})}

    def is_applied(self, p: RemediationProposal) -> bool:
        return _images(self._deployment(p)) == list(p.params.get("images", []))

    def healthy(self, p: RemediationProposal) -> tuple[bool, str]:
        d = self._deployment(p)
        if _images(d) != list(p.params.get("images", [])):
            return False, f"이미지가 {_images(d)} (기대: {p.params.get('images')})"
        return rollout_complete(d)

    def plan(self, p: RemediationProposal) -> tuple[list[dict[str, Any]], list[str]]:
        d = self._deployment(p)
        if d is None:
            return [], []
        ref = f"Deployment/{p.target.namespace}/{p.target.name}"
        want = list(p.params.get("images", []))
        now = {c.name: c.image for c in d.spec.template.spec.containers}
        names = list(now)
        changes = [{"object": ref, "field": f"spec.template.spec.containers[{n}].image", "before": now[n],
                    "after": want[i] if i < len(want) else now[n]} for i, n in enumerate(names)]
        rev = (d.metadata.annotations or {}).get(REVISION_ANNOTATION)
        changes.append({"object": ref, "field": "spec.template (리비전)", "before": str(rev), "after": str(p.params.get("toRevision"))})
        return changes, [_fingerprint("Deployment", d)]

    def undo_settled(self, p: RemediationProposal, before: dict[str, Any]) -> tuple[bool, str]:
        d = self._deployment(p)
        if d is None:
            return False, "Deployment 없음"
        if _images(d) != list(before.get("images") or []):
            return False, f"이미지가 {_images(d)} (조치 전: {before.get('images')})"
        st = d.status or client.V1DeploymentStatus()
        if (st.observed_generation or 0) < (d.metadata.generation or 0):
            return False, "되돌린 스펙을 컨트롤러가 아직 반영하지 않음"
        return True, f"조치 전 이미지 {_images(d)}로 돌아감 (컨트롤러 반영, generation {d.metadata.generation})"

    def undo(self, p: RemediationProposal, before: dict[str, Any]) -> str | None:
        if not before.get("revision"):
            return None
        self.apply(p.model_copy(update={"params": {**p.params, "toRevision": before["revision"]}}))
        return f"리비전 {before['revision']}(조치 전 템플릿)으로 되돌림"

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
             {"op": "replace", "path": "/spec/template", "value": template}], field_manager=OPERATOR_MANAGER)


class RestoreReplicas(Action):
    name = "restore-replicas"

    def snapshot(self, p: RemediationProposal) -> dict[str, Any]:
        d = self._deployment(p)
        return {"replicas": d.spec.replicas if d else None}

    def plan(self, p: RemediationProposal) -> tuple[list[dict[str, Any]], list[str]]:
        d = self._deployment(p)
        if d is None:
            return [], []
        return ([{"object": f"Deployment/{p.target.namespace}/{p.target.name}", "field": "spec.replicas",
                  "before": str(d.spec.replicas), "after": str(p.params.get("replicas"))}], [_fingerprint("Deployment", d)])

    def undo_settled(self, p: RemediationProposal, before: dict[str, Any]) -> tuple[bool, str]:
        d = self._deployment(p)
        if d is None:
            return False, "Deployment 없음"
        want = before.get("replicas")
        st = d.status or client.V1DeploymentStatus()
        seen = f"spec.replicas {d.spec.replicas}, 파드 {st.replicas or 0}개"
        if d.spec.replicas != want:
            return False, f"{seen} (조치 전: {want})"
        if (st.observed_generation or 0) < (d.metadata.generation or 0) or (st.replicas or 0) != want:
            return False, f"{seen}: 컨트롤러 반영 대기"
        return True, f"레플리카 {want}로 돌아감 ({seen})"

    def is_applied(self, p: RemediationProposal) -> bool:
        d = self._deployment(p)
        return d is not None and d.spec.replicas == int(p.params["replicas"])

    def apply(self, p: RemediationProposal) -> None:
        """Grounded again on the Deployment as the API has it now (an owner who scaled it down for maintenance
        meanwhile wins), and written only if it did not change since that read (read again when only its
        status moved it on)."""
        for attempt in range(3):
            try:
                return self._apply_once(p)
            except client.ApiException as exc:
                if exc.status not in (409, 422) or attempt == 2:  # 422: the resourceVersion test failed
                    raise

    def _apply_once(self, p: RemediationProposal) -> None:
        ns, name = p.target.namespace, p.target.name
        collector = ClusterCollector(self.kube, max_pods=1, log_tail_lines=0)
        d = collector.workload("Deployment", ns, name)  # read once: the plan and the write's precondition agree
        dep = collector.deployment(ns, name) if d is not None else None
        if d is None or dep is None:
            raise NotGrounded(f"Deployment {p.target} 없음")
        try:
            hpas = collector.hpas(ns, {("Deployment", name)})
        except client.ApiException:  # not readable: an HPA's own scaling still shows in managedFields
            hpas = []
        plan = replica_plan(dep, hpas, self.settings)
        want = int(p.params["replicas"])
        if plan.replicas is None:
            raise NotGrounded(f"레플리카를 되돌리지 않음: {plan.refusal}")
        if not 1 <= want <= plan.replicas:
            raise NotGrounded(f"레플리카 수 {want}는 API 기록에 근거한 값 {plan.replicas}({plan.origin})를 벗어남")
        self.kube.apps.patch_namespaced_deployment(
            name, ns, [{"op": "test", "path": "/metadata/resourceVersion", "value": d.metadata.resource_version},
                       {"op": "replace", "path": "/spec/replicas", "value": want}], field_manager=OPERATOR_MANAGER)

    def healthy(self, p: RemediationProposal) -> tuple[bool, str]:
        d = self._deployment(p)
        want = int(p.params["replicas"])
        if d is not None and d.spec.replicas != want:
            return False, f"spec.replicas {d.spec.replicas} (기대: {want})"
        return rollout_complete(d)

    def undo(self, p: RemediationProposal, before: dict[str, Any]) -> str | None:
        if before.get("replicas") is None:
            return None
        self.kube.apps.patch_namespaced_deployment(  # not /scale: managedFields then show it was the operator
            p.target.name, p.target.namespace, {"spec": {"replicas": int(before["replicas"])}}, field_manager=OPERATOR_MANAGER)
        return f"레플리카를 조치 전 값({before['replicas']})으로 되돌림"


def action_for(name: str, kube: Kube, settings: Settings | None = None) -> Action:
    return {a.name: a for a in (DeleteCpuBurner, RollbackImage, RestoreReplicas)}[name](kube, settings)
