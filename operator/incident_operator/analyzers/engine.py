"""Runs every analyzer over a bundle and ranks what they found into one Diagnosis."""

from __future__ import annotations

import logging

from ..models.diagnosis import Cause, Diagnosis, EvidenceItem, TimelineEntry
from ..models.evidence import EvidenceBundle
from .app_errors import AppErrorsAnalyzer
from .base import Analyzer
from .cpu_burner import CpuBurnerAnalyzer
from .crashloop import CrashLoopAnalyzer
from .image_pull import ImagePullAnalyzer
from .missing_config import MissingConfigAnalyzer
from .node_pressure import NodePressureAnalyzer
from .oom import OomAnalyzer
from .probes import ProbeFailureAnalyzer
from .scaled_to_zero import ScaledToZeroAnalyzer
from .unschedulable import UnschedulableAnalyzer
from .bad_rollout import BadRolloutAnalyzer
from .cpu_throttling import CpuThrottlingAnalyzer
from .hpa import HpaMisconfiguredAnalyzer
from .ingress import IngressMisconfiguredAnalyzer
from .memory_leak import MemoryLeakAnalyzer
from .network_policy import NetworkPolicyAnalyzer
from .dns_resolution import DnsResolutionAnalyzer
from .node_capacity import NodeTooManyPodsAnalyzer
from .evicted import EvictedAnalyzer
from .job_failed import JobFailedAnalyzer
from .rbac_forbidden import RbacForbiddenAnalyzer
from .slow_dependency import SlowDependencyAnalyzer
from .pvc_unbound import PvcUnboundAnalyzer
from .quota_exceeded import QuotaExceededAnalyzer
from .service_endpoints import ServiceNoEndpointsAnalyzer
from .service_ports import ServicePortMismatchAnalyzer
from .ingress_class import IngressClassMissingAnalyzer
from .dependency import DependencyUnavailableAnalyzer
from .pv_released import PvReleasedAnalyzer

log = logging.getLogger(__name__)

ANALYZERS: tuple[Analyzer, ...] = (
    CpuBurnerAnalyzer(), ImagePullAnalyzer(), ScaledToZeroAnalyzer(), MemoryLeakAnalyzer(), OomAnalyzer(),
    BadRolloutAnalyzer(), CrashLoopAnalyzer(),
    MissingConfigAnalyzer(), JobFailedAnalyzer(), PvReleasedAnalyzer(), PvcUnboundAnalyzer(), QuotaExceededAnalyzer(), NodeTooManyPodsAnalyzer(),
    UnschedulableAnalyzer(),
    ProbeFailureAnalyzer(), NodePressureAnalyzer(), EvictedAnalyzer(), ServicePortMismatchAnalyzer(), ServiceNoEndpointsAnalyzer(),
    DependencyUnavailableAnalyzer(), IngressClassMissingAnalyzer(),
    RbacForbiddenAnalyzer(), NetworkPolicyAnalyzer(), DnsResolutionAnalyzer(), SlowDependencyAnalyzer(),
    IngressMisconfiguredAnalyzer(), HpaMisconfiguredAnalyzer(), CpuThrottlingAnalyzer(), AppErrorsAnalyzer(),
)
MAX_CAUSES = 5
# symptom -> the kinds that explain it: when both are found, the root is listed first
ROOTS = {"crash-loop": ("bad-rollout", "probe-failure"),
         "unschedulable": ("pv-released", "pvc-unbound", "quota-exceeded", "node-too-many-pods"),
         "pvc-unbound": ("pv-released",),
         "oom-killed": ("memory-leak",), "dns-resolution": ("network-policy", "dependency-unavailable"),
         "service-no-endpoints": ("service-port-mismatch", "probe-failure"),
         "app-errors": ("dependency-unavailable",), "slow-dependency": ("dependency-unavailable",),
         "ingress-misconfigured": ("ingress-class-missing",)}


def explains(root: Cause, symptom: Cause) -> bool:
    """Whether `root` can be the reason for `symptom` (kinds in ROOTS; a probe restarts containers only
    when it is a liveness probe, and only for the same workload)."""
    if root.kind not in ROOTS.get(symptom.kind, ()):
        return False
    if root.kind == "probe-failure" and symptom.kind == "crash-loop":
        return "liveness" in root.title and (root.resource is None or symptom.resource is None
                                             or root.resource.name == symptom.resource.name)
    if root.kind == "dependency-unavailable" and symptom.kind == "dns-resolution":
        # only a missing Service explains a name that does not resolve, and only that name
        return root.title.endswith("`가 없음") and bool(root.resource) and f"`{root.resource.name}" in symptom.title
    if root.kind == "service-port-mismatch" and symptom.kind == "service-no-endpoints":
        return root.resource == symptom.resource
    return True


