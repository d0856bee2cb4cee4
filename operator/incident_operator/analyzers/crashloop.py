"""CrashLoopBackOff, with the reason read from the last log lines."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import ContainerEvidence, EvidenceBundle, PodEvidence
from .base import Analyzer, alarm_mentions, clamp, group_by_workload, pod_containers, pod_ref, workload_ref

ERROR_LINE = re.compile(r"error|exception|fatal|panic|traceback|failed|refused|timeout|cannot|denied", re.I)


def log_reason(pod: PodEvidence) -> str | None:
    """The last error-looking line of the log tail."""
    lines = [l.strip() for l in (pod.log_tail or "").splitlines() if l.strip()]
    errors = [l for l in lines if ERROR_LINE.search(l)]
    return (errors or lines or [None])[-1]


def looping(c: ContainerEvidence, least: int = 3, pod_phase: str | None = None) -> bool:
    """Whether the kubelet's record of a container shows a loop of failed runs. Between back-offs the kubelet
    reports the last run as `terminated` (reason Error) far longer than `waiting: CrashLoopBackOff` — seen on
    the real node: a container exiting 1 spends ~12 s of each 10-20 s back-off as terminated — so a container
    that failed now and failed before it (restarted at least once, both exits non-zero) is looping whatever
    the moment it was read. An OOM kill is the OOM analyzer's; a pod that ended (evicted, completed) restarts
    nothing, and a container the kubelet lost track of (ContainerStatusUnknown) did not fail by itself."""
    if "OOMKilled" in (c.last_termination_reason, c.state_reason) or pod_phase in ("Failed", "Succeeded"):
        return False
    failed_before = c.last_exit_code not in (None, 0)
    failed_now = c.state == "terminated" and c.state_reason not in (None, "Completed", "ContainerStatusUnknown") and c.restart_count >= 1
    return (c.state_reason == "CrashLoopBackOff" or (failed_now and failed_before)
            or (c.restart_count >= least and failed_before))


class CrashLoopAnalyzer(Analyzer):
    kind = "crash-loop"
    title = "컨테이너 반복 재시작 (CrashLoopBackOff)"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        # a restart alarm already says "restarting": two failed runs are a loop caught between back-offs (the
        # container running again, or terminated, at the moment it is read), not only a CrashLoopBackOff state
        least = 2 if alarm_mentions(bundle, "restart") else 3
        hits = [(p, c) for p, c in pod_containers(bundle) if looping(c, least, p.phase)]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            restarts = sum(x.restart_count for _, x in pairs)
            evidence = [EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` 상태 {c.state_reason or c.state}, 재시작 {c.restart_count}회, 마지막 종료 {c.last_termination_reason or '?'} (exit code {c.last_exit_code})", ref=pod_ref(pod))]
            reason = next((r for r in (log_reason(p) for p, _ in pairs) if r), None)
            if reason:
                evidence.append(EvidenceItem(source="cluster", text=f"마지막 로그: {reason[:300]}", ref=pod_ref(pod)))
            confidence = 0.8 + (0.1 if reason or c.termination_message else 0) + (0.05 if alarm_mentions(bundle, "restart") else 0)
            if c.termination_message:
                evidence.append(EvidenceItem(source="cluster", text=f"종료 메시지: {c.termination_message[:300]}", ref=pod_ref(pod)))
                reason = reason or c.termination_message.strip().splitlines()[-1]
            which = f"init 컨테이너 `{c.name}`" if c.init else "컨테이너"
            causes.append(Cause(
                kind=self.kind,
                title=f"`{ref.name}` {which}가 반복 종료됨 (exit code {c.last_exit_code})" + (f": {reason[:120]}" if reason else ""),
                confidence=clamp(confidence), resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl logs {pod.name} -n {pod.namespace} --previous`로 종료 직전 로그 확인",
                                   "최근 배포/설정 변경이 있었다면 롤백"],
                long_term=["시작 시 의존성 실패를 재시도하도록 애플리케이션 수정", "startupProbe로 초기화 시간 확보"],
            ))
            if restarts:
                causes[-1].evidence.append(EvidenceItem(source="cluster", text=f"워크로드 전체 재시작 합계 {restarts}회"))
        return causes
