"""CPU burner workloads: stress / stress-ng images or commands, busy loops."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal
from ..models.evidence import ContainerEvidence, EvidenceBundle
from .base import (Analyzer, alarm_mentions, clamp, deployment_for, group_by_workload, metric_peak, millicores, pod_containers,
                   pod_ref, workload_ref)

BURNER_IMAGE = re.compile(
    r"(^|/)(stress(-ng)?|progrium/stress|polinux/stress(-ng)?|alexeiled/stress-ng|containerstack/cpustress|"
    r"vish/stress|cpu-?burn(er)?|cpuburn)(:|@|$)", re.I)
# Programs that exist to burn CPU, when they are what the container runs (not a flag of another app)
BURNER_BINARIES = {"stress", "stress-ng", "cpuburn", "cpu-burn", "cpuburner", "burnp6", "burnk7", "burnmmx"}
# Shell idioms whose only effect is to spin a core
BUSY_LOOP = re.compile(
    r"while\s*(true|:|\[\s*1\s*\])\s*;?\s*do\s*(:|true)?\s*;?\s*done|"
    r"\byes\s*>\s*/dev/null|\b(md5|sha\d+)sum\s+/dev/(zero|urandom)\b|"
    r"\bdd\s+if=/dev/(zero|urandom)\s+of=/dev/null\b|\bopenssl\s+speed\b", re.I)
TINY_LIMIT_MILLICORES = 100  # under this a container cannot burn a node (cpu_throttling.py judges it)



SHELLS = {"sh", "bash", "ash", "dash", "zsh", "busybox"}
STATEMENT_SPLIT = re.compile(r"\s*(?:;|&&|\|\||\||&|\n|\bthen\b|\bdo\b|\belse\b)\s*")


def _programs(c: ContainerEvidence) -> list[str]:
    """The programs the container runs: its entrypoint, and each statement's of a `sh -c` script."""
    argv = c.command + c.args if c.command else c.args
    if not argv:
        return []
    first = argv[0].rsplit("/", 1)[-1].lower()
    progs = [first] if c.command else []
    if first in SHELLS and "-c" in argv[1:]:
        i = argv.index("-c")
        script = " ".join(argv[i + 1:i + 2])
        for stmt in STATEMENT_SPLIT.split(script):
            words = stmt.strip().split()
            while words and ("=" in words[0] or words[0] in ("exec", "nohup", "timeout", "nice", "-n")
                             or words[0].lstrip("-").isdigit()):
                words = words[1:]  # FOO=1 exec nice -n 10 stress-ng ...
            if words:
                progs.append(words[0].rsplit("/", 1)[-1].lower())
    return progs


def burner_signal(c: ContainerEvidence) -> str | None:
    """Why this container is a CPU burner, or None. Only strong signals: a known stress image, a stress
    program as what it runs, or a busy-loop idiom. An app with a `--cpu` flag is not a burner."""
    if BURNER_IMAGE.search(c.image):
        return f"이미지 `{c.image}`는 CPU 부하 생성 도구입니다"
    cmd = " ".join(c.command + c.args)
    prog = next((p for p in _programs(c) if p in BURNER_BINARIES), None)
    if prog:
        return f"컨테이너가 부하 생성 프로그램 `{prog}`를 실행합니다: `{cmd[:200]}`"
    if BUSY_LOOP.search(cmd):
        return f"명령 `{cmd[:200]}`는 CPU를 소모하는 무한 루프/부하 관용구입니다"
    return None


