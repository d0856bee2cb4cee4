"""Pods that stay Pending because the scheduler cannot place them."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching, group_by_workload, pod_ref, workload_ref

# the scheduler's FailedScheduling text -> the real blocker, in words people act on
BLOCKERS = (
    (re.compile(r"Insufficient ([\w/-]+(?:\.[\w/-]+)*)"), "Insufficient {0} (자원 부족)"),
    (re.compile(r"didn't match Pod's node affinity/selector"), "nodeSelector/노드 어피니티와 맞는 노드 없음"),
    (re.compile(r"untolerated taint|taint .* that the pod didn't tolerate"), "파드가 허용하지 않는 taint"),
    (re.compile(r"didn't match pod anti-affinity rules"), "파드 안티어피니티 규칙"),
    (re.compile(r"didn't match pod affinity rules"), "파드 어피니티 규칙"),
    (re.compile(r"unbound immediate PersistentVolumeClaims"), "바인딩되지 않은 PVC"),
    (re.compile(r"volume node affinity conflict"), "볼륨의 존(노드 어피니티) 충돌"),
    (re.compile(r"Too many pods"), "노드 파드 수 한도"),
    (re.compile(r"node\(s\) were unschedulable"), "cordon된 노드"),
)


def blockers(message: str) -> list[str]:
    out = []
    for rx, text in BLOCKERS:
        for m in rx.finditer(message or ""):
            item = text.format(*m.groups())
            if item not in out:
                out.append(item)
    return out


class UnschedulableAnalyzer(Analyzer):
    kind = "unschedulable"
    title = "스케줄링 불가 (Pending)"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        pending = [p for p in bundle.cluster.pods if p.phase == "Pending" and any(
            c.type == "PodScheduled" and c.status == "False" for c in p.conditions)]
        groups = group_by_workload([(p, None) for p in pending])
        causes = []
        for key, pairs in groups.items():
            pod = pairs[0][0]
            ref = workload_ref(pod)
            cond = next(c for c in pod.conditions if c.type == "PodScheduled")
            evidence = [EvidenceItem(source="cluster", text=f"파드 {len(pairs)}개가 Pending: {cond.reason or ''} {(cond.message or '')[:300]}", ref=pod_ref(pod))]
            names = {p.name for p, _ in pairs}
            failed = [e for e in events_matching(bundle, {"FailedScheduling"}) if e.object_name in names]
            evidence += [event_item(e) for e in failed][:2]
            found = blockers(" ".join([cond.message or ""] + [e.message or "" for e in failed]))
            if found:
                evidence.append(EvidenceItem(source="cluster", text=f"스케줄링을 막는 조건: {', '.join(found)}", ref=pod_ref(pod)))
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}` 파드를 배치할 노드가 없음: "
                                      + (", ".join(found) if found else (cond.message or cond.reason or "")[:120]),
                confidence=0.9 if found else 0.8, resource=ref, evidence=evidence,
                immediate_actions=["요청 리소스(requests)·nodeSelector·toleration 확인", "노드 그룹 용량 확장"],
                long_term=["Cluster Autoscaler/Karpenter로 용량 자동 확장", "requests를 실제 사용량에 맞게 조정"],
            ))
        return causes
