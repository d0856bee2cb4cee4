"""The cluster itself, through the same registry: pods, events, rollout history, nodes for a target."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..models.evidence import ClusterEvidence
from ..models.spec import Target
from .base import NotConfigured, Tool, ToolDeps


class ClusterEvidenceInput(BaseModel):
    namespace: str | None = None
    kind: str | None = Field(default=None, description="Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod or Node")
    name: str | None = None
    pod: str | None = None
    node: str | None = None


def cluster_evidence(args: ClusterEvidenceInput, deps: ToolDeps) -> ClusterEvidence:
    if deps.kube is None:
        raise NotConfigured("Kubernetes API에 연결되지 않음")
    scope = deps.effective_scope()
    target = Target.model_validate(args.model_dump(exclude_none=True))
    scope.check(target)  # Refused: an Incident's tools read only where the Incident may
    return deps.cluster_collector(scope=scope).collect(target)


TOOLS = [
    Tool("kubernetes-get-evidence", "대상 워크로드/파드/노드의 클러스터 상태: 컨테이너 상태, 재시작, 종료 사유, 이벤트, 리비전, 노드 상태, 로그 끝부분",
         ClusterEvidenceInput, ClusterEvidence, cluster_evidence, "kubernetes"),
]
