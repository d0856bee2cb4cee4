"""Deployments scaled to 0 replicas.

The fix (scale back up) is proposed only when the API server's own records ground it
(remediation.policy.replica_plan): who set spec.replicas (managedFields), how many it had (ReplicaSet
history). Events are shown as context, never read for a number: anyone who may create an Event can
write "Scaled down replica set … from 400 to 0".
"""

from __future__ import annotations

from ..kube.evidence import PREVIOUS_REPLICAS_ANNOTATION
from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal, ResourceRef
from ..models.evidence import EvidenceBundle
from ..settings import Settings
from .base import Analyzer, event_item, events_matching

__all__ = ["PREVIOUS_REPLICAS_ANNOTATION", "ScaledToZeroAnalyzer"]


class ScaledToZeroAnalyzer(Analyzer):
    kind = "scaled-to-zero"
    title = "레플리카 0으로 축소된 배포"

    def __init__(self, settings: Settings | None = None):
        self.settings = settings

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        from ..remediation.policy import replica_plan  # the policy imports the analyzers
        settings = self.settings or Settings()
        causes = []
        for dep in bundle.cluster.deployments:
            if dep.replicas != 0:
                continue
            ref = ResourceRef(kind="Deployment", name=dep.name, namespace=dep.namespace)
            plan = replica_plan(dep, bundle.cluster.hpas, settings)
            evidence = [EvidenceItem(source="cluster", text=f"Deployment `{dep.name}`의 spec.replicas가 0이고 실행 중인 파드가 없습니다", ref=str(ref))]
            w = dep.replicas_writer
            if w is not None:
                evidence.append(EvidenceItem(source="cluster", ref=str(ref), text=(
                    f"spec.replicas를 마지막으로 바꾼 주체 (managedFields): `{w.manager}`"
                    + (f" ({w.subresource} 하위 리소스)" if w.subresource else "") + (f", {w.time.isoformat()}" if w.time else ""))))
            if plan.replicas is not None:
                evidence.append(EvidenceItem(source="cluster", text=f"이전 레플리카 수 {plan.replicas} (출처: {plan.origin})", ref=str(ref)))
            else:
                evidence.append(EvidenceItem(source="cluster", text=f"자동 복구하지 않음: {plan.refusal}", ref=str(ref)))
            evidence += [event_item(e) for e in events_matching(bundle, {"ScalingReplicaSet"}, r"to 0")][:2]
            if plan.replicas is not None:
                n = plan.replicas
                causes.append(Cause(
                    kind=self.kind, title=f"Deployment `{dep.name}`이(가) 레플리카 0으로 축소되어 서비스 불가",
                    confidence=0.92, resource=ref, evidence=evidence,
                    remediation=RemediationProposal(action="restore-replicas", target=ref, params={"replicas": n},
                                                    reason=f"이전 레플리카 수({n})로 복원"),
                    immediate_actions=[f"`kubectl scale deployment/{dep.name} -n {dep.namespace} --replicas={n}`"],
                    long_term=["HPA minReplicas와 PodDisruptionBudget으로 최소 가용성 보장", "레플리카 변경을 GitOps로만 허용"],
                ))
            else:
                causes.append(Cause(
                    kind=self.kind, title=f"Deployment `{dep.name}`이(가) 레플리카 0으로 축소되어 서비스 불가 (자동 복구 안 함: 의도된 축소일 수 있음)",
                    confidence=0.92, resource=ref, evidence=evidence,
                    immediate_actions=[f"소유자에게 의도된 축소(유지보수 등)인지 확인: {plan.refusal}",
                                       f"복구가 맞다면 `kubectl scale deployment/{dep.name} -n {dep.namespace} --replicas=<이전 수>`"],
                    long_term=["유지보수 축소에는 `netaiops.io/maintenance` 주석을 달아 알람·자동 복구와 구분",
                               "레플리카 변경을 GitOps로만 허용"],
                ))
        return causes
