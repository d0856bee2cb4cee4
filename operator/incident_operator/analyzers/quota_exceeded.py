"""Admission refusing new pods: a ResourceQuota that is full, or a LimitRange whose bounds the pod's
requests/limits break. The ReplicaSet / Job controller's FailedCreate events say so."""

from __future__ import annotations

import re

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching

EXCEEDED = re.compile(r"exceeded quota: ([\w.-]+)", re.I)
LIMIT_RANGE = re.compile(r"(maximum|minimum) ([\w-]+) usage per (Container|Pod|PersistentVolumeClaim)"
                         r"|(\w+) max limit to request ratio per (Container|Pod)", re.I)


class QuotaExceededAnalyzer(Analyzer):
    kind = "quota-exceeded"
    title = "ResourceQuota 초과로 파드 생성 거부"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        refused = events_matching(bundle, {"FailedCreate"}, r"exceeded quota|forbidden: failed quota")
        causes = self._limit_ranges(bundle)
        if not refused:
            return causes
        by_quota: dict[str, list] = {}
        for e in refused:
            m = EXCEEDED.search(e.message or "")
            by_quota.setdefault(m.group(1) if m else "?", []).append(e)
        for quota_name, events in by_quota.items():
            e = events[0]
            q = next((q for q in bundle.cluster.quotas if q.name == quota_name), None)
            ref = ResourceRef(kind="ResourceQuota", name=quota_name, namespace=e.namespace)
            evidence = [event_item(x) for x in events[:3]]
            if q:
                full = [f"{k} {q.used.get(k, '?')}/{v}" for k, v in q.hard.items() if q.used.get(k) == v]
                if full:
                    evidence.append(EvidenceItem(source="cluster", text=f"한도에 도달한 항목: {', '.join(full)}", ref=str(ref)))
            dep = next((d for d in bundle.cluster.deployments if any(r.replica_set == e.object_name for r in d.revisions)), None)
            who = f"Deployment `{dep.name}`" if dep else f"{e.object_kind} `{e.object_name}`"
            if dep:
                evidence.append(EvidenceItem(source="cluster", text=f"Deployment `{dep.name}` 준비 {dep.ready_replicas}/{dep.replicas}"))
            causes.append(Cause(
                kind=self.kind, title=f"ResourceQuota `{quota_name}` 초과로 {who}의 파드를 만들 수 없음",
                confidence=0.95, resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl describe resourcequota {quota_name} -n {e.namespace}`로 사용량 확인",
                                   "불필요한 파드 정리 또는 쿼터 상향 요청", "파드의 requests/limits를 쿼터에 맞게 조정"],
                long_term=["네임스페이스 쿼터 사용률에 대한 알람", "LimitRange로 기본 requests 지정"],
            ))
        return causes

    def _limit_ranges(self, bundle: EvidenceBundle) -> list[Cause]:
        refused = events_matching(bundle, {"FailedCreate"}, LIMIT_RANGE.pattern)
        if not refused:
            return []
        e = refused[0]
        lr = bundle.cluster.limit_ranges[0] if bundle.cluster.limit_ranges else None
        ref = ResourceRef(kind="LimitRange", name=lr.name if lr else "?", namespace=e.namespace)
        evidence = [event_item(x) for x in refused[:3]]
        if lr:
            bounds = [f"{item.get('type')} {k} {v}" for item in lr.limits for k in ("max", "min") for v in [item.get(k)] if v]
            if bounds:
                evidence.append(EvidenceItem(source="cluster", text=f"LimitRange `{lr.name}`: {', '.join(bounds)[:300]}", ref=str(ref)))
        bound = LIMIT_RANGE.search(e.message or "").group(0)
        return [Cause(
            kind=self.kind, title=f"LimitRange `{ref.name}`의 한도({bound})를 벗어나 {e.object_kind} `{e.object_name}`의 파드를 만들 수 없음",
            confidence=0.95, resource=ref, evidence=evidence,
            immediate_actions=["파드의 requests/limits를 LimitRange 범위 안으로 조정",
                               f"`kubectl describe limitrange -n {e.namespace}`로 범위 확인"],
            long_term=["배포 전 LimitRange 범위 검증 (policy-as-code)"],
        )]
