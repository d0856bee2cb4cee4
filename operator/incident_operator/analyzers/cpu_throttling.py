"""CPU throttling under a tiny limit: the pod runs at (or past) its CPU limit while the limit is small, so it
is slowed, not crashed. Needs Container Insights' pod_cpu_utilization_over_pod_limit (or a CPU alarm)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, alarm_mentions, group_by_workload, metric_peak, pod_containers, pod_ref, workload_ref
from .cpu_burner import burner_signal

SMALL_LIMIT_MILLICORES = 500


def millicores(q: str | None) -> float | None:
    if not q:
        return None
    try:
        return float(q[:-1]) if q.endswith("m") else float(q) * 1000
    except ValueError:
        return None


class CpuThrottlingAnalyzer(Analyzer):
    kind = "cpu-throttling"
    title = "작은 CPU limit으로 인한 스로틀링"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle) if not c.init and not burner_signal(c)
                and (millicores(c.limits.cpu) or 1e9) <= SMALL_LIMIT_MILLICORES]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            over = metric_peak(bundle, "pod_cpu_utilization_over_pod_limit", PodName=ref.name)
            if over is None:
                over = metric_peak(bundle, "pod_cpu_utilization_over_pod_limit")
            if over is None and not alarm_mentions(bundle, "over_pod_limit", "throttl"):
                continue
            if over is not None and over < 80:
                continue
            evidence = [EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` CPU limit {c.limits.cpu} (요청 {c.requests.cpu or '-'})",
                                     ref=pod_ref(pod))]
            if over is not None:
                evidence.append(EvidenceItem(source="cloudwatch", text=f"pod_cpu_utilization_over_pod_limit 최대 {over:.0f}%"))
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}`이(가) CPU limit {c.limits.cpu}에 걸려 스로틀링됨 (limit 대비 {over or 0:.0f}%)",
                confidence=0.88 if over is not None and over >= 95 else 0.75, resource=ref, evidence=evidence,
                immediate_actions=[f"`{ref.name}`의 CPU limit 상향 또는 제거 (requests는 유지)", "container_cpu_cfs_throttled 지표로 스로틀링 비율 확인"],
                long_term=["CPU limit을 실제 사용량 기반으로 설정(VPA 권고)", "지연 SLO와 함께 스로틀링 알람"],
            ))
        return causes
