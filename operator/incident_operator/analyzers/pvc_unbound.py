"""PersistentVolumeClaims that cannot bind: no such StorageClass, provisioning failing. The root of the
"unschedulable" symptom of the pods that mount them (k8sgpt's PVC analyzer reads the same signals)."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching, workload_ref


class PvcUnboundAnalyzer(Analyzer):
    kind = "pvc-unbound"
    title = "바인딩되지 않은 PersistentVolumeClaim"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for pvc in bundle.cluster.pvcs:
            if pvc.phase == "Bound":
                continue
            ref = ResourceRef(kind="PersistentVolumeClaim", name=pvc.name, namespace=pvc.namespace)
            evidence = [EvidenceItem(source="cluster", text=f"PVC `{pvc.name}` 상태 {pvc.phase or '?'} "
                                                             f"(StorageClass `{pvc.storage_class or '(기본값)'}`)", ref=str(ref))]
            confidence = 0.7
            static = [pv for pv in pvc.candidate_volumes if pv.storage_class == pvc.storage_class]
            if pvc.storage_class and pvc.storage_class_exists is False and (static or pvc.class_volumes_elsewhere):
                # static provisioning: PVs of that class name exist; no StorageClass object is needed for them
                evidence.append(EvidenceItem(source="cluster", text=(
                    f"StorageClass `{pvc.storage_class}` 객체는 없지만 이 클래스의 PV {len(static) + pvc.class_volumes_elsewhere}개가 "
                    f"있습니다(정적 프로비저닝): " + ", ".join(f"{pv.name} {pv.phase}" for pv in static[:3]))))
                confidence -= 0.1
            elif pvc.storage_class and pvc.storage_class_exists is False:
                evidence.append(EvidenceItem(source="cluster", text=f"StorageClass `{pvc.storage_class}`이(가) 클러스터에 없습니다"))
                confidence += 0.2
            failed = [e for e in events_matching(bundle, {"ProvisioningFailed", "FailedBinding"}) if e.object_name == pvc.name]
            evidence += [event_item(e) for e in failed[:2]]
            confidence += 0.05 if failed else 0
            users = [p for p in bundle.cluster.pods if pvc.name in p.claims]
            pending = [p for p in users if p.phase == "Pending"]
            if pending:
                evidence.append(EvidenceItem(source="cluster", text=f"이 PVC를 쓰는 파드 {len(pending)}개가 Pending (스케줄링 불가의 근본 원인)"))
                confidence += 0.05
            owner = workload_ref(users[0]) if users else ref
            class_missing = pvc.storage_class_exists is False and not static and not pvc.class_volumes_elsewhere
            fix = ("StorageClass를 만들거나 PVC의 storageClassName을 있는 것(`kubectl get storageclass`)으로 변경"
                   if class_missing else "바인딩할 수 있는 PV(상태, claimRef, 용량, accessModes)와 프로비저너의 이벤트 확인")
            causes.append(Cause(
                kind=self.kind, title=f"PVC `{pvc.name}`이(가) 바인딩되지 않아 `{owner.name}` 파드가 시작되지 못함"
                                      + (f": StorageClass `{pvc.storage_class}` 없음" if class_missing else ""),
                confidence=round(min(0.97, confidence), 3), resource=ref, evidence=evidence,
                immediate_actions=[fix, f"`kubectl describe pvc {pvc.name} -n {pvc.namespace}`"],
                long_term=["기본 StorageClass 지정", "매니페스트의 storageClassName을 배포 전에 검증(정책 엔진)"],
            ))
        return causes
