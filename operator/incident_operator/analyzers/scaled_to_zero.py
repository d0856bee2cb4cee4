"""Deployments scaled to 0 replicas."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal, ResourceRef
from ..models.evidence import DeploymentEvidence, EvidenceBundle
from .base import Analyzer, event_item, events_matching

PREVIOUS_REPLICAS_ANNOTATION = "netaiops.io/previous-replicas"
SCALED_DOWN = re.compile(r"Scaled down replica set (\S+) from (\d+) to 0")


def previous_replicas(dep: DeploymentEvidence, bundle: EvidenceBundle) -> tuple[int, str]:
    """How many replicas the Deployment had before it went to 0, and where that came from."""
    ann = dep.annotations.get(PREVIOUS_REPLICAS_ANNOTATION, "")
    if ann.isdigit() and int(ann) > 0:
        return int(ann), f"annotation {PREVIOUS_REPLICAS_ANNOTATION}"
    rs_names = {r.replica_set for r in dep.revisions}
    for e in events_matching(bundle, {"ScalingReplicaSet"}):
        m = SCALED_DOWN.search(e.message or "")
        if m and m.group(1) in rs_names and int(m.group(2)) > 0:
            return int(m.group(2)), f"Event: {e.message}"
    return 1, "기록 없음 (기본값 1)"


class ScaledToZeroAnalyzer(Analyzer):
    kind = "scaled-to-zero"
    title = "레플리카 0으로 축소된 배포"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for dep in bundle.cluster.deployments:
            if dep.replicas != 0:
                continue
            ref = ResourceRef(kind="Deployment", name=dep.name, namespace=dep.namespace)
            n, origin = previous_replicas(dep, bundle)
            evidence = [EvidenceItem(source="cluster", text=f"Deployment `{dep.name}`의 spec.replicas가 0이고 실행 중인 파드가 없습니다", ref=str(ref)),
                        EvidenceItem(source="cluster", text=f"이전 레플리카 수 {n} (출처: {origin})", ref=str(ref))]
            evidence += [event_item(e) for e in events_matching(bundle, {"ScalingReplicaSet"}, r"to 0")][:2]
            causes.append(Cause(
                kind=self.kind, title=f"Deployment `{dep.name}`이(가) 레플리카 0으로 축소되어 서비스 불가",
                confidence=0.92, resource=ref, evidence=evidence,
                remediation=RemediationProposal(action="restore-replicas", target=ref, params={"replicas": n},
                                                reason=f"이전 레플리카 수({n})로 복원"),
                immediate_actions=[f"`kubectl scale deployment/{dep.name} -n {dep.namespace} --replicas={n}`"],
                long_term=["HPA minReplicas와 PodDisruptionBudget으로 최소 가용성 보장", "레플리카 변경을 GitOps로만 허용"],
            ))
        return causes
