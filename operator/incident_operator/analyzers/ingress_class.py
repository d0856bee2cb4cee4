"""An Ingress naming an IngressClass that does not exist: no controller claims it, so it gets no address and
routes nothing, while the Services and pods behind it are healthy. Sources: Kubernetes docs "Ingress"
(IngressClass, ingressClassName); k8sgpt pkg/analyzer/ingress.go ("uses the ingress class ... which does not exist")."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer


class IngressClassMissingAnalyzer(Analyzer):
    kind = "ingress-class-missing"
    title = "존재하지 않는 IngressClass"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for ing in bundle.cluster.ingresses:
            if not ing.ingress_class or ing.ingress_class_exists is not False:
                continue
            ref = ResourceRef(kind="Ingress", name=ing.name, namespace=ing.namespace)
            causes.append(Cause(
                kind=self.kind, title=f"Ingress `{ing.name}`의 IngressClass `{ing.ingress_class}`가 클러스터에 없어 어떤 컨트롤러도 처리하지 않음",
                confidence=0.9, resource=ref,
                evidence=[EvidenceItem(source="cluster", ref=str(ref),
                                       text=f"spec.ingressClassName `{ing.ingress_class}`: IngressClass가 없습니다 (`kubectl get ingressclass`)"),
                          EvidenceItem(source="cluster", text=f"백엔드 {', '.join(ing.backends) or '(없음)'}")],
                immediate_actions=["`kubectl get ingressclass`로 있는 클래스 확인",
                                   f"Ingress `{ing.name}`의 ingressClassName을 있는 클래스로 수정하거나 컨트롤러 설치"],
                long_term=["기본 IngressClass 지정 (ingressclass.kubernetes.io/is-default-class)", "배포 전 ingressClassName 검증"],
            ))
        return causes
