"""A bad rollout: the newest revision's pods crash (or never become ready) while the previous revision ran.
The fix is the previous revision: a grounded rollback when the images differ."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, pod_ref


def _failing(c) -> bool:
    return (c.state_reason == "CrashLoopBackOff" or (c.restart_count >= 3 and c.last_exit_code not in (None, 0))
            or c.state_reason in ("RunContainerError", "CreateContainerError"))


class BadRolloutAnalyzer(Analyzer):
    kind = "bad-rollout"
    title = "새 리비전 배포 후 장애"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for dep in bundle.cluster.deployments:
            if len(dep.revisions) < 2:
                continue
            newest, previous = dep.revisions[0], dep.revisions[1]
            pods = [p for p in bundle.cluster.pods if p.namespace == dep.namespace and p.owner_name == newest.replica_set]
            bad = [(p, c) for p in pods for c in p.containers if _failing(c)]
            if not bad:
                continue
            ref = ResourceRef(kind="Deployment", name=dep.name, namespace=dep.namespace)
            p, c = bad[0]
            ran = previous.ready_replicas > 0
            evidence = [
                EvidenceItem(source="cluster", text=f"리비전 {newest.revision}(이미지 {', '.join(newest.images)})의 파드 "
                                                     f"{len({x.name for x, _ in bad})}개가 실패: `{c.name}` {c.state_reason or ''} "
                                                     f"재시작 {c.restart_count}회, exit {c.last_exit_code}", ref=pod_ref(p)),
                EvidenceItem(source="cluster", text=f"이전 리비전 {previous.revision}(이미지 {', '.join(previous.images)})은 "
                                                     + (f"준비된 파드 {previous.ready_replicas}개로 동작 중" if ran else "이전에 배포되어 있었음"),
                             ref=f"ReplicaSet/{dep.namespace}/{previous.replica_set}"),
            ]
            if c.termination_message:
                evidence.append(EvidenceItem(source="cluster", text=f"종료 메시지: {c.termination_message[:300]}", ref=pod_ref(p)))
            cause = Cause(
                kind=self.kind, title=f"Deployment `{dep.name}`의 새 리비전 {newest.revision} 배포 후 파드가 반복 실패 (이전 리비전은 정상)",
                confidence=0.93 if ran else 0.85, resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl rollout undo deployment/{dep.name} -n {dep.namespace}`로 이전 리비전 복구",
                                   f"`kubectl rollout history deployment/{dep.name} -n {dep.namespace}`로 변경 내용 비교"],
                long_term=["카나리/블루그린 배포와 자동 롤백(progressDeadlineSeconds, 분석 지표)", "배포 전 스모크 테스트"],
            )
            if set(previous.images) != set(newest.images) and previous.images:
                cause.remediation = RemediationProposal(
                    action="rollback-image", target=ref,
                    params={"toRevision": previous.revision, "images": previous.images, "badImages": sorted(newest.images)},
                    reason=f"실패하는 리비전 {newest.revision}을 정상 동작하던 리비전 {previous.revision}으로 되돌림")
            causes.append(cause)
        return causes
