"""CPU burner workloads: stress / stress-ng images or commands, busy loops."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal
from ..models.evidence import ContainerEvidence, EvidenceBundle
from .base import (Analyzer, alarm_mentions, clamp, deployment_for, group_by_workload, metric_peak, pod_containers,
                   pod_ref, workload_ref)

BURNER_IMAGE = re.compile(
    r"(^|/)(stress(-ng)?|progrium/stress|polinux/stress(-ng)?|alexeiled/stress-ng|containerstack/cpustress|"
    r"vish/stress|cpu-?burn(er)?|cpuburn)(:|@|$)", re.I)
BURNER_COMMAND = re.compile(
    r"(^|[\s/;&|])stress(-ng)?(\s|$)|--cpu(\s|=)|while\s*(true|:|\[\s*1\s*\])\s*;?\s*do\s*(:|true)?\s*;?\s*done|"
    r"yes\s*>\s*/dev/null|(md5|sha\d+)sum\s+/dev/(zero|urandom)|dd\s+if=/dev/(zero|urandom)|openssl\s+speed|cpuburn",
    re.I)


def burner_signal(c: ContainerEvidence) -> str | None:
    """Why this container looks like a CPU burner, or None."""
    if BURNER_IMAGE.search(c.image):
        return f"이미지 `{c.image}`는 CPU 부하 생성 도구입니다"
    cmd = " ".join(c.command + c.args)
    if BURNER_COMMAND.search(cmd):
        return f"명령 `{cmd[:200]}`는 CPU를 소모하는 부하/무한 루프입니다"
    return None


class CpuBurnerAnalyzer(Analyzer):
    kind = "cpu-burner"
    title = "CPU 부하 생성 워크로드"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle) if burner_signal(c)]
        # a Deployment scaled to 0 has no pods, but its template still tells
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            dep = deployment_for(bundle, ref)
            template_all_burners = bool(dep and dep.containers and all(burner_signal(x) for x in dep.containers))
            evidence = [EvidenceItem(source="cluster", text=burner_signal(c) or "", ref=pod_ref(pod))]
            if not c.limits.cpu:
                evidence.append(EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}`에 CPU limit이 없어 노드 CPU를 제한 없이 사용합니다", ref=pod_ref(pod)))
            nodes = sorted({p.node for p, _ in pairs if p.node})
            if nodes:
                evidence.append(EvidenceItem(source="cluster", text=f"실행 노드: {', '.join(nodes)} (파드 {len({p.name for p, _ in pairs})}개)"))
            confidence = 0.6
            if alarm_mentions(bundle, "cpu"):
                confidence += 0.3
                evidence.append(EvidenceItem(source="alarm", text=f"CPU 알람 `{bundle.alarm.name}`과 일치합니다"))
            if not c.limits.cpu:
                confidence += 0.05
            peak = metric_peak(bundle, "pod_cpu_utilization", Namespace=ref.namespace or "", PodName=ref.name)
            if peak is not None:
                evidence.append(EvidenceItem(source="cloudwatch", text=f"pod_cpu_utilization 최대 {peak:.0f}%",
                                             ref=f"ContainerInsights/{ref.namespace}/{ref.name}"))
                confidence += 0.05 if peak >= 80 else 0
            delete_workload = ref.kind == "Pod" or template_all_burners
            causes.append(Cause(
                kind=self.kind, title=f"{ref.kind} `{ref.name}`의 CPU 부하 생성 컨테이너(`{c.name}`)가 CPU를 과다 사용",
                confidence=clamp(confidence), resource=ref, evidence=evidence,
                remediation=RemediationProposal(
                    action="delete-cpu-burner", target=ref,
                    params={"pods": sorted({p.name for p, _ in pairs}), "deleteWorkload": int(delete_workload)},
                    reason="알려진 카오스/부하 생성 워크로드" if delete_workload else "부하 생성 파드만 삭제"),
                immediate_actions=[f"`{ref}` 부하 생성 워크로드 삭제 (`kubectl delete {ref.kind.lower()} {ref.name} -n {ref.namespace}`)"],
                long_term=["네임스페이스에 LimitRange/ResourceQuota로 CPU limit 기본값 적용",
                           "카오스 실험은 전용 네임스페이스와 만료 시간(TTL)을 두고 실행"],
            ))
        return causes
