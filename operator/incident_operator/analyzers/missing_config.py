"""Containers that cannot start because a ConfigMap or Secret they read is missing."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, group_by_workload, pod_containers, pod_ref, workload_ref

MISSING = re.compile(r'(configmap|secret) "?([\w.-]+)"? not found', re.I)


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
            what = f"{m.group(1)} `{m.group(2)}`" if m else "참조한 설정"
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}`이(가) 참조하는 {what}이(가) 없어 컨테이너를 만들 수 없음",
                confidence=0.9 if m else 0.7, resource=ref,
                evidence=[EvidenceItem(source="cluster", text=f"컨테이너 `{c.name}` {c.state_reason}: {(c.state_message or '')[:300]}", ref=pod_ref(pod))],
                immediate_actions=[f"{what} 생성 또는 참조 이름 수정"],
                long_term=["배포 전 참조 리소스 존재 여부 검증", "optional 참조 여부 명시"]))
        return causes
