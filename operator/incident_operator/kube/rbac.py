"""Per-namespace grants the admin applies: where Incidents live (evidence ConfigMaps) and where the
operator may repair (remediation). The ClusterRoles ship in manifests/; these bind them."""

from __future__ import annotations

from typing import Any

EVIDENCE_STORE_ROLE = "incident-operator-evidence-store"
REMEDIATION_ROLE = "incident-operator-remediation"


def role_bindings(namespaces: list[str], *, remediation: bool, incidents: bool = True,
                  service_account: str = "incident-operator", sa_namespace: str = "incident-operator",
                  protected: tuple[str, ...] = ("kube-system",)) -> list[dict[str, Any]]:
    refused = sorted(set(namespaces) & set(protected))
    if refused:
        raise ValueError(f"never granted in protected namespaces: {', '.join(refused)}")
    roles = ([EVIDENCE_STORE_ROLE] if incidents else []) + ([REMEDIATION_ROLE] if remediation else [])
    return [{
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": role, "namespace": ns, "labels": {"app.kubernetes.io/name": "incident-operator"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": sa_namespace}],
    } for ns in namespaces for role in roles]
