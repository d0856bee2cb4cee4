"""Pods that stay Pending because the scheduler cannot place them."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching, group_by_workload, pod_ref, workload_ref


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
            evidence += [event_item(e) for e in events_matching(bundle, {"FailedScheduling"}) if e.object_name in names][:2]
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}` 파드를 배치할 노드가 없음: {(cond.message or cond.reason or '')[:120]}",
                confidence=0.85, resource=ref, evidence=evidence,
                immediate_actions=["요청 리소스(requests)·nodeSelector·toleration 확인", "노드 그룹 용량 확장"],
                long_term=["Cluster Autoscaler/Karpenter로 용량 자동 확장", "requests를 실제 사용량에 맞게 조정"],
            ))
        return causes
