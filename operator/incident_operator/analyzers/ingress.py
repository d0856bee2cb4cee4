"""Ingresses routing to a Service (or port) that does not exist: 503s at the edge, nothing in the pods."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer


class IngressMisconfiguredAnalyzer(Analyzer):
    kind = "ingress-misconfigured"
    title = "잘못된 Ingress 백엔드"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for ing in bundle.cluster.ingresses:
            if not ing.missing_backends:
                continue
            ref = ResourceRef(kind="Ingress", name=ing.name, namespace=ing.namespace)
            causes.append(Cause(
                kind=self.kind, title=f"Ingress `{ing.name}`가 없는 Service/포트로 라우팅: {', '.join(ing.missing_backends)[:160]}",
                confidence=0.9, resource=ref,
                evidence=[EvidenceItem(source="cluster", text=f"백엔드 {', '.join(ing.backends)} 중 없는 것: {', '.join(ing.missing_backends)}",
                                       ref=str(ref))],
                immediate_actions=[f"`kubectl describe ingress {ing.name} -n {ing.namespace}`의 백엔드와 `kubectl get svc`를 비교",
                                   "Service 이름·포트(번호 또는 이름) 수정"],
                long_term=["Ingress와 Service를 같은 차트에서 생성", "배포 전 백엔드 존재 검증"],
            ))
        return causes
