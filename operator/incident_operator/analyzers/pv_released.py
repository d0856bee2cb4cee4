"""A claim that cannot bind because its PersistentVolume is held: a `Released` PV still carrying the claimRef of
a deleted claim of the same name (reclaimPolicy Retain keeps the data and the claimRef; the new claim has a new
uid), a PV bound to another claim, or a volumeName that names no PV. Blaming a missing StorageClass here is the
wrong fix (static PVs often use a class name no StorageClass object has, e.g. `manual`), and a new dynamic volume
would not bring the data back. Sources: Kubernetes docs "Persistent Volumes" (Reclaiming: Retain, Released,
"the previous claimant's data remains on the volume"), "Configure a Pod to Use a PersistentVolume for Storage"
(storageClassName: manual); k8sgpt pkg/analyzer/pvc.go (ProvisioningFailed / FailedBinding)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle, PersistentVolumeEvidence, PvcEvidence
from .base import Analyzer, event_item, events_matching, workload_ref


def _pv_text(pv: PersistentVolumeEvidence) -> str:
    return (f"PV `{pv.name}` 상태 {pv.phase or '?'}, claimRef {pv.claim_ref or '없음'}, reclaimPolicy {pv.reclaim_policy or '?'}, "
            f"클래스 `{pv.storage_class or ''}`, 용량 {pv.capacity or '?'}")


def held_volume(pvc: PvcEvidence) -> tuple[PersistentVolumeEvidence, str] | None:
    """The PV that blocks this claim, and how: (pv, 'released' | 'other-claim' | 'missing' | 'class-released')."""
    own = f"{pvc.namespace}/{pvc.name}"
    if pvc.volume and pvc.volume.phase == "Missing":
        return pvc.volume, "missing"
    if pvc.volume and pvc.volume.claim_ref and (pvc.volume.claim_ref != own or pvc.volume.claim_ref_current is False):
        return pvc.volume, "released" if pvc.volume.phase == "Released" else "other-claim"
    for pv in pvc.candidate_volumes:
        if pv.claim_ref == own and pv.claim_ref_current is False:
            return pv, "released"
    same = [pv for pv in pvc.candidate_volumes if pv.storage_class == pvc.storage_class]
    if same and all(pv.phase == "Released" for pv in same) and not any(pv.phase == "Available" for pv in pvc.candidate_volumes):
        return same[0], "class-released"
    return None


class PvReleasedAnalyzer(Analyzer):
    kind = "pv-released"
    title = "해제(Released)되었거나 다른 클레임에 묶인 PersistentVolume"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for pvc in bundle.cluster.pvcs:
            if pvc.phase == "Bound" and not (pvc.volume and pvc.volume.claim_ref_current is False):
                continue
            found = held_volume(pvc)
            if not found:
                continue
            pv, how = found
            ref = ResourceRef(kind="PersistentVolume", name=pv.name)
            users = [p for p in bundle.cluster.pods if pvc.name in p.claims]
            owner = workload_ref(users[0]) if users else ResourceRef(kind="PersistentVolumeClaim", name=pvc.name, namespace=pvc.namespace)
            evidence = [EvidenceItem(source="cluster", ref=f"PersistentVolumeClaim/{pvc.namespace}/{pvc.name}",
                                     text=f"PVC `{pvc.name}` 상태 {pvc.phase or '?'} (클래스 `{pvc.storage_class or ''}`, volumeName {pvc.volume_name or '-'})"),
                        EvidenceItem(source="cluster", ref=str(ref), text=_pv_text(pv))]
            if pvc.storage_class and pvc.storage_class_exists is False:
                evidence.append(EvidenceItem(source="cluster", text=(
                    f"StorageClass `{pvc.storage_class}` 객체는 없지만 같은 클래스 이름의 정적 PV가 있어 원인이 아닙니다 "
                    "(StorageClass를 만들면 빈 새 볼륨이 생길 뿐 데이터는 돌아오지 않음)")))
            failed = [e for e in events_matching(bundle, {"FailedBinding", "ProvisioningFailed", "VolumeFailedRecycle"})
                      if e.object_name in (pvc.name, pv.name)]
            evidence += [event_item(e) for e in failed[:2]]
            if how == "released":
                title = (f"PV `{pv.name}`이(가) 삭제된 이전 클레임 `{pv.claim_ref}`를 아직 붙잡고 있어(Released, "
                         f"{pv.reclaim_policy or '?'}) 새 PVC `{pvc.name}`이(가) 바인딩되지 못함")
                fix = [f"PV `{pv.name}`의 데이터를 확인(필요하면 백업)한 뒤 claimRef 해제: "
                       f"`kubectl patch pv {pv.name} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]'`",
                       "StorageClass를 새로 만들지 말 것: 새 빈 볼륨이 바인딩되어 데이터가 돌아오지 않음"]
                confidence = 0.93
            elif how == "other-claim":
                title = f"PVC `{pvc.name}`이(가) 지정한 PV `{pv.name}`은(는) 다른 클레임 `{pv.claim_ref}`에 묶여 있음"
                fix = [f"PVC `{pvc.name}`의 volumeName을 비어 있는 PV로 바꾸거나 PV `{pv.name}`의 현재 사용자 확인"]
                confidence = 0.88
            elif how == "missing":
                title = f"PVC `{pvc.name}`이(가) 지정한 PV `{pv.name}`이(가) 없음"
                fix = [f"PV `{pv.name}`을(를) 복구하거나 PVC의 volumeName 수정"]
                confidence = 0.85
            else:
                title = (f"클래스 `{pvc.storage_class}`의 PV가 모두 Released(이전 클레임의 데이터 보유) 상태라 PVC `{pvc.name}`이(가) "
                         "바인딩되지 못함")
                fix = [f"재사용할 PV(`{pv.name}` 등)의 데이터를 확인한 뒤 claimRef를 해제하거나, 같은 클래스의 새 PV를 준비"]
                confidence = 0.85
            causes.append(Cause(
                kind=self.kind, title=title + (f" — `{owner.name}` 파드가 시작되지 못함" if users else ""),
                confidence=confidence, resource=ref, evidence=evidence,
                immediate_actions=fix + [f"`kubectl describe pvc {pvc.name} -n {pvc.namespace}`, `kubectl get pv {pv.name} -o yaml`"],
                long_term=["Retain PV의 재사용 절차(데이터 확인 → claimRef 해제)를 런북으로", "StatefulSet/PVC 삭제 전 데이터 보존 정책 확인"],
            ))
        return causes
