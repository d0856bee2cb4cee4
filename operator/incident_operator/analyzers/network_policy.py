"""Traffic a NetworkPolicy blocks: pods selected by a policy whose egress has no DNS rule, or connection
timeouts (not refusals: a dropped packet times out) from pods a policy selects."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, clamp
from .dns_resolution import DNS_FAILURE
from .logs import log_items, matching

TIMEOUT = re.compile(r"(i/o timeout|connect(ion)? timed? ?out|ETIMEDOUT|dial tcp [\d.:]+: (i/o )?timeout|context deadline exceeded)", re.I)


class NetworkPolicyAnalyzer(Analyzer):
    kind = "network-policy"
    title = "NetworkPolicy가 트래픽을 차단"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        policies = bundle.cluster.network_policies
        if not policies:
            return []
        timeouts = matching(bundle, TIMEOUT)
        dns = matching(bundle, DNS_FAILURE)
        no_dns = [p for p in policies if p.allows_dns is False]
        if not timeouts and not (dns and no_dns):
            return []
        policy = (no_dns or policies)[0]
        evidence = [EvidenceItem(source="cluster", text=f"NetworkPolicy `{policy.name}`({', '.join(policy.policy_types) or 'Ingress'})가 "
                                                         f"파드 {policy.pod_selector or '(전체)'}를 선택: ingress 규칙 {policy.ingress_rules}개, "
                                                         f"egress 규칙 {policy.egress_rules}개",
                                 ref=f"NetworkPolicy/{policy.namespace}/{policy.name}")]
        if no_dns:
            evidence.append(EvidenceItem(source="cluster", text="egress 규칙에 DNS(53) 허용이 없습니다"))
        evidence += log_items(dns if no_dns else timeouts, 2)
        confidence = 0.6 + (0.25 if no_dns and dns else 0) + min(len(timeouts), 10) * 0.02
        return [Cause(
            kind=self.kind, title=f"NetworkPolicy `{policy.name}`가 " + ("DNS 조회를 막아 이름 해석 실패" if no_dns and dns
                                                                    else f"연결을 차단해 타임아웃 ({len(timeouts)}건)"),
            confidence=clamp(confidence), resource=ResourceRef(kind="NetworkPolicy", name=policy.name, namespace=policy.namespace),
            evidence=evidence,
            immediate_actions=[f"`kubectl describe networkpolicy {policy.name} -n {policy.namespace}`로 허용 규칙 확인",
                               "필요한 목적지(및 kube-dns UDP/TCP 53)로의 egress 허용 추가"],
            long_term=["NetworkPolicy 변경을 연결성 테스트와 함께 배포", "기본 DNS egress 허용 정책"],
        )]
