"""A workload's service account denied by the API server (RBAC): `forbidden: User "system:serviceaccount:..."
cannot <verb> resource ...`, in its logs or in Events."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item
from .logs import log_items, matching

FORBIDDEN = re.compile(r"forbidden: User \"(system:serviceaccount:[\w.-]+:[\w.-]+)\" cannot (\w+) resource \"([\w./-]+)\"", re.I)


class RbacForbiddenAnalyzer(Analyzer):
    kind = "rbac-forbidden"
    title = "서비스 어카운트 권한 부족 (RBAC)"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        lines = matching(bundle, FORBIDDEN)
        events = [e for e in bundle.cluster.events if FORBIDDEN.search(e.message or "")]
        texts = [l.text for l in lines] + [e.message or "" for e in events]
        if not texts:
            return []
        sa, verb, resource = FORBIDDEN.search(texts[0]).groups()
        evidence = log_items(lines, 2)
        evidence += [event_item(e) for e in events[:2]]
        ns, name = sa.split(":")[2:4]
        return [Cause(
            kind=self.kind, title=f"`{sa}`에 `{resource}` {verb} 권한이 없어 요청이 거부됨 ({len(texts)}건)",
            confidence=0.9, evidence=evidence,
            immediate_actions=[f"`kubectl auth can-i {verb} {resource} --as={sa} -n {ns}`로 확인",
                               f"필요한 최소 권한의 Role/RoleBinding을 `{name}`에 부여"],
            long_term=["워크로드별 권한을 매니페스트와 함께 관리", "배포 전 RBAC 검증(kubectl auth can-i) 자동화"],
        )]
