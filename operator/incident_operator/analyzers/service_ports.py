"""A Service whose port leads nowhere: its targetPort (a number, or a container port's name) matches no
containerPort of the pods it selects. A named targetPort no container declares gets no endpoint at all; a
number no container declares usually means connections refused behind a Service that looks healthy (one ready
endpoint, and nothing listening there). Sources: Kubernetes docs "Debug Services" (Is the Service port right? /
Are the endpoints' ports right?); k8sgpt pkg/analyzer/service.go."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle, ServiceEvidence
from .base import Analyzer


def mismatches(svc: ServiceEvidence) -> list[tuple[str, str, bool]]:
    """(service port, its targetPort, named) of every port no selected pod's containerPorts serve. Nothing is judged
    when the pods declare no ports at all (declaring them is optional) unless the targetPort is a name."""
    numbers = {p.port for p in svc.pod_ports}
    names = {p.name for p in svc.pod_ports if p.name}
    out = []
    for sp in svc.ports:
        target = sp.target_port or str(sp.port)
        label = f"{sp.name + ' ' if sp.name else ''}{sp.port}"
        if target.isdigit():
            if svc.pod_ports and int(target) not in numbers:
                out.append((label, target, False))
        elif target not in names and svc.matching_pods:
            out.append((label, target, True))
    return out


class ServicePortMismatchAnalyzer(Analyzer):
    kind = "service-port-mismatch"
    title = "Service targetPort와 컨테이너 포트 불일치"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for svc in bundle.cluster.services:
            if not svc.selector or svc.type == "ExternalName":
                continue
            bad = mismatches(svc)
            if not bad:
                continue
            ref = ResourceRef(kind="Service", name=svc.name, namespace=svc.namespace)
            declared = ", ".join(f"{p.name + '=' if p.name else ''}{p.port}" for p in svc.pod_ports) or "(선언 없음)"
            named = any(n for _, _, n in bad)
            text = "; ".join(f"포트 {label} → targetPort `{t}`" for label, t, _ in bad)
            evidence = [EvidenceItem(source="cluster", ref=str(ref), text=(
                f"Service `{svc.name}` {text}: 선택된 파드 {svc.matching_pods}개의 containerPort는 {declared}"))]
            evidence.append(EvidenceItem(source="cluster", ref=str(ref), text=(
                f"엔드포인트 준비 {svc.ready_endpoints}개, 준비 안 됨 {svc.not_ready_endpoints}개"
                + (f", 엔드포인트 포트 {', '.join(map(str, svc.endpoint_ports))}" if svc.endpoint_ports else ", 엔드포인트 포트 없음"))))
            # a name no container declares: the EndpointSlice controller cannot resolve it (no endpoint at all);
            # a number: the endpoints exist, nothing listens there (refused), unless the app listens undeclared
            confidence = 0.9 if named else (0.85 if svc.ready_endpoints else 0.8)
            causes.append(Cause(
                kind=self.kind, title=f"Service `{svc.name}`의 targetPort가 파드의 컨테이너 포트와 맞지 않음: {text}"[:200],
                confidence=confidence, resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl get svc {svc.name} -n {svc.namespace} -o yaml`의 targetPort와 파드의 containerPort 비교",
                                   f"targetPort를 컨테이너가 실제로 듣는 포트({declared})로 수정"],
                long_term=["targetPort는 이름 있는 포트(예: http)로 지정해 컨테이너 포트와 함께 관리", "배포 후 Service를 통한 연결성 테스트"],
            ))
        return causes
