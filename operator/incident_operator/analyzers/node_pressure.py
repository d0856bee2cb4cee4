"""Node pressure conditions, NotReady nodes, and node CPU saturation."""

from __future__ import annotations

from typing import NamedTuple

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, alarm_mentions, clamp, metric_name
from .cpu_burner import burner_signal

PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
NODE_CPU = "node_cpu_utilization"
SATURATED = 80.0  # percent, when the alarm gives no threshold


class Saturation(NamedTuple):
    still: bool  # the last measured point is still near the threshold (not a spike that is over)
    text: str


def saturation(bundle: EvidenceBundle, node: str) -> Saturation | None:
    """What Container Insights measured of the node's CPU in the window: None when nothing was measured (the
    alarm alone then says it, weakly); saturated still, or a spike that is over. The alarm restated is no
    cause: without a measurement its confidence stays under one half."""
    series = [m for m in bundle.metrics if m.name == NODE_CPU and m.points and m.dimensions.get("NodeName") == node]
    if not series:
        return None
    points = sorted((p for m in series for p in m.points), key=lambda p: p.timestamp)
    threshold = float(bundle.alarm.threshold) if bundle.alarm and bundle.alarm.threshold is not None else SATURATED
    peak, last = max(p.value for p in points), points[-1].value
    still = last >= 0.9 * threshold
    return Saturation(still, f"{NODE_CPU} 최고 {peak:.0f}%, 마지막 {last:.0f}% (임계값 {threshold:g}%)")


class NodePressureAnalyzer(Analyzer):
    kind = "node-pressure"
    title = "노드 압박 / 노드 CPU 포화"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for node in bundle.cluster.nodes:
            ref = ResourceRef(kind="Node", name=node.name)
            bad = [c for c in node.conditions if (c.type in PRESSURE and c.status == "True")
                   or (c.type == "Ready" and c.status != "True")]
            if bad:
                causes.append(Cause(
                    kind=self.kind, title=f"노드 `{node.name}` 상태 이상: {', '.join(c.type + '=' + c.status for c in bad)}",
                    confidence=0.8, resource=ref,
                    evidence=[EvidenceItem(source="cluster", text=f"{c.type}={c.status} {c.reason or ''} {(c.message or '')[:200]}", ref=f"Node/{node.name}") for c in bad],
                    immediate_actions=[f"`kubectl describe node {node.name}`로 압박 원인 확인", "필요 시 노드 cordon/drain 후 교체"],
                    long_term=["kubelet eviction threshold와 system-reserved 설정 점검"]))
        if alarm_mentions(bundle, "node_cpu", "node-cpu"):
            pods = [p for p in bundle.cluster.pods if p.node]
            noisy = [(p, c) for p in pods for c in p.containers if burner_signal(c) or not c.limits.cpu]
            node_name = (bundle.target.node or (bundle.alarm.dimensions.get("NodeName") if bundle.alarm else None)
                         or (pods[0].node if pods else None))
            if node_name:
                evidence = [EvidenceItem(source="alarm", text=f"알람 `{bundle.alarm.name}`: {metric_name(bundle)} > {bundle.alarm.threshold}")]
                measured = saturation(bundle, node_name)
                if measured is not None and not measured.still and not noisy:
                    return causes  # a spike that is over, on a node with nothing that explains it: no cause
                if measured is not None:
                    evidence.append(EvidenceItem(source="metrics", text=measured.text))
                if noisy:
                    names = sorted({f"{p.namespace}/{p.name}" for p, _ in noisy})[:5]
                    evidence.append(EvidenceItem(source="cluster", text=f"CPU limit이 없거나 부하를 생성하는 파드: {', '.join(names)}"))
                base = 0.45 if measured is None else (0.6 if measured.still else 0.3)
                causes.append(Cause(
                    kind=self.kind, title=f"노드 `{node_name}` CPU 포화" + (" (CPU limit 없는 이웃 파드)" if noisy else "")
                    + ("" if measured is None or measured.still else " — 알람 이후 정상 수준으로 회복"),
                    confidence=clamp(base + (0.1 if noisy else 0)), resource=ResourceRef(kind="Node", name=node_name),
                    evidence=evidence,
                    immediate_actions=["노드의 CPU 상위 파드 확인 (`kubectl top pods --sort-by=cpu`)", "과다 사용 파드 격리 또는 다른 노드로 이동"],
                    long_term=["모든 워크로드에 CPU request/limit 설정", "노드 그룹 오토스케일링 임계값 점검"]))
        return causes
