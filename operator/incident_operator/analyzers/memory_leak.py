"""A memory leak: memory climbing steadily through the window, ending in OOM kills — the root of the
oom-killed symptom (a fixed limit that is simply too small shows no such climb)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, pod_containers, workload_ref

MEMORY_METRICS = ("pod_memory_utilization", "pod_memory_working_set", "pod_memory_utilization_over_pod_limit")


def steady_growth(values: list[float]) -> float | None:
    """The share of steps that go up, if the series ends well above where it started; else None."""
    if len(values) < 6:
        return None
    ups = sum(1 for a, b in zip(values, values[1:]) if b > a)
    share = ups / (len(values) - 1)
    # a leak does not give memory back: a deep drop (a restart, a burst that ended) is a spike, not a leak
    span = max(values) - min(values)
    deepest_drop = max((a - b for a, b in zip(values, values[1:])), default=0)
    if share >= 0.7 and values[-1] >= values[0] * 1.5 and deepest_drop <= 0.15 * span:
        return share
    return None


class MemoryLeakAnalyzer(Analyzer):
    kind = "memory-leak"
    title = "메모리 누수"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        oom = [(p, c) for p, c in pod_containers(bundle) if "OOMKilled" in (c.last_termination_reason or "", c.state_reason or "")]
        growing = []
        for m in bundle.metrics:
            if m.name in MEMORY_METRICS:
                values = [p.value for p in sorted(m.points, key=lambda p: p.timestamp)]
                share = steady_growth(values)
                if share is not None:
                    growing.append((m, values, share))
        if not growing:
            return []
        m, values, share = growing[0]
        ref = workload_ref(oom[0][0]) if oom else None
        evidence = [EvidenceItem(source="cloudwatch", text=f"{m.name} {values[0]:.0f} → {values[-1]:.0f} "
                                                            f"({len(values)}개 구간 중 {share:.0%} 상승)",
                                 ref=f"ContainerInsights/{m.dimensions.get('Namespace', '')}/{m.dimensions.get('PodName', '')}")]
        if oom:
            p, c = oom[0]
            evidence.append(EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` OOMKilled, 재시작 {c.restart_count}회 (limit {c.limits.memory})"))
        return [Cause(
            kind=self.kind, title=f"`{(ref.name if ref else m.dimensions.get('PodName', '?'))}` 메모리가 꾸준히 증가" + (" 후 OOMKilled" if oom else ""),
            confidence=0.9 if oom else 0.65, resource=ref, evidence=evidence,
            immediate_actions=["힙 덤프/프로파일로 증가하는 객체 확인", "임시 조치로 재시작 주기 단축 또는 limit 상향"],
            long_term=["메모리 증가율 알람", "부하 테스트에 장시간 soak 포함"],
        )]
