"""Services with no ready endpoints: a selector that matches no pod, or pods that are not ready."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer


class ServiceNoEndpointsAnalyzer(Analyzer):
    kind = "service-no-endpoints"
    title = "엔드포인트 없는 Service"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for svc in bundle.cluster.services:
            if svc.ready_endpoints or not svc.selector or svc.type == "ExternalName":
                continue
            ref = ResourceRef(kind="Service", name=svc.name, namespace=svc.namespace)
            selector = ",".join(f"{k}={v}" for k, v in sorted(svc.selector.items()))
            if svc.matching_pods == 0:
                why, confidence = f"셀렉터 `{selector}`에 맞는 파드가 없습니다 (레이블 오타, 또는 워크로드가 없음)", 0.9
            else:
                why, confidence = f"셀렉터에 맞는 파드 {svc.matching_pods}개가 모두 준비되지 않았습니다", 0.6
            evidence = [EvidenceItem(source="cluster", text=f"Service `{svc.name}` 준비된 엔드포인트 0개 "
                                                             f"(준비 안 됨 {svc.not_ready_endpoints}개): {why}", ref=str(ref))]
            causes.append(Cause(
                kind=self.kind, title=f"Service `{svc.name}`에 트래픽을 받을 엔드포인트가 없음",
                confidence=confidence, resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl get endpointslices -n {svc.namespace} -l kubernetes.io/service-name={svc.name}`",
                                   f"`kubectl get pods -n {svc.namespace} -l {selector}`로 셀렉터와 파드 레이블 비교"],
                long_term=["Service 셀렉터와 파드 레이블을 같은 소스(Helm/Kustomize)에서 생성", "readinessProbe 실패 원인 해결"],
            ))
        return causes
