"""Pods the kubelet evicted (node pressure: memory, ephemeral storage): status.reason Evicted."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem
from ..models.evidence import EvidenceBundle
from .base import Analyzer, group_by_workload, pod_ref, workload_ref


# the kubelet's eviction messages (pkg/kubelet/eviction/helpers.go, eviction_manager.go): node pressure names the
# resource ("The node was low on resource: ephemeral-storage."); a pod or container over its own limit says it in
# words ("Pod ephemeral local storage usage exceeds the total limit of containers 4Mi.", "Container app exceeded
# its local ephemeral storage limit \"1Mi\".", "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Gi\".")
EVICTION_RESOURCES = (("ephemeral-storage", ("ephemeral-storage", "ephemeral local storage", "local ephemeral storage",
                                             "emptydir volume")),
                      ("memory", ("memory",)), ("pid", ("pid",)), ("nodefs", ("nodefs",)), ("imagefs", ("imagefs",)))


def evicted_for(message: str) -> str | None:
    """The resource an eviction message names, in any of the kubelet's wordings."""
    low = message.lower()
    return next((r for r, words in EVICTION_RESOURCES if any(w in low for w in words)), None)


class EvictedAnalyzer(Analyzer):
    kind = "evicted"
    title = "노드 자원 부족으로 축출된 파드"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        evicted = [p for p in bundle.cluster.pods if (p.reason or "") == "Evicted"]
        causes = []
        for key, pairs in group_by_workload([(p, None) for p in evicted]).items():
            pod = pairs[0][0]
            ref = workload_ref(pod)
            message = pod.message or ""
            resource = evicted_for(message)
            nodes = sorted({p.node for p, _ in pairs if p.node})
            evidence = [EvidenceItem(source="cluster", text=f"파드 {len(pairs)}개 축출(Evicted): {message[:300]}", ref=pod_ref(pod))]
            if nodes:
                evidence.append(EvidenceItem(source="cluster", text=f"노드: {', '.join(nodes)}"))
            causes.append(Cause(
                kind=self.kind, title=f"`{ref.name}` 파드가 노드의 {resource or '자원'} 부족으로 축출됨",
                confidence=0.93 if resource else 0.8, resource=ref, evidence=evidence,
                immediate_actions=["`kubectl get pods --field-selector=status.phase=Failed`로 축출된 파드 정리",
                                   f"노드 {', '.join(nodes) or ''} 의 {resource or '자원'} 사용량 확인 (`kubectl describe node`)"],
                long_term=["컨테이너에 ephemeral-storage/memory requests·limits 지정", "로그·임시 파일을 볼륨 밖으로"],
            ))
        return causes
