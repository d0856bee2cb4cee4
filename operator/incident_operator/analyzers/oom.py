"""OOMKilled containers: the kubelet's reason OOMKilled, nothing else. Exit code 137 alone is a SIGKILL (a liveness
probe's kill after the grace period, a preStop timeout, a `kill -9`), not an out-of-memory kill."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, clamp, group_by_workload, pod_containers, pod_ref, workload_ref


class OomAnalyzer(Analyzer):
    kind = "oom-killed"
    title = "메모리 부족 종료 (OOMKilled)"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle) if "OOMKilled" in (c.last_termination_reason, c.state_reason)]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            limit = c.limits.memory or "없음"
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}` 컨테이너 `{c.name}`가 메모리 limit({limit}) 초과로 OOMKilled",
                confidence=clamp(0.95), resource=ref,
                evidence=[EvidenceItem(source="cluster", text=f"마지막 종료 사유 {c.last_termination_reason or c.state_reason} (exit code {c.last_exit_code}), 재시작 {c.restart_count}회, memory limit {limit}, request {c.requests.memory or '없음'}", ref=pod_ref(p)) for p, c in pairs[:3]],
                immediate_actions=[f"`{ref}`의 memory limit 상향 또는 부하 축소", "메모리 사용량 추이(pod_memory_working_set) 확인"],
                long_term=["메모리 누수 프로파일링", "VPA 권장값으로 request/limit 조정"],
            ))
        return causes
