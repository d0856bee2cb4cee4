"""Invalid or unpullable images: ErrImagePull, ImagePullBackOff, InvalidImageName."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, RemediationProposal
from ..models.evidence import DeploymentEvidence, EvidenceBundle
from .base import Analyzer, clamp, deployment_for, event_item, events_matching, group_by_workload, pod_containers, pod_ref, workload_ref

PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
AUTH = re.compile(r"unauthorized|authentication required|pull access denied|no basic auth|denied:", re.I)


def last_good_revision(dep: DeploymentEvidence, bad_images: set[str]) -> int | None:
    """The newest earlier revision whose images are not the failing ones."""
    current = dep.revision or (dep.revisions[0].revision if dep.revisions else None)
    for rev in dep.revisions:  # newest first
        if current is not None and rev.revision >= current:
            continue
        if rev.images and not (set(rev.images) & bad_images):
            return rev.revision
    return None


class ImagePullAnalyzer(Analyzer):
    kind = "image-pull"
    title = "이미지 pull 실패"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        hits = [(p, c) for p, c in pod_containers(bundle) if c.state == "waiting" and c.state_reason in PULL_REASONS]
        causes = []
        for key, pairs in group_by_workload(hits).items():
            pod, c = pairs[0]
            ref = workload_ref(pod)
            bad_images = {x.image for _, x in pairs}
            evidence = [EvidenceItem(source="cluster", text=f"컨테이너 `{x.name}` 대기 사유 {x.state_reason}: {(x.state_message or '')[:200]}", ref=pod_ref(p)) for p, x in pairs[:3]]
            related = events_matching(bundle, {"Failed", "BackOff", "InspectFailed"}, r"pull|image")
            evidence += [event_item(e) for e in related if e.object_name in {p.name for p, _ in pairs}][:3]
            messages = " ".join((x.state_message or "") for _, x in pairs) + " ".join(e.message or "" for e in related)
            auth = bool(AUTH.search(messages))
            title = (f"`{ref.name}`의 이미지 `{c.image}` pull 인증 실패 (레지스트리 자격 증명 문제)" if auth
                     else f"`{ref.name}`의 이미지 `{c.image}`를 가져올 수 없음 (잘못된 이미지/태그)")
            cause = Cause(kind=self.kind, title=title, confidence=clamp(0.95 if not auth else 0.92), resource=ref,
                          evidence=evidence,
                          immediate_actions=[f"`{ref}`를 정상 동작하던 이전 리비전으로 롤백 (`kubectl rollout undo deployment/{ref.name} -n {ref.namespace}`)"
                                             if ref.kind == "Deployment" else f"`{c.image}` 이미지 이름/태그 확인"],
                          long_term=["CI에서 배포 전 이미지 존재 여부 검증", "배포 파이프라인에 progressDeadlineSeconds 기반 자동 롤백 적용"]
                          + (["imagePullSecrets와 레지스트리 자격 증명 만료 관리"] if auth else []))
            dep = deployment_for(bundle, ref)
            if dep and not auth:
                good = last_good_revision(dep, bad_images)
                if good is not None:
                    images = next(r.images for r in dep.revisions if r.revision == good)
                    cause.evidence.append(EvidenceItem(source="cluster", text=f"리비전 {good}은 이미지 {', '.join(images)}로 동작했습니다", ref=f"Deployment/{dep.namespace}/{dep.name}"))
                    cause.remediation = RemediationProposal(
                        action="rollback-image", target=ref,
                        params={"toRevision": good, "images": images, "badImages": sorted(bad_images)},
                        reason="잘못된 이미지로 멈춘 배포를 마지막 정상 리비전으로 되돌림")
            causes.append(cause)
        return causes
