"""Phase 1: what kind of incident, which workloads, which time window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from kubernetes import client

from bridge_lambda.alarm import label_value, target_from_dimensions

from .. import grouping
from ..constants import LABEL_ALARM, LABEL_NODE, LABEL_PARENT, LABEL_WORKLOAD
from ..models.spec import Alarm, Target
from ..models.evidence import TimeWindow
from ..suspects import find as find_suspects
from ..tenancy import scoped_target
from .context import PhaseContext

INCIDENT_TYPES = {
    "pod_cpu_utilization": "pod-cpu-spike",
    "pod_cpu_utilization_over_pod_limit": "pod-cpu-spike",
    "pod_number_of_container_restarts": "pod-restarts",
    "node_cpu_utilization": "node-cpu-high",
    "pod_memory_utilization": "pod-memory-high",
    "node_memory_utilization": "node-memory-high",
}


def incident_type(alarm: Alarm | None) -> str:
    if alarm is None:
        return "manual"
    metric = (alarm.metric.name or "").lower()
    if metric in INCIDENT_TYPES:
        return INCIDENT_TYPES[metric]
    name = alarm.name.lower()
    for key, kind in (("restart", "pod-restarts"), ("node-cpu", "node-cpu-high"), ("cpu", "pod-cpu-spike")):
        if key in name:
            return kind
    return "generic"


def infer_target(spec_target: Target, alarm: Alarm | None) -> Target:
    """The spec's target, completed from the alarm's Container Insights dimensions."""
    derived = target_from_dimensions(alarm.dimensions if alarm else {})
    own = spec_target.model_dump(exclude_none=True)
    if own.get("kind") or own.get("pod"):  # the spec names the workload: keep it whole
        derived = {k: v for k, v in derived.items() if k not in ("kind", "name", "pod")}
    elif derived.get("kind") == "Node":  # decided below, from whichever node wins
        derived = {k: v for k, v in derived.items() if k not in ("kind", "name")}
    t = Target.model_validate({**derived, **own})
    if t.node and not t.kind and not t.pod:
        t.kind, t.name = "Node", t.node
    return t


def resolve_workloads(ctx: PhaseContext, t: Target) -> tuple[Target, list[dict[str, Any]]]:
    """If the pod name is really a workload name (Container Insights' PodName), say so."""
    affected: list[dict[str, Any]] = []
    if t.kind == "Service" and t.namespace and t.name:
        try:
            ctx.kube.core.read_namespaced_service(t.name, t.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            # no such Service: the dimension named the workload (Container Insights' Service is often its name)
            t = t.model_copy(update={"kind": None, "name": None, "pod": t.name})
    if t.pod and t.namespace and not t.kind:
        collector = ctx.cluster_collector()  # the collect phase's: a Deployment read here is not read again
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"):
            if collector.workload(kind, t.namespace, t.pod) is not None:
                t = t.model_copy(update={"kind": kind, "name": t.pod, "pod": None})
                break
    if t.kind and t.name:
        affected.append({"kind": t.kind, "namespace": t.namespace, "name": t.name})
    elif t.pod:
        affected.append({"kind": "Pod", "namespace": t.namespace, "name": t.pod})
    if t.node and t.kind != "Node":
        affected.append({"kind": "Node", "name": t.node})
    if not affected and t.namespace:
        affected.append({"kind": "Namespace", "name": t.namespace})
    return t, affected


def similarity_labels(alarm: Alarm | None, affected: list[dict[str, Any]]) -> dict[str, str]:
    """Labels the correlate phase selects similar Incidents by (same alarm, same workload)."""
    labels = {LABEL_ALARM: label_value(alarm.name)} if alarm else {}
    workload = next((a for a in affected if a.get("kind") not in ("Node", "Namespace")), None)
    if workload:
        labels[LABEL_WORKLOAD] = workload_label(workload)
    return labels


def workload_label(a: dict[str, Any]) -> str:
    return label_value(f"{a.get('kind')}.{a.get('namespace') or ''}.{a.get('name')}")


def run(ctx: PhaseContext) -> dict[str, Any]:
    spec = ctx.spec
    alarm = spec.alarm
    scope = ctx.deps.effective_scope()
    # a tenant's own namespace (for an Alertmanager alert naming one, that namespace: tenancy.scope_for_incident)
    target = scoped_target(scope.owner if scope.namespaces else ctx.namespace, infer_target(spec.target, alarm), scope)
    scope.check(target)  # before the first read: tenancy.Refused fails the Incident for good
    anchor, note = window_anchor(alarm, ctx.incident["metadata"].get("creationTimestamp"))
    width = timedelta(minutes=spec.options.window_minutes)
    suspects, searched = [], []
    if alarm is not None and not (target.pod or target.node or target.kind or target.name):
        # the alarm names no pod or node: find who it is about
        window = TimeWindow(start=anchor - width, end=anchor + width, anchor=anchor)
        own = next(iter(scope.namespaces), None) if scope.namespaces is not None else None
        found, searched = find_suspects(ctx.deps, alarm, target.cluster or ctx.settings.cluster_name, window,
                                        ctx.settings.max_suspects, own or target.namespace)
        suspects = [s for s in found if s.kind != "Node" or scope.nodes]
        if suspects:
            top = suspects[0]
            target = (target.model_copy(update={"kind": "Node", "name": top.name, "node": top.name}) if top.kind == "Node"
                      else target.model_copy(update={"namespace": top.namespace, "pod": top.name}))
            scope.check(target)
    target, affected = resolve_workloads(ctx, target)
    if suspects:
        affected[0]["reason"] = suspects[0].reason
        affected += [s.affected() for s in suspects[1:]]
    labels = similarity_labels(alarm, affected)
    workload, node = grouping.pod_home(ctx, target) if ctx.settings.group_window_seconds > 0 else (None, None)
    if workload:  # a single pod's alarm is about its workload: the same event as its siblings'
        affected.insert(1, workload)
        labels[LABEL_WORKLOAD] = workload_label(workload)
    node = node or (target.name if target.kind == "Node" else None)
    if node:
        labels[LABEL_NODE] = label_value(node)
    out = {
        "incidentType": incident_type(alarm),
        "target": target.model_dump(mode="json", by_alias=True, exclude_none=True),
        "affected": affected,
        "window": {"start": (anchor - width).isoformat(), "end": (anchor + width).isoformat(),
                   "anchor": anchor.isoformat()},
    }
    if note:
        out["window"]["note"] = note
    if suspects or searched:
        out["suspectSearch"] = {"suspects": len(suspects), "failed": searched or None}
    # one election at a time per namespace: whoever looks next sees every earlier decision (its labels)
    with grouping.election(ctx):
        parent = grouping.find_parent(ctx, labels)
        if parent:
            labels[LABEL_PARENT] = parent[0]  # the decision, visible to the next one in the same write
        if labels:
            ctx.set_labels(labels)
    if parent:
        raise grouping.Grouped(parent[0], parent[1], out)
    return out


MAX_ALARM_AGE = timedelta(days=366)
MAX_ALARM_LEAD = timedelta(days=1)


def window_anchor(alarm: Alarm | None, created: str | None) -> tuple[datetime, str | None]:
    """The time the window is centred on: the alarm's, unless it is absurd (year 0001 or 9999 would
    overflow the window); then the Incident's creation, with a note saying why."""
    now = datetime.now(timezone.utc)
    try:
        fallback = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else now
    except ValueError:
        fallback = now
    if fallback.tzinfo is None:
        fallback = fallback.replace(tzinfo=timezone.utc)
    t = alarm.timestamp if alarm else None
    if t is None:
        return fallback, None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    if not (now - MAX_ALARM_AGE <= t <= now + MAX_ALARM_LEAD):
        return fallback, f"알람 시각 {t.isoformat()}이(가) 범위를 벗어나 Incident 생성 시각을 기준으로 함"
    return t, None
