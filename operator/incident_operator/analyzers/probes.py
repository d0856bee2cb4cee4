"""Failing readiness / liveness / startup probes."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, clamp, event_item, events_matching, pod_ref, workload_ref


class ProbeFailureAnalyzer(Analyzer):
    kind = "probe-failure"
    title = "헬스 체크(probe) 실패"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        pods = {p.name: p for p in bundle.cluster.pods}
        failing = events_matching(bundle, {"Unhealthy"}, r"(readiness|liveness|startup) probe")
        by_workload: dict[str, tuple[ResourceRef, list]] = {}
        for e in failing:
            pod = pods.get(e.object_name or "")
            ref = workload_ref(pod) if pod else ResourceRef(kind="Pod", name=e.object_name or "?", namespace=e.namespace)
            by_workload.setdefault(str(ref), (ref, []))[1].append(e)
        # the kubelet's own kill: "Container app failed liveness probe, will be restarted"
        killed = events_matching(bundle, {"Killing"}, r"failed (liveness|startup) probe")
        for e in killed:
            pod = pods.get(e.object_name or "")
            ref = workload_ref(pod) if pod else ResourceRef(kind="Pod", name=e.object_name or "?", namespace=e.namespace)
            by_workload.setdefault(str(ref), (ref, []))[1].append(e)
        # SIGKILLed (exit 137, reason Error, not OOMKilled) containers that have a liveness probe: the probe's kill
        # after the grace period is the likeliest killer, even when its Events have expired
        sigkilled: dict[str, list] = {}
        for p in bundle.cluster.pods:
            for c in p.containers:
                if c.has_liveness_probe and c.last_exit_code == 137 and c.last_termination_reason not in ("OOMKilled",) \
                        and c.restart_count > 0:
                    ref = workload_ref(p)
                    by_workload.setdefault(str(ref), (ref, []))
                    sigkilled.setdefault(str(ref), []).append((p, c))
        # running-but-never-ready containers with a readiness probe, even without the Events
        for p in bundle.cluster.pods:
            if any(c.state == "running" and not c.ready and c.has_readiness_probe for c in p.containers):
                ref = workload_ref(p)
                by_workload.setdefault(str(ref), (ref, []))
        causes = []
        for key, (ref, events) in by_workload.items():
            liveness = any("liveness" in (e.message or "").lower() for e in events) or key in sigkilled
            evidence = [event_item(e) for e in events[:3]]
            for p, c in sigkilled.get(key, [])[:1]:
                evidence.append(EvidenceItem(source="cluster", ref=pod_ref(p), text=(
                    f"컨테이너 `{c.name}`가 SIGKILL로 종료됨 (exit code 137, 사유 {c.last_termination_reason or '?'}, "
                    f"OOMKilled 아님), 재시작 {c.restart_count}회, liveness probe 있음")))
            not_ready = [p for p in bundle.cluster.pods if workload_ref(p) == ref and any(
                c.state == "running" and not c.ready for c in p.containers)]
            if not_ready:
                evidence.append(EvidenceItem(source="cluster", text=f"실행 중이지만 Ready가 아닌 파드 {len(not_ready)}개", ref=pod_ref(not_ready[0])))
            kind = "liveness" if liveness else "readiness"
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}`의 {kind} probe 실패로 " + ("컨테이너 재시작" if liveness else "트래픽에서 제외"),
                confidence=clamp((0.75 if events or not_ready else 0.6) + 0.1 * bool(events) + 0.05 * bool(not_ready)
                                 + 0.05 * (bool(events) and key in sigkilled)), resource=ref, evidence=evidence,
                immediate_actions=["probe 대상 엔드포인트와 포트를 직접 호출해 응답 확인", "의존 서비스(DB/캐시) 상태 확인"],
                long_term=["probe의 timeoutSeconds/failureThreshold를 실제 응답 시간에 맞게 조정", "readiness와 liveness 엔드포인트 분리"],
            ))
        return causes
