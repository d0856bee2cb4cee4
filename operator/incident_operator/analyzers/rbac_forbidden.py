"""A workload's service account denied by the API server (RBAC): `forbidden: User "system:serviceaccount:..."
cannot <verb> resource ...`, in its logs or in Events; with the RoleBindings that bind the account, the Roles
they name and the API server's answer now (kube/access.py, collected by the cluster collector), it says which
rule is missing: no RoleBinding at all, a binding to a Role that does not exist, a Role granting other verbs.

RBAC is never changed automatically: the actions are the exact Role/RoleBinding for a person to review.
Source: Kubernetes docs "Using RBAC Authorization" (Role, RoleBinding, kubectl create role / rolebinding,
kubectl auth can-i) and "Authorization" (SubjectAccessReview, LocalSubjectAccessReview)."""

from __future__ import annotations

import json
import shlex

from ..kube import access
from ..kube.access import FORBIDDEN, Refusal
from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle, RoleBindingEvidence, ServiceAccountAccessEvidence
from .base import Analyzer, event_item
from .logs import log_items, matching

__all__ = ["FORBIDDEN", "RbacForbiddenAnalyzer"]


def _access_for(bundle: EvidenceBundle, r: Refusal) -> ServiceAccountAccessEvidence | None:
    return next((a for a in bundle.cluster.service_accounts if access.evidence_key(a) == r.key), None)


def _what(r: Refusal) -> str:
    group = f" (API 그룹 `{r.group}`)" if r.group else ""
    where = f" (네임스페이스 `{r.namespace}`)" if r.namespace else " (클러스터 범위)"
    return f"`{r.resource}`{group} `{r.verb}`{where}"


def _role_name(r: Refusal) -> str:
    return f"{r.sa}-{r.base}-{r.verb}"[:63].rstrip("-.")


def _create_role(r: Refusal) -> list[str]:
    """The smallest grant that allows the refused request, for a person to review and apply. Every value is
    shell-quoted: names come from a log line or a tenant's RoleBinding, and the command is there to be copied."""
    q, name = shlex.quote, _role_name(r)
    names = f" --resource-name={q(r.name)}" if r.name and r.verb not in ("list", "watch", "create", "deletecollection") else ""
    what = f"--verb={q(r.verb)} --resource={q(access.kubectl_resource(r))}{names}"
    account = q(f"{r.sa_namespace}:{r.sa}")
    if r.namespace is None:
        return [f"`kubectl create clusterrole {q(name)} {what}`",
                f"`kubectl create clusterrolebinding {q(name)} --clusterrole={q(name)} --serviceaccount={account}`"]
    return [f"`kubectl create role {q(name)} -n {q(r.namespace)} {what}`",
            f"`kubectl create rolebinding {q(name)} -n {q(r.namespace)} --role={q(name)} --serviceaccount={account}`"]


def _add_rule(role: str, r: Refusal) -> str:
    rule: dict = {"apiGroups": [r.group], "resources": [r.resource], "verbs": [r.verb]}
    if r.name and r.verb not in ("list", "watch", "create"):
        rule["resourceNames"] = [r.name]
    patch = json.dumps([{"op": "add", "path": "/rules/-", "value": rule}], separators=(",", ":"))
    return f"`kubectl patch role {shlex.quote(role)} -n {shlex.quote(r.namespace or '')} --type=json -p {shlex.quote(patch)}`"


def _binding_text(b: RoleBindingEvidence, r: Refusal) -> str:
    if b.role_kind != "Role":
        return f"RoleBinding `{b.name}` → ClusterRole `{b.role_name}` ({b.subject}; ClusterRole의 규칙은 읽지 않음)"
    if b.role_found is False:
        return f"RoleBinding `{b.name}` → Role `{b.role_name}` (없음)"
    verbs = ", ".join(b.verbs) if b.verbs else "없음"
    return f"RoleBinding `{b.name}` → Role `{b.role_name}` ({b.subject}): `{r.resource}`에 허용된 동사 {verbs}"


def _review_text(a: ServiceAccountAccessEvidence) -> str:
    answer = "허용(allowed)" if a.allowed else "거부(denied)"
    return f"API 서버의 현재 판단 (LocalSubjectAccessReview): {answer}" + (f" — {a.review_reason}" if a.review_reason else "")


