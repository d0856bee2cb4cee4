"""Containers that cannot start because a ConfigMap or Secret they read is missing: as env
(CreateContainerConfigError) or as a volume (the kubelet's FailedMount events, pod stuck ContainerCreating)."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching, group_by_workload, pod_containers, pod_ref, workload_ref

MISSING = re.compile(r'(configmap|secret) "?([\w.-]+)"? not found', re.I)
# the kubelet's own words for a key the object lacks (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables)
MISSING_KEY = re.compile(r"couldn't find key ([\w.-]+) in (ConfigMap|Secret) ([\w.-]+)/([\w.-]+)")


class MissingConfigAnalyzer(Analyzer):
    kind = "missing-config"
    title = "ConfigMap/Secret 누락"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle)
                if c.state_reason in ("CreateContainerConfigError", "CreateContainerError") or MISSING.search(c.state_message or "")]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            m = MISSING.search(c.state_message or "")
            k = MISSING_KEY.search(c.state_message or "")
            what = f"{m.group(1)} `{m.group(2)}`" if m else (f"{k.group(2)} `{k.group(4)}`의 키 `{k.group(1)}`" if k else "참조한 설정")
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}`이(가) 참조하는 {what}이(가) 없어 컨테이너를 만들 수 없음",
                confidence=0.95 if m or k else 0.75, resource=ref,
                evidence=[EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` {c.state_reason}: {(c.state_message or '')[:300]}", ref=pod_ref(pod))],
                immediate_actions=[f"{what} 생성 또는 참조 이름 수정"],
                long_term=["배포 전 참조 리소스 존재 여부 검증", "optional 참조 여부 명시"]))
        return causes or self._failed_mounts(bundle)

    def _failed_mounts(self, bundle: EvidenceBundle) -> list[Cause]:
        pods = {p.name: p for p in bundle.cluster.pods}
        seen: dict[str, Cause] = {}
        for e in events_matching(bundle, {"FailedMount"}, MISSING.pattern):
            pod = pods.get(e.object_name or "")
            if pod is None:
                continue
            ref = workload_ref(pod)
            if str(ref) in seen:
                continue
            m = MISSING.search(e.message or "")
            what = f"{m.group(1)} `{m.group(2)}`"
            seen[str(ref)] = Cause(
                kind=self.kind, title=f"`{ref.name}`이(가) 볼륨으로 마운트하는 {what}이(가) 없어 파드가 시작되지 않음",
                confidence=0.95, resource=ref, evidence=[event_item(e)],
                immediate_actions=[f"{what} 생성 또는 볼륨의 참조 이름 수정"],
                long_term=["배포 전 참조 리소스 존재 여부 검증", "optional 참조 여부 명시"])
        return list(seen.values())
