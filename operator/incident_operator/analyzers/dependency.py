"""A dependency that cannot answer: a Service the target calls (named in its env, args or mounted ConfigMaps) has
no ready endpoint — its workload scaled to 0 or not ready, its selector matching nothing — or does not exist at
all. The client's own pods look healthy or merely log errors; the cause is behind it. Sources: Kubernetes docs
"Connect a Frontend to a Backend Using Services" and "Debug Services"; Chaos Mesh PodChaos / LitmusChaos
pod-delete seen from the caller."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import DependencyEvidence, EvidenceBundle
from .base import Analyzer, clamp, event_item
from .logs import log_items, log_lines

FAILURE = re.compile(r"refused|no such host|not known|could not resolve|ENOTFOUND|EAI_AGAIN|UnknownHost|timed? ?out|"
                     r"unavailable|503|502|reset|unreachable|Try again|no route|failed|error", re.I)


def _why(d: DependencyEvidence) -> str:
    if not d.exists:
        return f"Service `{d.name}`가 네임스페이스 `{d.namespace}`에 없습니다 (이름 변경·삭제, 또는 오타)"
    if not d.selector:
        return f"Service `{d.name}`(셀렉터 없음, {d.type or 'ClusterIP'})에 준비된 엔드포인트가 없습니다"
    if d.not_ready_endpoints:
        return f"엔드포인트 {d.not_ready_endpoints}개가 모두 준비되지 않았습니다"
    scaled = [b for b in d.backends if b.endswith("/0")]
    if scaled:
        return f"뒤의 워크로드 {', '.join(scaled)}: 레플리카 0개로 축소됨"
    if d.backends:
        return f"뒤의 워크로드 {', '.join(d.backends)}: 준비된 파드가 없습니다"
    if d.matching_pods == 0:
        sel = ",".join(f"{k}={v}" for k, v in sorted(d.selector.items()))
        return f"셀렉터 `{sel}`에 맞는 파드도 워크로드도 없습니다"
    return f"셀렉터에 맞는 파드 {d.matching_pods}개가 준비되지 않았습니다"


class DependencyUnavailableAnalyzer(Analyzer):
    kind = "dependency-unavailable"
    title = "의존 서비스 사용 불가"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        lines = log_lines(bundle)
        for d in bundle.cluster.dependencies:
            if d.exists and (d.ready_endpoints or (not d.selector and d.type == "ExternalName")):
                continue
            ref = ResourceRef(kind="Service", name=d.name, namespace=d.namespace)
            name = re.compile(rf"(?<![\w-]){re.escape(d.name)}(?![\w-])", re.I)
            said = [l for l in lines if name.search(l.text) and FAILURE.search(l.text)]
            evidence = [EvidenceItem(source="cluster", ref=str(ref), text=(
                f"대상이 `{d.address}`를 호출합니다 ({', '.join(d.referenced_by) or '설정'}): {_why(d)}"))]
            if d.exists:
                evidence.append(EvidenceItem(source="cluster", ref=str(ref), text=(
                    f"Service `{d.name}` 준비된 엔드포인트 0개 (준비 안 됨 {d.not_ready_endpoints}개, 셀렉터에 맞는 파드 {d.matching_pods}개)")))
            backend_names = {b.split(" ")[0].split("/")[-1] for b in d.backends} | {d.name}
            # what went wrong behind it: warnings, and a scale-down to 0 (a Normal event, but the cause itself)
            events = [e for e in bundle.cluster.events if e.namespace == d.namespace and (
                e.object_name in backend_names or any((e.object_name or "").startswith(n + "-") for n in backend_names))
                and (e.type == "Warning" or " to 0" in (e.message or ""))]
            evidence += [event_item(e) for e in events[:3]]
            evidence += log_items(said, 2)
            # a Service named in the configuration that does not exist: with the client's own logs failing on that
            # very name, configuration and runtime agree
            # (alone, a name in the configuration may be optional or unused: an alternative, not an answer)
            confidence = (0.85 + (0.07 if said else 0) if d.exists else (0.87 if said else 0.45)) + (0.03 if events else 0)
            target = bundle.target.name or bundle.target.pod or "대상"
            causes.append(Cause(
                kind=self.kind,
                title=(f"`{target}`이(가) 호출하는 Service `{d.name}`에 준비된 엔드포인트가 없음: {_why(d)}" if d.exists
                       else f"`{target}`이(가) 호출하는 Service `{d.name}`가 없음")[:220],
                confidence=clamp(min(confidence, 0.95)), resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl get svc,endpointslices -n {d.namespace} -l kubernetes.io/service-name={d.name}` / "
                                   f"`kubectl get svc {d.name} -n {d.namespace}`",
                                   "의존 서비스의 워크로드(레플리카 수, 파드 상태, 최근 배포)를 먼저 복구"
                                   if d.exists else f"호출 주소 `{d.address}`의 Service 이름·네임스페이스 확인 (설정 또는 Service 이름 수정)"],
                long_term=["의존 서비스의 가용성 알람(엔드포인트 0개)", "호출 측에 타임아웃·재시도·서킷 브레이커 적용"],
            ))
        return causes