def roots_first(causes: list[Cause]) -> list[Cause]:
    out = list(causes)
    for symptom in ROOTS:
        for i, c in enumerate(out):
            if c.kind != symptom:
                continue
            later = [r for r in out[i + 1:] if explains(r, c)]
            for r in later:
                out.remove(r)
            out[i:i] = later
            if later:
                c.evidence.append(EvidenceItem(source="operator", text="근본 원인 후보: " + ", ".join(f"{r.kind}" for r in later)))
            break
    return out


def unknown_cause(bundle: EvidenceBundle) -> Cause:
    evidence = [EvidenceItem(source=s.source, text=f"{s.source}: {s.outcome} ({s.items}건)") for s in bundle.sources]
    if bundle.alarm:
        evidence.insert(0, EvidenceItem(source="alarm", text=f"알람 `{bundle.alarm.name}`: {(bundle.alarm.reason or '')[:300]}"))
    return Cause(kind="unknown", title="클러스터 측에서 확인된 원인이 없음 (외부 요인 또는 일시적 부하 가능성)",
                 confidence=0.2, evidence=evidence,
                 immediate_actions=["알람 지표의 추이를 CloudWatch에서 직접 확인", "같은 시간대 배포·트래픽 변화 확인"],
                 long_term=["알람 임계값과 평가 기간이 실제 장애를 반영하는지 검토"])


def timeline(bundle: EvidenceBundle) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    if bundle.alarm and bundle.alarm.timestamp:
        entries.append(TimelineEntry(time=bundle.alarm.timestamp, source="alarm",
                                     text=f"알람 `{bundle.alarm.name}` {bundle.alarm.state} 전환"))
    for e in bundle.cluster.events:
        if e.first_time:
            times = f" (×{e.count})" if e.count > 1 else ""
            entries.append(TimelineEntry(time=e.first_time, text=f"{e.object_kind}/{e.object_name} {e.reason}{times}: {(e.message or '')[:160]}"))
    for d in bundle.cluster.deployments:
        for r in d.revisions:
            if r.created_at:
                entries.append(TimelineEntry(time=r.created_at, text=f"Deployment/{d.name} 리비전 {r.revision} 생성 (이미지 {', '.join(r.images)})"))
    for p in bundle.cluster.pods:
        for c in p.containers:
            if c.last_terminated_at:
                entries.append(TimelineEntry(time=c.last_terminated_at, text=f"Pod/{p.name} 컨테이너 `{c.name}` 종료: {c.last_termination_reason} (exit {c.last_exit_code})"))
    for entry in bundle.logs:
        if entry.timestamp and (entry.level or "").upper() in ("ERROR", "FATAL", "CRITICAL"):
            entries.append(TimelineEntry(time=entry.timestamp, source="logs", text=f"{entry.level}: {entry.message[:160]}"))
    entries.sort(key=lambda t: t.time)
    return entries[-40:]


def analyze(bundle: EvidenceBundle, analyzers: tuple[Analyzer, ...] = ANALYZERS) -> Diagnosis:
    """The deterministic diagnosis: every analyzer's causes, highest confidence first."""
    causes: list[Cause] = []
    for analyzer in analyzers:
        try:
            causes.extend(analyzer.analyze(bundle))
        except Exception:  # one broken analyzer must not take the diagnosis down
            log.exception("analyzer %s failed", analyzer.kind)
    order = {a.kind: i for i, a in enumerate(analyzers)}
    causes.sort(key=lambda c: (-c.confidence, order.get(c.kind, 99)))
    causes = roots_first(causes)[:MAX_CAUSES] or [unknown_cause(bundle)]
    immediate: list[str] = []
    long_term: list[str] = []
    for c in causes[:3]:
        immediate += [a for a in c.immediate_actions if a not in immediate]
        long_term += [a for a in c.long_term if a not in long_term]
    return Diagnosis(engine="rules", causes=causes, timeline=timeline(bundle),
                     immediate_actions=immediate, long_term=long_term)
