"""Whether a proposed remediation may run: the operator's rules, never the proposer's say-so."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.diagnosis import RemediationProposal
from ..models.evidence import EvidenceBundle
from ..settings import Settings

ALLOWED_ACTIONS = {"delete-cpu-burner", "rollback-image", "restore-replicas"}
ALLOWED_KINDS = {
    "delete-cpu-burner": {"Deployment", "Pod", "ReplicaSet"},
    "rollback-image": {"Deployment"},
    "restore-replicas": {"Deployment"},
}


@dataclass(frozen=True)
class Decision:
    mode: str  # "auto" | "dry-run" | "skip"
    reason: str


def target_in_evidence(p: RemediationProposal, bundle: EvidenceBundle) -> bool:
    """The target must be something the evidence actually shows as affected."""
    t = p.target
    if t.kind == "Deployment":
        return any(d.name == t.name and d.namespace == t.namespace for d in bundle.cluster.deployments)
    if t.kind == "Pod":
        return any(x.name == t.name and x.namespace == t.namespace for x in bundle.cluster.pods)
    return any(x.workload_name == t.name and x.namespace == t.namespace for x in bundle.cluster.pods)


def decide(p: RemediationProposal, mode: str, bundle: EvidenceBundle, settings: Settings,
           acknowledged_by: str | None = None, scope=None) -> Decision:
    """`scope` (tenancy.Scope): an Incident acts only where it may (its own namespace, for a tenant)."""
    if p.action not in ALLOWED_ACTIONS:
        return Decision("skip", f"허용 목록에 없는 조치: {p.action}")
    if p.target.kind not in ALLOWED_KINDS[p.action]:
        return Decision("skip", f"{p.action}은(는) {p.target.kind}에 적용할 수 없음")
    if not p.target.namespace or p.target.namespace in settings.protected_namespaces:
        return Decision("skip", f"보호된 네임스페이스: {p.target.namespace}")
    if scope is not None and not getattr(scope, "acts", True):
        return Decision("skip", "Alertmanager 경보(네임스페이스 라벨 없음)의 라벨은 테넌트 입력이므로 조치하지 않음 "
                                "(INCIDENT_WEBHOOK_TRUST_CLUSTER_ALERTS로 허용)")
    if scope is not None and not scope.allows_namespace(p.target.namespace):
        return Decision("skip", f"테넌시: 네임스페이스 `{scope.owner}`의 Incident는 `{p.target.namespace}`에서 조치할 수 없음")
    if not target_in_evidence(p, bundle):
        return Decision("skip", f"증거에 없는 대상: {p.target}")
    if acknowledged_by:
        return Decision("skip", f"담당자({acknowledged_by})가 확인한 인시던트: 자동 복구하지 않음")
    if mode == "off" or not settings.remediation_enabled:
        return Decision("skip", "자동 복구가 꺼져 있음 (spec.options.remediation=off 또는 운영자 설정)")
    if mode == "dry-run":
        return Decision("dry-run", "dry-run: 실행하지 않고 기록만 함")
    return Decision("auto", "정책 통과")
