"""Nodes out of pod capacity: the scheduler's "Too many pods" (each node's allocatable pods are used)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching, workload_ref


class NodeTooManyPodsAnalyzer(Analyzer):
    kind = "node-too-many-pods"
    title = "노드의 파드 수 한도 초과"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        events = events_matching(bundle, {"FailedScheduling"}, r"Too many pods")
        conds = [(p, c) for p in bundle.cluster.pods for c in p.conditions
                 if c.type == "PodScheduled" and c.status == "False" and "Too many pods" in (c.message or "")]
        if not events and not conds:
            return []
        pod = conds[0][0] if conds else next((p for p in bundle.cluster.pods if p.phase == "Pending"), None)
        ref = workload_ref(pod) if pod else None
        evidence = [event_item(e) for e in events[:2]]
        if conds:
            evidence.insert(0, EvidenceItem(source="cluster", text=f"Pending: {(conds[0][1].message or '')[:300]}"))
        full = [n for n in bundle.cluster.nodes if n.pod_count is not None]
        if full:
            evidence.append(EvidenceItem(source="cluster", text="노드별 파드 수: " + ", ".join(f"{n.name} {n.pod_count}" for n in full[:5])))
        return [Cause(
            kind=self.kind, title="모든 노드가 파드 수 한도(max pods)에 도달해 새 파드를 배치할 수 없음",
            confidence=0.93, resource=ref, evidence=evidence,
            immediate_actions=["노드 추가(노드 그룹 확장)", "완료/실패한 파드 정리 (`kubectl delete pod --field-selector=status.phase=Failed -A`)"],
            long_term=["VPC CNI prefix delegation 등으로 노드당 max pods 상향", "Cluster Autoscaler/Karpenter"],
        )]
