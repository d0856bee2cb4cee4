"""IncidentApprovals, RemediationPolicies and the admission policy that makes an approval's creator the API
server's word (the I/O side of remediation/approval.py)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from kubernetes import client

from ..constants import GROUP, LABEL_AWAITING_APPROVAL, PLURAL, VERSION
from ..remediation.approval import APPROVAL_POLICY, approval_name
from .client import Kube, is_not_found

APPROVALS = "incidentapprovals"
POLICIES = "remediationpolicies"
ADMISSION_CACHE_SECONDS = 30.0
_admission: dict[tuple[int, str], tuple[float, datetime | None]] = {}
_lock = threading.Lock()


def read_approval(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return kube.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, APPROVALS, name)
    except client.ApiException as exc:
        if is_not_found(exc):
            return None
        raise


PENDING_SCAN = 500  # Incidents per page of one count of pending plans
PENDING_PAGES = 20  # pages followed at most per namespace (or cluster-wide): 10,000 labelled Incidents
READ_TIMEOUT = 5  # seconds per page: a scrape never waits on a hung list for long


def pending_plans(kube: Kube, namespaces: list[str], scan: int = PENDING_SCAN, pages: int = PENDING_PAGES) -> int:
    """Plans awaiting a person's approval, as the API server has them: the Incidents labelled awaiting-approval
    (label-selected pages per watched namespace, or cluster-wide, following `continue`: a tenant's 500 labelled
    Incidents must not push real plans off a first page), counting only what their status says is awaiting — a
    label left behind, or one a tenant wrote on its own Incident, counts nothing."""
    selector = f"{LABEL_AWAITING_APPROVAL}=true"

    def listed(ns: str | None, token: str | None) -> dict:
        kw: dict[str, Any] = {"label_selector": selector, "limit": scan, "_request_timeout": READ_TIMEOUT}
        if token:
            kw["_continue"] = token
        return (kube.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, **kw) if ns else
                kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kw))
    count = 0
    for ns in namespaces or [None]:
        token = None
        for _ in range(pages):
            page = listed(ns, token)
            count += sum(1 for inc in page.get("items") or [] for a in (inc.get("status") or {}).get("actions") or []
                         if a.get("state") == "awaiting-approval")
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    return count


def namespace_policies(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """Every RemediationPolicy of a namespace (one page: a namespace has one or a few). None installed: []."""
    try:
        return kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, POLICIES, limit=50).get("items", [])
    except client.ApiException as exc:
        if is_not_found(exc):  # the CRD is not installed
            return []
        raise


def _parse(ts: Any) -> datetime | None:
    if isinstance(ts, datetime):
        return ts
    return datetime.fromisoformat(str(ts).replace("Z", "+00:00")) if ts else None


def admission_since(kube: Kube, name: str = APPROVAL_POLICY) -> datetime | None:
    """When the admission policy checking `spec.approvedBy == request.userInfo.username` (and its Deny binding)
    came into force, or None when it is not installed (approvals are then not trusted). Cached briefly."""
    key = (id(kube.core.api_client), name)
    with _lock:
        hit = _admission.get(key)
        if hit and time.monotonic() - hit[0] < ADMISSION_CACHE_SECONDS:
            return hit[1]
    api = client.AdmissionregistrationV1Api(kube.core.api_client)
    since: datetime | None = None
    try:
        policy = api.read_validating_admission_policy(name)
        binding = api.read_validating_admission_policy_binding(name)
        checks = " ".join(v.expression for v in policy.spec.validations or [])
        if ("request.userInfo.username" in checks and policy.spec.failure_policy == "Fail"
                and "Deny" in (binding.spec.validation_actions or []) and binding.spec.policy_name == name):
            since = max(_parse(policy.metadata.creation_timestamp), _parse(binding.metadata.creation_timestamp))
    except client.ApiException as exc:
        if exc.status not in (403, 404):
            raise
    with _lock:
        _admission[key] = (time.monotonic(), since)
    return since


def whoami(kube: Kube) -> str:
    """The caller's username as the API server authenticates it (SelfSubjectReview)."""
    review = client.AuthenticationV1Api(kube.core.api_client).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"))
    return review.status.user_info.username


def create_approval(kube: Kube, namespace: str, incident: dict[str, Any], plan: str, decision: str, by: str,
                    comment: str | None = None) -> dict[str, Any]:
    """The IncidentApproval for this plan, owned by the Incident (deleted with it)."""
    meta = incident["metadata"]
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "IncidentApproval",
            "metadata": {"name": approval_name(meta["name"], plan), "namespace": namespace,
                         "ownerReferences": [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "Incident", "name": meta["name"],
                                              "uid": meta["uid"]}]},
            "spec": {"incident": meta["name"], "plan": plan, "decision": decision, "approvedBy": by,
                     **({"comment": comment[:500]} if comment else {})}}
    return kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, APPROVALS, body)
