"""Where an Incident may read and act: its own namespace, unless it lives in an incident namespace.

A user who may create Incidents in namespace A must not make the operator read or change anything
outside A (a confused deputy). Incidents in the operator's incident namespaces (`INCIDENT_INCIDENT_NAMESPACES`,
where the bridge writes; only admins may create Incidents there, by RBAC) may target any namespace
that is not protected, and Nodes. Everything else is refused before the first read.

The same `Scope` bounds the collector, the tools the model or an MCP client calls, and remediation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from .models.spec import Target
from .settings import Settings


class Refused(Exception):
    """A permanent refusal: the Incident asks for something its namespace does not allow."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule  # CamelCase, used as the condition's reason
        self.message = message


@dataclass(frozen=True)
class Scope:
    namespaces: frozenset[str] | None  # None: every namespace that is not protected
    nodes: bool  # may read Nodes (and so pods of every namespace on a node)
    protected: frozenset[str] = frozenset({"kube-system"})
    owner: str | None = None  # the Incident namespace this scope belongs to, for messages
    read_protected: bool = False  # INCIDENT_READ_PROTECTED_NAMESPACES: read (never act) in protected namespaces
    acts: bool = True  # may remediate at all (an Alertmanager alert naming no namespace: only when trusted)

    def allows_namespace(self, namespace: str | None) -> bool:
        if not namespace:
            return self.namespaces is None
        if self.namespaces is not None:
            return namespace in self.namespaces
        return namespace not in self.protected

    def may_read(self, namespace: str | None) -> bool:
        """Evidence may be read here: within the scope, and never in a protected namespace (kube-system: a Node's
        pods there, their logs, its Events) unless INCIDENT_READ_PROTECTED_NAMESPACES allows reading (never acting)."""
        if namespace and namespace in self.protected and not self.read_protected:
            return False
        return self.namespaces is None or namespace in self.namespaces

    def require_namespace(self, namespace: str | None, what: str = "데이터") -> None:
        """For tools: reading `namespace`'s data (metrics, logs) must be within the scope."""
        if namespace and namespace in self.protected and not self.read_protected:
            raise Refused("ProtectedNamespace", f"보호된 네임스페이스 `{namespace}`의 {what}는 읽지 않습니다 "
                                                "(INCIDENT_READ_PROTECTED_NAMESPACES=true로 허용)")
        if not self.may_read(namespace):
            raise Refused("CrossNamespaceTarget",
                          f"네임스페이스 `{self.owner}`의 범위에서는 다른 네임스페이스 `{namespace}`의 {what}를 읽을 수 없습니다")

    def require_cluster_wide(self, what: str) -> None:
        """For tools whose answer spans namespaces (node or cluster metrics)."""
        if not self.nodes:
            raise Refused("NodeTargetNotAllowed",
                          f"네임스페이스 `{self.owner}`의 범위에서는 {what}(여러 네임스페이스에 걸친 데이터)를 읽을 수 없습니다")

    def require_tag_scope(self, text: str | None, tag: str = "kube_namespace") -> None:
        """For queries in a vendor's language (Datadog): a tenant's must pin its own namespace tag, and only it."""
        if self.namespaces is None:
            return
        named = set(re.findall(rf"{tag}:([A-Za-z0-9._-]+)", text or ""))
        if not named or not named <= self.namespaces:
            raise Refused("CrossNamespaceTarget",
                          f"네임스페이스 `{self.owner}`의 범위에서는 `{tag}:{self.owner}`로 한정한 조회만 허용됩니다")

    def check(self, target: Target) -> None:
        """Raise Refused unless this scope may look at `target`."""
        is_node = target.kind == "Node" or (target.node and not target.namespace and not target.pod)
        if is_node and not self.nodes:
            raise Refused("NodeTargetNotAllowed",
                          f"네임스페이스 `{self.owner}`의 Incident는 노드(`{target.node or target.name}`)를 대상으로 할 수 없습니다. "
                          "노드 인시던트는 운영자의 인시던트 네임스페이스에서만 만들 수 있습니다")
        if target.namespace and not self.allows_namespace(target.namespace):
            if self.namespaces is not None:
                raise Refused("CrossNamespaceTarget",
                              f"네임스페이스 `{self.owner}`의 Incident는 다른 네임스페이스 `{target.namespace}`의 대상을 "
                              "읽거나 조치할 수 없습니다 (자기 네임스페이스만 허용)")
            raise Refused("ProtectedNamespace",
                          f"보호된 네임스페이스 `{target.namespace}`는 대상으로 할 수 없습니다")
        if not target.namespace and not is_node and self.namespaces is not None:
            raise Refused("CrossNamespaceTarget", "대상 네임스페이스가 없습니다")


