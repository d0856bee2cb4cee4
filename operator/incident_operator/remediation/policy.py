"""Whether a proposed remediation may run: the operator's rules, never the proposer's say-so.

Every number and every target an action uses is grounded in what the API server itself recorded
(ReplicaSet history, metadata.managedFields, the pod's own containers) or measured (Container Insights),
never in Events, labels, alarm names or proposal parameters a tenant or the model can write.
See docs/remediation.md. The functions here are pure: evidence in, decision out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..kube.evidence import MAINTENANCE_ANNOTATION, PREVIOUS_REPLICAS_ANNOTATION
from ..models.diagnosis import RemediationProposal
from ..models.evidence import ContainerEvidence, DeploymentEvidence, EvidenceBundle, FieldWriter, HpaEvidence, PodEvidence
from ..settings import Settings

ALLOWED_ACTIONS = {"delete-cpu-burner", "rollback-image", "restore-replicas"}
ALLOWED_KINDS = {
    "delete-cpu-burner": {"Deployment", "Pod", "ReplicaSet"},
    "rollback-image": {"Deployment"},
    "restore-replicas": {"Deployment"},
}
OPERATOR_MANAGER = "incident-operator"  # the field manager of every write the operator makes
CONTROLLER_MANAGER = "kube-controller-manager"  # the HPA scales through the scale subresource as this
KUBECTL = re.compile(r"^kubectl(-[a-z-]+)?$")
# percentages, compared with remediation_burner_min_cpu_percent (pod_cpu_usage_total is in millicores: a pod
# using 60m is not "60 %")
CPU_METRICS = ("pod_cpu_utilization", "pod_cpu_utilization_over_pod_limit")
NODE_CPU_METRICS = ("node_cpu_utilization",)


@dataclass(frozen=True)
class Decision:
    mode: str  # "auto" | "approve" | "dry-run" | "skip"
    reason: str
    refused: str | None = None  # dry-run: why running it would have been refused


# ---- restore-replicas -------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaPlan:
    """What scaling a Deployment at 0 back up would do: `replicas` and where that number comes from, or why not."""

    replicas: int | None
    origin: str = ""
    refusal: str | None = None


def writer_kind(w: FieldWriter, settings: Settings) -> str:
    """chaos | operator | hpa | kubectl | other: who a managedFields manager is."""
    if any(fnmatchcase(w.manager, pattern) for pattern in settings.remediation_chaos_managers):
        return "chaos"
    if w.manager == OPERATOR_MANAGER:
        return "operator"
    if w.manager == CONTROLLER_MANAGER or "horizontal-pod-autoscaler" in w.manager:
        return "hpa"
    if KUBECTL.match(w.manager):
        return "kubectl"
    return "other"


def _when(w: FieldWriter) -> str:
    return f" ({w.time.isoformat()})" if w.time else ""


def _refusal_for(w: FieldWriter, kind: str) -> str:
    how = f"`{w.manager}`" + (f", {w.subresource} 하위 리소스" if w.subresource else "") + _when(w)
    if kind == "kubectl":
        return (f"소유자가 kubectl로 직접 레플리카를 0으로 바꿨습니다 ({how}): 유지보수 등 의도된 축소로 보고 "
                "자동으로 되돌리지 않습니다. 다시 올리려면 소유자가 `kubectl scale`로 직접 올리세요")
    if kind == "hpa":
        return f"HPA(컨트롤러 {how})가 레플리카 수를 정했습니다: HPA의 결정을 되돌리지 않습니다"
    if kind == "operator":
        return (f"운영자 자신이 마지막으로 레플리카를 바꿨습니다 ({how}, 이전 조치의 되돌리기): 다시 올리지 않습니다. "
                "사람이 확인해야 합니다")
    return (f"`{w.manager}`이(가) 레플리카를 0으로 바꿨습니다 ({how}). 알려진 카오스 도구"
            "(INCIDENT_REMEDIATION_CHAOS_MANAGERS)가 아니므로 소유자(또는 GitOps)의 의도된 변경으로 보고 되돌리지 않습니다")


def replica_plan(dep: DeploymentEvidence, hpas: list[HpaEvidence], settings: Settings) -> ReplicaPlan:
    """Whether a Deployment at 0 replicas is scaled back, and to how many.

    Not undone: a maintenance annotation, an HPA owning the scale, or spec.replicas last set (managedFields) by
    anyone but a known chaos tool — kubectl, GitOps, the operator itself — or by nobody recorded: a write through
    the scale subresource (`kubectl scale`, the HPA) clears the field's owner and records none. The count comes from the API's own
    records, newest first: the deployment controller's desired-replicas annotation on the ReplicaSets, the chaos
    tool's own netaiops.io/previous-replicas (only when managedFields show that same tool wrote it), kubectl's
    declared spec.replicas. It is never above the workload's recorded maximum nor INCIDENT_REMEDIATION_MAX_REPLICAS.
    Events are never read: anyone who may create an Event can write "from 400 to 0"."""
    if dep.replicas != 0:
        return ReplicaPlan(None, refusal=f"spec.replicas가 {dep.replicas}입니다 (0이 아님)")
    if MAINTENANCE_ANNOTATION in dep.annotations:
        note = dep.annotations[MAINTENANCE_ANNOTATION][:100]
        return ReplicaPlan(None, refusal=f"소유자가 `{MAINTENANCE_ANNOTATION}` 주석으로 유지보수 중임을 표시했습니다"
                                         f"{f' ({note})' if note else ''}: 의도된 축소이므로 되돌리지 않습니다")
    hpa = next((h for h in hpas if h.namespace == dep.namespace and h.target_kind == "Deployment"
                and h.target_name == dep.name), None)
    if hpa is not None:
        return ReplicaPlan(None, refusal=f"HPA `{hpa.name}`이(가) 이 Deployment의 레플리카 수를 관리합니다: "
                                         "HPA의 결정을 되돌리지 않습니다")
    w = dep.replicas_writer
    if w is None:
        # a write through the scale subresource (kubectl scale, an HPA) leaves no owner of spec.replicas
        return ReplicaPlan(None, refusal="레플리카가 scale 하위 리소스(`kubectl scale`, HPA 등)로 바뀌어 managedFields에 바꾼 주체가 "
                                         "남지 않았습니다: 알려진 카오스 도구의 변경임을 확인할 수 없으므로 소유자의 의도된 축소로 보고 "
                                         "되돌리지 않습니다")
    kind = writer_kind(w, settings)
    if kind != "chaos":
        return ReplicaPlan(None, refusal=_refusal_for(w, kind))
    found: tuple[int, str] | None = None
    for r in dep.revisions:  # newest revision first
        if r.desired_replicas:
            found = (r.desired_replicas, f"ReplicaSet `{r.replica_set}`(리비전 {r.revision})의 "
                                         "deployment.kubernetes.io/desired-replicas (배포 컨트롤러의 기록)")
            break
    prev = dep.annotations.get(PREVIOUS_REPLICAS_ANNOTATION, "")
    prev_writer = dep.annotation_writers.get(PREVIOUS_REPLICAS_ANNOTATION)
    if found is None and prev.isdigit() and int(prev) > 0 and prev_writer and prev_writer.manager == w.manager:
        found = (int(prev), f"축소한 카오스 도구 `{w.manager}`가 직접 남긴 {PREVIOUS_REPLICAS_ANNOTATION} (managedFields로 확인)")
    if found is None and dep.declared_replicas:
        found = (dep.declared_replicas, "kubectl apply로 선언된 spec.replicas (last-applied-configuration)")
    if found is None:
        return ReplicaPlan(None, refusal="축소 전 레플리카 수가 API에 기록되어 있지 않습니다 (ReplicaSet 주석, 카오스 도구의 "
                                         "기록, 선언된 spec 모두 없음): 추측한 수로 올리지 않습니다")
    n, origin = found
    recorded = [x for r in dep.revisions for x in (r.desired_replicas, r.max_replicas, r.replicas) if x]
    recorded += [dep.declared_replicas] if dep.declared_replicas else []
    if recorded and n > max(recorded):
        n, origin = max(recorded), f"{origin}, 기록된 최댓값 {max(recorded)}로 제한"
    if n > settings.remediation_max_replicas:
        n, origin = settings.remediation_max_replicas, f"{origin}, 상한 INCIDENT_REMEDIATION_MAX_REPLICAS={n}로 제한"
    return ReplicaPlan(n, origin=origin)


def _check_replicas(p: RemediationProposal, bundle: EvidenceBundle, settings: Settings) -> str | None:
    dep = next((d for d in bundle.cluster.deployments
                if d.name == p.target.name and d.namespace == p.target.namespace), None)
    if dep is None:
        return f"증거에 없는 대상: {p.target}"
    plan = replica_plan(dep, bundle.cluster.hpas, settings)
    if plan.replicas is None:
        return f"레플리카를 되돌리지 않음: {plan.refusal}"
    try:
        asked = int(p.params.get("replicas"))
    except (TypeError, ValueError):
        return f"레플리카 수가 없거나 숫자가 아님: {p.params.get('replicas')!r}"
    if not 1 <= asked <= plan.replicas:
        return f"제안된 레플리카 수 {asked}는 API 기록에 근거한 값 {plan.replicas}({plan.origin})를 벗어남"
    return None


# ---- delete-cpu-burner ------------------------------------------------------------------------
def app_containers(containers: list[ContainerEvidence]) -> list[ContainerEvidence]:
    return [c for c in containers if not c.init]


def non_burners(containers: list[ContainerEvidence]) -> list[str]:
    """The (non-init) containers that are not CPU burners: a pod with any is an application, never deleted whole."""
    from ..analyzers.cpu_burner import burner_signal  # the analyzers import this module
    return [c.name for c in app_containers(containers) if not burner_signal(c)]


def measured_cpu(bundle: EvidenceBundle, namespace: str, names: set[str], nodes: set[str]) -> tuple[float, str] | None:
    """The highest CPU measured (Container Insights series collected into the bundle) for these pods / this workload
    (PodName is the pod or the workload's name), or for the nodes they run on."""
    best: tuple[float, str] | None = None
    for m in bundle.metrics:
        if not m.points:
            continue
        d = m.dimensions
        own = m.name in CPU_METRICS and d.get("Namespace") == namespace and d.get("PodName") in names
        node = m.name in NODE_CPU_METRICS and d.get("NodeName") in nodes
        if own or node:
            peak = max(p.value for p in m.points)
            where = f"{m.name}{{{'PodName=' + d.get('PodName', '') if own else 'NodeName=' + d.get('NodeName', '')}}}"
            if best is None or peak > best[0]:
                best = (peak, where)
    return best


def _check_burner(p: RemediationProposal, bundle: EvidenceBundle, settings: Settings) -> str | None:
    ns = p.target.namespace
    names = [str(x) for x in p.params.get("pods") or []]
    pods: list[PodEvidence] = []
    for name in names:
        pod = next((x for x in bundle.cluster.pods if x.name == name and x.namespace == ns), None)
        if pod is None:
            return f"증거에 없는 파드: {ns}/{name}"
        pods.append(pod)
    for pod in pods:
        if pod.workload_name != p.target.name and pod.name != p.target.name:
            return f"파드 `{pod.name}`은(는) 대상 `{p.target}`의 파드가 아님"
        if not app_containers(pod.containers):
            return f"파드 `{pod.name}`의 컨테이너 정보가 없음"
        other = non_burners(pod.containers)
        if other:
            return (f"파드 `{pod.name}`에 부하 생성기가 아닌 컨테이너({', '.join(other)})가 있습니다: 파드를 지우면 "
                    "애플리케이션도 멈추므로 삭제하지 않습니다 (사이드카는 템플릿에서 제거해야 함)")
    if p.target.kind == "Deployment" and p.params.get("deleteWorkload"):
        dep = next((d for d in bundle.cluster.deployments if d.name == p.target.name and d.namespace == ns), None)
        if dep is None or not dep.containers:
            return f"증거에 없는 Deployment: {p.target}"
        other = non_burners(dep.containers)
        if other:
            return f"Deployment `{dep.name}`의 템플릿에 부하 생성기가 아닌 컨테이너({', '.join(other)})가 있어 삭제하지 않음"
    elif not pods:
        return "삭제할 파드가 없음"
    measured = measured_cpu(bundle, ns or "", {p.target.name or "", *names}, {x.node for x in pods if x.node})
    floor = settings.remediation_burner_min_cpu_percent
    if measured is None:
        return ("이 워크로드(또는 그 노드)의 측정된 CPU 사용량이 증거에 없습니다: 이미지나 알람 이름만으로는 "
                "삭제하지 않습니다 (Container Insights 지표 필요)")
    if measured[0] < floor:
        return f"측정된 CPU 사용량 {measured[0]:.0f}% ({measured[1]})가 기준 {floor:g}% 미만: 부하 생성기로 보고 삭제하지 않음"
    return None


# ---- the decision -------------------------------------------------------------------------------
def target_in_evidence(p: RemediationProposal, bundle: EvidenceBundle) -> bool:
    """The target must be something the evidence actually shows as affected."""
    t = p.target
    if t.kind == "Deployment":
        return any(d.name == t.name and d.namespace == t.namespace for d in bundle.cluster.deployments)
    if t.kind == "Pod":
        return any(x.name == t.name and x.namespace == t.namespace for x in bundle.cluster.pods)
    return any(x.workload_name == t.name and x.namespace == t.namespace for x in bundle.cluster.pods)


def grounded(p: RemediationProposal, bundle: EvidenceBundle, settings: Settings) -> str | None:
    """Why the action's own evidence does not support it (Korean), or None when it does."""
    if p.action == "restore-replicas":
        return _check_replicas(p, bundle, settings)
    if p.action == "delete-cpu-burner":
        return _check_burner(p, bundle, settings)
    return None


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
    why_not = grounded(p, bundle, settings)
    if mode == "dry-run":
        return Decision("dry-run", "dry-run: 실행하지 않고 기록만 함" + (f" (실행했다면 거부됨: {why_not})" if why_not else ""),
                        refused=why_not)
    if why_not:
        return Decision("skip", why_not)
    if mode == "approve":
        return Decision("approve", "정책 통과: 사람의 승인 후 실행")
    return Decision("auto", "정책 통과")
