"""CPU throttling: a container held at its CPU limit is slowed, not crashed. Judged by the limit and the measured
usage against it — Container Insights' pod_cpu_utilization_over_pod_limit, or the kubelet's CFS throttling
counters when they were collected — never by the image's name: a `stress` container under a 10m limit is
throttled (it cannot take more than a hundredth of a core), and the fix is its limit, not a deletion."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import ContainerEvidence, EvidenceBundle
from .base import Analyzer, alarm_mentions, group_by_workload, metric_peak, millicores, pod_containers, pod_ref, workload_ref
from .cpu_burner import burner_signal

SMALL_LIMIT_MILLICORES = 500
# under this a container cannot burn a node: it can only be throttled (a tenth of a core)
TINY_LIMIT_MILLICORES = 100
# the kubelet's CFS counters (cAdvisor): throttled periods / periods, as a ratio (0-1) or a percentage
THROTTLE_RATIO_METRICS = ("container_cpu_cfs_throttled_ratio", "pod_cpu_throttled_ratio", "container_cpu_throttled_percent")


def slow_lines(bundle: EvidenceBundle) -> list:
    from .slow_dependency import slow_lines as lines  # slow_dependency reads no throttling: no cycle at import
    return lines(bundle)



def tiny_limit(c: ContainerEvidence) -> bool:
    limit = millicores(c.limits.cpu)
    return limit is not None and limit <= TINY_LIMIT_MILLICORES


def measured(bundle: EvidenceBundle, workload: str) -> tuple[float | None, float | None]:
    """(peak CPU as % of the pod's limit, peak share of CFS periods throttled in %) for the workload, if measured."""
    over = metric_peak(bundle, "pod_cpu_utilization_over_pod_limit", PodName=workload)
    if over is None:
        over = metric_peak(bundle, "pod_cpu_utilization_over_pod_limit")
    ratios = [r for name in THROTTLE_RATIO_METRICS for r in [metric_peak(bundle, name, PodName=workload)
                                                               or metric_peak(bundle, name)] if r is not None]
    ratio = max(ratios) if ratios else None
    if ratio is not None and ratio <= 1.0:
        ratio *= 100
    return over, ratio


class CpuThrottlingAnalyzer(Analyzer):
    kind = "cpu-throttling"
    title = "작은 CPU limit으로 인한 스로틀링"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle) if not c.init
                and (millicores(c.limits.cpu) or 1e9) <= SMALL_LIMIT_MILLICORES]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            over, ratio = measured(bundle, ref.name)
            if over is None and ratio is None and not alarm_mentions(bundle, "over_pod_limit", "throttl"):
                slow = slow_lines(bundle) if not burner_signal(c) else []
                if len(slow) >= 3:
                    # unmeasured, but the app is slow under a small limit: a throttled app looks like a slow
                    # dependency from its own logs — an alternative to check, not an answer
                    causes.append(Cause(
                        kind=self.kind, title=f"`{ref.name}`의 지연은 CPU limit {c.limits.cpu}에 의한 스로틀링일 수 있음 (측정값 없음)",
                        confidence=0.45, resource=ref, evidence=[EvidenceItem(
                            source="cluster", ref=pod_ref(pod),
                            text=f"컨테이너 `{c.name}` CPU limit {c.limits.cpu}, 느린 요청 로그 {len(slow)}건; "
                                 "pod_cpu_utilization_over_pod_limit 또는 CFS 스로틀링 지표는 증거에 없음")],
                        immediate_actions=["pod_cpu_utilization_over_pod_limit / container_cpu_cfs_throttled_periods_total 확인"],
                        long_term=["CPU limit을 실제 사용량 기반으로 설정(VPA 권고)"]))
                continue
            at_limit = (over is not None and over >= 80) or (ratio is not None and ratio >= 25)
            if (over is not None or ratio is not None) and not at_limit:
                continue
            burner = burner_signal(c)
            evidence = [EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` CPU limit {c.limits.cpu} (요청 {c.requests.cpu or '-'})",
                                     ref=pod_ref(pod))]
            if over is not None:
                evidence.append(EvidenceItem(source="cloudwatch", text=f"pod_cpu_utilization_over_pod_limit 최대 {over:.0f}%"))
            if ratio is not None:
                evidence.append(EvidenceItem(source="cluster", text=f"CFS 스로틀링 비율 최대 {ratio:.0f}% (kubelet/cAdvisor 카운터)"))
            confidence = 0.88 if (over is not None and over >= 95) or (ratio is not None and ratio >= 50) else 0.75
            if burner and not tiny_limit(c):
                # a load generator with a real limit: the burner is the cause, its throttling the symptom
                confidence = 0.55
            elif burner:
                evidence.append(EvidenceItem(source="cluster", text=(
                    f"부하 생성 이미지/명령이지만 CPU limit {c.limits.cpu}로는 노드 CPU를 거의 쓰지 못합니다: "
                    "노드를 태우는 것이 아니라 limit에 막혀 스로틀링되는 상태입니다")))
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}`이(가) CPU limit {c.limits.cpu}에 걸려 스로틀링됨 (limit 대비 {over or 0:.0f}%)",
                confidence=confidence, resource=ref, evidence=evidence,
                immediate_actions=[f"`{ref.name}`의 CPU limit 상향 또는 제거 (requests는 유지)", "container_cpu_cfs_throttled 지표로 스로틀링 비율 확인"],
                long_term=["CPU limit을 실제 사용량 기반으로 설정(VPA 권고)", "지연 SLO와 함께 스로틀링 알람"],
            ))
        return causes