class CpuBurnerAnalyzer(Analyzer):
    kind = "cpu-burner"
    title = "CPU 부하 생성 워크로드"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        from ..remediation.policy import measured_cpu, non_burners  # the policy imports the analyzers
        hits = [(p, c) for p, c in pod_containers(bundle) if burner_signal(c)]
        # a Deployment scaled to 0 has no pods, but its template still tells
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            dep = deployment_for(bundle, ref)
            template_all_burners = bool(dep and dep.containers and not non_burners(dep.containers))
            evidence = [EvidenceItem(source="cluster", text=burner_signal(c) or "", ref=pod_ref(pod))]
            if not c.limits.cpu:
                evidence.append(EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}`에 CPU limit이 없어 노드 CPU를 제한 없이 사용합니다", ref=pod_ref(pod)))
            nodes = sorted({p.node for p, _ in pairs if p.node})
            if nodes:
                evidence.append(EvidenceItem(source="cluster", text=f"실행 노드: {', '.join(nodes)} (파드 {len({p.name for p, _ in pairs})}개)"))
            confidence = 0.6
            limit = millicores(c.limits.cpu)
            if limit is not None and limit <= TINY_LIMIT_MILLICORES:
                # a load generator that cannot burn anything: throttled at its limit, not eating the node
                evidence.append(EvidenceItem(source="cluster", ref=pod_ref(pod), text=(
                    f"CPU limit {c.limits.cpu}: 코어의 {limit / 10:.0f}% 이상은 쓸 수 없어 노드 CPU를 소모하는 원인이 아닙니다 "
                    "(limit에 막힌 스로틀링 — cpu-throttling 참고)")))
                causes.append(Cause(
                    kind=self.kind, title=f"{ref.kind} `{ref.name}`은(는) 부하 생성 컨테이너(`{c.name}`)지만 CPU limit {c.limits.cpu}에 묶여 있음",
                    confidence=0.4, resource=ref, evidence=evidence,
                    immediate_actions=[f"`{ref}`이(가) 의도된 부하 테스트인지 확인 (삭제는 노드 CPU를 돌려주지 않음)"],
                    long_term=["카오스 실험은 전용 네임스페이스와 만료 시간(TTL)을 두고 실행"]))
                continue
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
            at_limit = metric_peak(bundle, "pod_cpu_utilization_over_pod_limit", Namespace=ref.namespace or "", PodName=ref.name)
            if at_limit is not None and at_limit >= 80 and (millicores(c.limits.cpu) or 0) > TINY_LIMIT_MILLICORES:
                # a load generator measured using all the CPU it may: it is burning, not merely present
                evidence.append(EvidenceItem(source="cloudwatch", text=f"pod_cpu_utilization_over_pod_limit 최대 {at_limit:.0f}% "
                                             f"(CPU limit {c.limits.cpu}을 다 쓰는 중)", ref=f"ContainerInsights/{ref.namespace}/{ref.name}"))
                confidence = max(confidence, 0.85)
            pods = sorted({p.name for p, _ in pairs})
            # a pod is deleted only when everything in it is a burner: an app with a stress sidecar is the app
            apps = {p.name: non_burners(p.containers) for p, _ in pairs if non_burners(p.containers)}
            immediate = [f"`{ref}` 부하 생성 워크로드 삭제 (`kubectl delete {ref.kind.lower()} {ref.name} -n {ref.namespace}`)"]
            remediation = None
            if apps:
                name, others = next(iter(apps.items()))
                evidence.append(EvidenceItem(source="cluster", ref=f"Pod/{ref.namespace}/{name}", text=(
                    f"파드 `{name}`에는 부하 생성기가 아닌 컨테이너({', '.join(others)})도 있습니다: 파드를 지우면 애플리케이션도 "
                    f"멈추므로 자동 삭제하지 않습니다 (부하 생성 사이드카 `{c.name}`를 템플릿에서 제거해야 함)")))
                immediate = [f"`{ref}`의 템플릿에서 부하 생성 컨테이너 `{c.name}` 제거 (소유자 확인 후)"]
            else:
                delete_workload = ref.kind == "Pod" or template_all_burners
                remediation = RemediationProposal(
                    action="delete-cpu-burner", target=ref,
                    params={"pods": pods, "deleteWorkload": int(delete_workload)},
                    reason="알려진 카오스/부하 생성 워크로드" if delete_workload else "부하 생성 파드만 삭제")
                measured = measured_cpu(bundle, ref.namespace or "", {ref.name or "", *pods}, set(nodes))
                if measured is None:
                    evidence.append(EvidenceItem(source="cluster", text="측정된 CPU 사용량이 증거에 없어 자동 삭제는 하지 않습니다"))
            causes.append(Cause(
                kind=self.kind, title=f"{ref.kind} `{ref.name}`의 CPU 부하 생성 컨테이너(`{c.name}`)가 CPU를 과다 사용",
                confidence=clamp(confidence), resource=ref, evidence=evidence, remediation=remediation,
                immediate_actions=immediate,
                long_term=["네임스페이스에 LimitRange/ResourceQuota로 CPU limit 기본값 적용",
                           "카오스 실험은 전용 네임스페이스와 만료 시간(TTL)을 두고 실행"],
            ))
        return causes
