"""HorizontalPodAutoscalers that cannot scale: no metrics (missing requests, no metrics-server), pinned at
max, or a target that does not exist (k8sgpt's HPA analyzer reads the same conditions)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer


class HpaMisconfiguredAnalyzer(Analyzer):
    kind = "hpa-misconfigured"
    title = "HPA 오동작"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for h in bundle.cluster.hpas:
            cond = {c.type: c for c in h.conditions}
            able, active, limited = cond.get("AbleToScale"), cond.get("ScalingActive"), cond.get("ScalingLimited")
            problem = None
            if able and able.status == "False":
                problem, confidence = f"스케일 불가 ({able.reason}): {able.message or ''}", 0.9
            elif active and active.status == "False":
                problem, confidence = f"지표를 읽지 못해 스케일링 비활성 ({active.reason}): {active.message or ''}", 0.9
            elif limited and limited.status == "True" and h.current_replicas == h.max_replicas:
                problem, confidence = f"최대 레플리카 {h.max_replicas}에 고정 ({limited.reason})", 0.6
            if not problem:
                continue
            ref = ResourceRef(kind="HorizontalPodAutoscaler", name=h.name, namespace=h.namespace)
            causes.append(Cause(
                kind=self.kind, title=f"HPA `{h.name}`({h.target_kind}/{h.target_name}) {problem[:160]}",
                confidence=confidence, resource=ref,
                evidence=[EvidenceItem(source="cluster", text=f"HPA `{h.name}`: 현재 {h.current_replicas}, 목표 {h.desired_replicas}, "
                                                               f"범위 {h.min_replicas}-{h.max_replicas}; {problem[:300]}", ref=str(ref))],
                immediate_actions=[f"`kubectl describe hpa {h.name} -n {h.namespace}`",
                                   "대상 컨테이너에 CPU/메모리 requests가 있는지, metrics-server가 동작하는지 확인"],
                long_term=["HPA 지표 소스와 requests를 배포 템플릿에 함께 정의", "maxReplicas 도달 알람"],
            ))
        return causes
