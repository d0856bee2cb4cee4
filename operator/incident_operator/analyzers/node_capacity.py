"""Nodes out of pod capacity: the scheduler's "Too many pods", or the node's own state — its pod count at its
allocatable pods (the kubelet's max-pods) — when the message is not there (a Node alarm, a pod still waiting).
Sources: k8sgpt pkg/analyzer/pod.go; Kubernetes docs "Node Allocatable" and kubelet --max-pods."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle, NodeEvidence
from .base import Analyzer, event_item, events_matching, workload_ref


def pod_slots(n: NodeEvidence) -> int | None:
    value = n.allocatable.pods or n.capacity.pods
    return int(value) if value and value.isdigit() else None


def full_nodes(bundle: EvidenceBundle) -> list[NodeEvidence]:
    return [n for n in bundle.cluster.nodes
            if n.pod_count is not None and pod_slots(n) is not None and n.pod_count >= pod_slots(n)]


class NodeTooManyPodsAnalyzer(Analyzer):
    kind = "node-too-many-pods"
    title = "노드의 파드 수 한도 초과"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        events = events_matching(bundle, {"FailedScheduling"}, r"Too many pods")
        conds = [(p, c) for p in bundle.cluster.pods for c in p.conditions
                 if c.type == "PodScheduled" and c.status == "False" and "Too many pods" in (c.message or "")]
        full = full_nodes(bundle)
        node_target = bundle.target.kind == "Node" or bool(bundle.target.node and not bundle.target.namespace)
        pending = [p for p in bundle.cluster.pods if p.phase == "Pending"]
        if not events and not conds and not (full and (pending or node_target)):
            return []
        pod = conds[0][0] if conds else next(iter(pending), None)
        ref = workload_ref(pod) if pod else (ResourceRef(kind="Node", name=full[0].name) if full else None)
        evidence = [event_item(e) for e in events[:2]]
        if conds:
            evidence.insert(0, EvidenceItem(source="cluster", text=f"Pending: {(conds[0][1].message or '')[:300]}"))
        counted = [n for n in bundle.cluster.nodes if n.pod_count is not None]
        if counted:
            evidence.append(EvidenceItem(source="cluster", text="노드별 파드 수 / 할당 가능: " + ", ".join(
                f"{n.name} {n.pod_count}/{pod_slots(n) if pod_slots(n) is not None else '?'}" for n in counted[:5])))
        confidence = 0.93 if events or conds else (0.85 if pending else 0.8)
        names = ", ".join(n.name for n in full[:3])
        title = ("모든 노드가 파드 수 한도(max pods)에 도달해 새 파드를 배치할 수 없음" if events or conds
                 else f"노드 {names}의 파드 수가 할당 가능한 파드 수(max pods)에 도달함")
        return [Cause(
            kind=self.kind, title=title, confidence=confidence, resource=ref, evidence=evidence,
            immediate_actions=["노드 추가(노드 그룹 확장)", "완료/실패한 파드 정리 (`kubectl delete pod --field-selector=status.phase=Failed -A`)"],
            long_term=["VPC CNI prefix delegation 등으로 노드당 max pods 상향", "Cluster Autoscaler/Karpenter"],
        )]