def is_incident_namespace(namespace: str, settings: Settings) -> bool:
    """Entries of INCIDENT_INCIDENT_NAMESPACES are names or shell patterns (`ops-*`)."""
    return any(fnmatchcase(namespace, pattern) for pattern in settings.incident_namespaces)


def memory_namespace(incident_namespace: str, settings: Settings) -> str | None:
    """Where an Incident's memory of past Incidents (similar incidents, grouping) may look: its own namespace,
    or every namespace for an Incident in an incident namespace (admins' and the bridge's) when the operator
    watches all. A tenant never learns of another tenant's Incidents through its own status, report or prompt."""
    if settings.namespaces or not is_incident_namespace(incident_namespace, settings):
        return incident_namespace
    return None


def scope_for(incident_namespace: str, settings: Settings) -> Scope:
    protected, read = frozenset(settings.protected_namespaces), settings.read_protected_namespaces
    if is_incident_namespace(incident_namespace, settings):
        return Scope(namespaces=None, nodes=True, protected=protected, owner=incident_namespace, read_protected=read)
    return Scope(namespaces=frozenset({incident_namespace}), nodes=False, protected=protected, owner=incident_namespace,
                 read_protected=read)


ALERTMANAGER_METRIC_NAMESPACE = "Prometheus/Alertmanager"  # what the webhook writes as spec.alarm.metric.namespace
WEBHOOK_CREATOR = "incident-webhook"  # the webhook's app.kubernetes.io/created-by


def alert_origin(incident: dict) -> tuple[bool, str | None]:
    """Whether an Incident was made from an Alertmanager alert (by the webhook), and the alert's `namespace` label.

    Alert labels come from rules a tenant may write (a PrometheusRule in her namespace): they are tenant input.
    With prometheus-operator's `enforcedNamespaceLabel`, every alert of a tenant's rule carries her namespace."""
    spec = incident.get("spec") or {}
    alarm = spec.get("alarm") or {}
    labels = (incident.get("metadata") or {}).get("labels") or {}
    from_webhook = ((alarm.get("metric") or {}).get("namespace") == ALERTMANAGER_METRIC_NAMESPACE
                    or labels.get("app.kubernetes.io/created-by") == WEBHOOK_CREATOR)
    if not from_webhook:
        return False, None
    value = (alarm.get("dimensions") or {}).get("namespace")
    return True, (value if isinstance(value, str) and value else None)


def scope_for_incident(incident: dict, settings: Settings) -> Scope:
    """An Incident's scope: its namespace's (scope_for), narrowed in an incident namespace for an Alertmanager alert.

    An alert naming a namespace is that namespace's tenant speaking (its `node` label too): it reads and acts only
    there, never on a Node, exactly like a tenant's own Incident. An alert naming none may read cluster-wide (a node's
    pods) but acts only when the admin says alerts without a namespace come from admins' rules alone
    (INCIDENT_WEBHOOK_TRUST_CLUSTER_ALERTS: every tenant rule carries an enforced namespace label)."""
    own = incident["metadata"]["namespace"]
    scope = scope_for(own, settings)
    if scope.namespaces is not None:
        return scope
    is_alert, tenant = alert_origin(incident)
    if not is_alert:
        return scope
    if tenant is None:
        return scope if settings.webhook_trust_cluster_alerts else replace(scope, acts=False)
    if tenant in scope.protected:  # an alert cannot lend a protected namespace to anyone
        return Scope(namespaces=frozenset(), nodes=False, protected=scope.protected, owner=tenant,
                     read_protected=scope.read_protected)
    return Scope(namespaces=frozenset({tenant}), nodes=False, protected=scope.protected, owner=tenant,
                 read_protected=scope.read_protected)


def tool_scope(settings: Settings) -> Scope:
    """For callers that are not an Incident (the MCP server): the watched namespaces, or all unprotected."""
    protected, read = frozenset(settings.protected_namespaces), settings.read_protected_namespaces
    if settings.namespaces:
        return Scope(namespaces=frozenset(settings.namespaces), nodes=False, protected=protected,
                     owner=",".join(settings.namespaces), read_protected=read)
    return Scope(namespaces=None, nodes=True, protected=protected, owner="*", read_protected=read)


def scoped_target(incident_namespace: str, target: Target, scope: Scope) -> Target:
    """A tenant Incident that names no namespace means its own."""
    if scope.namespaces is not None and not target.namespace and target.kind != "Node" and not target.node:
        return target.model_copy(update={"namespace": incident_namespace})
    return target