def _explain(a: ServiceAccountAccessEvidence | None, r: Refusal) -> tuple[str, float, list[str], list[EvidenceItem]]:
    """(finding, confidence, immediate actions, evidence) from what RBAC says about the refused account."""
    q = shlex.quote
    sa, check = f"{r.sa_namespace}/{r.sa}", (f"`kubectl auth can-i {q(r.verb)} {q(access.kubectl_resource(r))} "
                                             f"--as={q(r.user)}" + (f" -n {q(r.namespace)}`" if r.namespace else "`"))
    if r.namespace is None:
        return ("클러스터 범위 리소스라 Role/RoleBinding으로는 부여할 수 없음 (ClusterRole + ClusterRoleBinding 필요)", 0.9,
                [f"{check}로 확인", *_create_role(r), "클러스터 범위 권한은 관리자 검토 후 부여"], [])
    if a is None or a.read in ("out-of-scope", "cluster-scope"):
        return ("", 0.9, [f"{check}로 확인", *_create_role(r)], [])
    ref = f"ServiceAccount/{a.namespace}/{a.name}"
    evidence = [EvidenceItem(source="cluster", ref=ref, text=_binding_text(b, r)) for b in a.bindings[:3]]
    if a.allowed is not None:
        evidence.append(EvidenceItem(source="cluster", ref=ref, text=_review_text(a)))
    if a.allowed:
        return ("— 하지만 API 서버는 지금은 허용함 (그 사이 권한이 고쳐졌을 수 있음)", 0.5,
                [f"{check}로 다시 확인", "워크로드가 재시도 후 정상 동작하는지 로그 확인 (권한 캐시·재시작 필요 여부)"], evidence)
    confirmed = a.allowed is False
    if a.read == "failed" or (a.read == "partial" and not a.bindings):  # not all read: "none binds it" unknown
        return ("", 0.9, [f"{check}로 확인", *_create_role(r)], evidence)
    if not a.bindings:
        evidence.insert(0, EvidenceItem(source="cluster", ref=ref, text=(
            f"네임스페이스 `{r.namespace}`의 RoleBinding {a.role_bindings}개 중 `{sa}`를 바인딩하는 것이 없음")))
        return (f"— `{sa}`를 바인딩하는 RoleBinding이 없음", 0.95 if confirmed else 0.92,
                [*_create_role(r), f"적용 후 {check}로 확인"], evidence)
    roles = [b for b in a.bindings if b.role_kind == "Role"]
    missing = [b for b in roles if b.role_found is False]
    lacking = [b for b in roles if b.role_found and b.grants is False]
    if missing and not lacking:
        b = missing[0]
        return (f"— RoleBinding `{b.name}`이(가) 참조하는 Role `{b.role_name}`이(가) 없음", 0.95 if confirmed else 0.92,
                [f"Role `{b.role_name}`을(를) 복구하거나 새로 만들기: `kubectl create role {q(b.role_name)} -n {q(r.namespace or '')} "
                 f"--verb={q(r.verb)} --resource={q(access.kubectl_resource(r))}`", f"적용 후 {check}로 확인"], evidence)
    if lacking:
        b = lacking[0]
        has = f"{', '.join(b.verbs)}만 허용하고" if b.verbs else "아무 동사도 허용하지 않고"
        return (f"— Role `{b.role_name}`(RoleBinding `{b.name}`)은 `{r.resource}`에 {has} `{r.verb}`는 허용하지 않음",
                0.95 if confirmed else 0.92, [f"Role `{b.role_name}`에 규칙 추가: {_add_rule(b.role_name, r)}",
                                              f"적용 후 {check}로 확인"], evidence)
    if all(b.role_kind != "Role" for b in a.bindings):
        names = ", ".join(f"`{b.role_name}`" for b in a.bindings[:3])
        return (f"— ClusterRole {names}에 바인딩되어 있으나 그 권한에 없음", 0.93 if confirmed else 0.9,
                [f"공유 ClusterRole을 넓히지 말고 필요한 권한만 Role로: {_create_role(r)[0]}", *_create_role(r)[1:],
                 f"적용 후 {check}로 확인"], evidence)
    return ("", 0.9, [f"{check}로 확인", *_create_role(r)], evidence)


class RbacForbiddenAnalyzer(Analyzer):
    kind = "rbac-forbidden"
    title = "서비스 어카운트 권한 부족 (RBAC)"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        lines = matching(bundle, FORBIDDEN)
        events = [e for e in bundle.cluster.events if FORBIDDEN.search(e.message or "")]
        texts = [l.text for l in lines] + [e.message or "" for e in events]
        if not texts:
            return []
        r = access.parse(texts[0])
        evidence = log_items(list({l.text: l for l in lines}.values()), 2)  # a retried call repeats its line
        evidence += [event_item(e) for e in events[:2]]
        finding, confidence, actions, found = _explain(_access_for(bundle, r), r)
        return [Cause(
            kind=self.kind,
            title=f"`{r.user}`에 {_what(r)} 권한이 없어 요청이 거부됨 ({len(texts)}건)" + (f" {finding}" if finding else ""),
            confidence=confidence, resource=ResourceRef(kind="ServiceAccount", name=r.sa, namespace=r.sa_namespace),
            evidence=evidence + found, immediate_actions=actions,
            long_term=["워크로드별 권한을 매니페스트와 함께 관리 (RBAC는 자동으로 고치지 않음)",
                       "배포 전 RBAC 검증(kubectl auth can-i) 자동화"],
        )]
