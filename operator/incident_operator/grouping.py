"""One Incident for one event: alarms on the same workload or the same node, close in time, are grouped.

The gather phase looks, by the labels of what an Incident is about (`netaiops.io/workload`, `netaiops.io/node`),
for another Incident of the same event in its namespace (created within `INCIDENT_GROUP_WINDOW_SECONDS` of it,
neither Failed nor Resolved: a resolved event is over). If there is one, this Incident is `Grouped` under the
earliest parent of the event (label `netaiops.io/parent`, `status.parent`) and stops there: no report, no
analysis of its own. A Grouped Incident found this way stands for its parent, which counts only while it is
itself neither Failed nor Resolved (its children keep the label after it finished). The parent lists its
children by that label when it diagnoses (`status.relatedIncidents`, named in the report). A storm over the
100 pods of one Deployment opens one issue, not 100; a node CPU alarm and the pod-restart alarms of pods on
that node are one Incident.

The elections of one namespace run one at a time in the operator (election()), and each writes its decision
— its labels, with its parent's name when it joins one — before the next one looks: every Incident of the
event a later one sees has decided, so a storm never elects two parents. Every lookup is one bounded LIST
per label: the cost does not grow with history. Known gap: a page holds 50 Incidents per label, so a
workload with more than 50 Incidents in the window may miss its parent.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kubernetes import client

from .constants import FAILED, LABEL_NODE, LABEL_PARENT, LABEL_WORKLOAD, RESOLVED
from .kube.client import is_not_found
from .models.spec import Target
from .tenancy import memory_namespace

if TYPE_CHECKING:
    from .phases.context import PhaseContext

SCAN = 50  # Incidents read per label: the newest event's siblings, not the history
MAX_RELATED = 100
GONE = "<deleted>"  # a parent that no longer exists


class Grouped(Exception):
    """This Incident is the same event as `parent` (an Incident in the same namespace)."""

    def __init__(self, parent: str, why: str, gathered: dict[str, Any]):
        super().__init__(f"{parent}: {why}")
        self.parent, self.why, self.gathered = parent, why, gathered


def pod_home(ctx: "PhaseContext", target: Target) -> tuple[dict[str, Any] | None, str | None]:
    """For a single-pod target: its owning workload (as an `affected` entry) and its node."""
    if not (target.pod and target.namespace) or target.kind:
        return None, None
    try:
        pod = ctx.kube.core.read_namespaced_pod(target.pod, target.namespace)
    except client.ApiException:
        return None, None  # a pod name that is really a prefix, or a pod gone already: nothing to group by
    # the collect phase's collector: the ReplicaSet read to name the owner is not read again there
    kind, name, _, _ = ctx.cluster_collector()._workload_of(pod)
    workload = {"kind": kind, "namespace": target.namespace, "name": name} if kind and name else None
    return workload, pod.spec.node_name if pod.spec else None


def _created(item: dict[str, Any]) -> datetime:
    value = (item.get("metadata") or {}).get("creationTimestamp") or "1970-01-01T00:00:00Z"
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def find_parent(ctx: "PhaseContext", labels: dict[str, str]) -> tuple[str, str] | None:
    """The Incident of the same event this one joins, with why; None if this one is (or becomes) the parent.

    Called under election(): the namespace's elections run one at a time and each writes its decision (its
    labels, with the parent's name if it joined one) before the next one looks, so every Incident of the
    event seen here is a parent or names one; the earliest parent (creation time, then name) is joined."""
    window = ctx.settings.group_window_seconds
    keys = [k for k in (LABEL_WORKLOAD, LABEL_NODE) if labels.get(k)]
    if window <= 0 or not keys:
        return None
    me = ctx.incident["metadata"]
    mine = (_created(ctx.incident), me["name"])
    parents: list[tuple[tuple[datetime, str], str, str]] = []  # (created, name) of a parent, its name, why
    via_child: list[tuple[tuple[datetime, str], str, str]] = []  # parents named by a Grouped sibling's label
    phases: dict[str, Any] = {}  # every Incident listed, by name: its phase
    for key in keys:
        why = "같은 워크로드" if key == LABEL_WORKLOAD else "같은 노드"
        selector = f"{key}={labels[key]}"
        if key == LABEL_WORKLOAD:  # the page correlate's similar-incident lookup reads too (the value names the
            # namespace, so a cluster-wide page holds only this namespace's): read it once for both
            where = memory_namespace(ctx.namespace, ctx.settings)
            if selector not in ctx.similar_lists:
                ctx.similar_lists[selector] = ctx.store.list(where, selector, limit=SCAN)
            listed = ctx.similar_lists[selector]
        else:
            listed = ctx.store.list(ctx.namespace, selector, limit=SCAN)
        for other in listed:
            if (other.get("metadata") or {}).get("namespace") != ctx.namespace:
                continue
            meta = other.get("metadata") or {}
            status = other.get("status") or {}
            phases[meta.get("name")] = status.get("phase")
            if meta.get("name") == me["name"] or status.get("phase") in (FAILED, RESOLVED):
                continue  # a Resolved event is over: a new alarm after it is a new event
            when = (_created(other), meta["name"])
            if abs((mine[0] - when[0]).total_seconds()) > window:
                continue
            parent = (meta.get("labels") or {}).get(LABEL_PARENT)
            if parent:
                if parent != me["name"]:
                    via_child.append((when, parent, why))  # its siblings are grouped there
                continue
            # elections run one at a time, each labelled with its decision before the next looks: one seen
            # here without a parent label is a parent, whether still gathering or not, earlier or later
            parents.append((when, meta["name"], why))
    parents += [c for c in via_child if _open(ctx, c[1], phases)]
    if parents:
        _, name, why = min(parents)
        return name, why
    return None


def election(ctx: "PhaseContext") -> threading.Lock:
    """The lock of this namespace's parent election in this operator (one active replica: Kopf peering).
    Held for one page read and one label write."""
    locks = ctx.deps.client(ELECTIONS, dict) if ctx.deps else {}  # made at start-up (handlers.configure)
    return locks.setdefault(ctx.namespace, threading.Lock())  # setdefault: one lock, whoever asks first


ELECTIONS = "grouping-elections"


def _open(ctx: "PhaseContext", name: str, phases: dict[str, Any]) -> bool:
    """Whether the parent a Grouped Incident names is an event still going on: neither Failed nor Resolved
    (a finished parent keeps its children's labels pointing at it), and not deleted."""
    if name not in phases:
        try:
            phases[name] = ((ctx.store.get(ctx.namespace, name) or {}).get("status") or {}).get("phase")
        except client.ApiException as exc:
            if not is_not_found(exc):
                raise
            phases[name] = GONE
    return phases[name] not in (FAILED, RESOLVED, GONE)


def children(ctx: "PhaseContext") -> list[str]:
    """Incidents grouped under this one (namespace/name), oldest first; bounded."""
    items = ctx.store.list(ctx.namespace, f"{LABEL_PARENT}={ctx.name}", limit=MAX_RELATED)
    items.sort(key=_created)
    return [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in items]
