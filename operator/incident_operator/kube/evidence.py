"""Cluster evidence straight from the Kubernetes API: pods, events, rollout history, nodes, logs."""

from __future__ import annotations

import re

import json
import logging
from datetime import datetime, timezone
from typing import Any, Iterable

from kubernetes import client

from ..models.evidence import (
    ClusterEvidence, Condition, ContainerEvidence, ContainerPort, DependencyEvidence, DeploymentEvidence, EventEvidence,
    FieldWriter, NodeEvidence, HpaEvidence, IngressEvidence, JobEvidence, LimitRangeEvidence, NetworkPolicyEvidence,
    PersistentVolumeEvidence, PodEvidence, PvcEvidence, QuotaEvidence, Resources, RevisionEvidence, RoleBindingEvidence,
    ServiceAccountAccessEvidence, ServiceEvidence, ServicePort,
)
from . import access
from .dependencies import MAX_DEPENDENCIES, references
from ..constants import KIND
from ..models.spec import Target
from .cache import TtlCache
from .client import Kube, is_not_found

log = logging.getLogger(__name__)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# The only annotations collected: arbitrary ones (kubectl's last-applied-configuration above all)
# can hold whole manifests with literal secrets.
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
PREVIOUS_REPLICAS_ANNOTATION = "netaiops.io/previous-replicas"
MAINTENANCE_ANNOTATION = "netaiops.io/maintenance"
ROLE_BINDINGS_READ = 500  # one page of a namespace's RoleBindings; more: the read is partial
ANNOTATIONS_KEPT = (REVISION_ANNOTATION, PREVIOUS_REPLICAS_ANNOTATION, "kubernetes.io/change-cause", MAINTENANCE_ANNOTATION)
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _conditions(items: Iterable | None) -> list[Condition]:
    return [Condition(type=c.type, status=c.status, reason=getattr(c, "reason", None),
                      message=getattr(c, "message", None),
                      last_transition_time=getattr(c, "last_transition_time", None))
            for c in items or []]


def _resources(spec: dict | None) -> Resources:
    spec = spec or {}
    return Resources(cpu=spec.get("cpu"), memory=spec.get("memory"), pods=spec.get("pods"),
                     ephemeral_storage=spec.get("ephemeral-storage"))


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def container_from_spec(c: client.V1Container) -> ContainerEvidence:
    res = c.resources or client.V1ResourceRequirements()
    env_from, env_names = [], []
    for ef in c.env_from or []:
        if ef.config_map_ref:
            env_from.append(f"ConfigMap/{ef.config_map_ref.name}")
        if ef.secret_ref:
            env_from.append(f"Secret/{ef.secret_ref.name}")
    for e in c.env or []:
        env_names.append(e.name)  # the name only: a literal value is never read
        src = e.value_from
        if src and src.config_map_key_ref:
            env_from.append(f"ConfigMap/{src.config_map_key_ref.name}")
        if src and src.secret_key_ref:
            env_from.append(f"Secret/{src.secret_key_ref.name}")
    return ContainerEvidence(
        name=c.name, image=c.image or "", command=list(c.command or []), args=list(c.args or []),
        requests=_resources(res.requests), limits=_resources(res.limits),
        has_liveness_probe=c.liveness_probe is not None,
        has_readiness_probe=c.readiness_probe is not None,
        env_from=sorted(set(env_from)), env=env_names[:50],
        ports=[ContainerPort(port=p.container_port, name=p.name, protocol=p.protocol or "TCP")
               for p in (c.ports or [])[:20] if p.container_port],
    )


def _apply_status(ev: ContainerEvidence, st: client.V1ContainerStatus) -> None:
    ev.ready = bool(st.ready)
    ev.started = st.started
    ev.restart_count = st.restart_count or 0
    state = st.state
    if state and state.waiting:
        ev.state, ev.state_reason, ev.state_message = "waiting", state.waiting.reason, state.waiting.message
    elif state and state.running:
        ev.state = "running"
    elif state and state.terminated:
        t = state.terminated
        ev.state, ev.state_reason, ev.state_message = "terminated", t.reason, t.message
        ev.last_exit_code = t.exit_code
        ev.termination_message = (t.message or None) and t.message[:1000]
    last = st.last_state.terminated if st.last_state else None
    if last:
        ev.last_termination_reason = last.reason
        ev.last_exit_code = last.exit_code
        ev.last_terminated_at = last.finished_at
        if last.message:
            ev.termination_message = last.message[:1000]


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def field_writers(managed_fields: list | None, annotations: Iterable[str]) -> tuple[FieldWriter | None, dict[str, FieldWriter]]:
    """From metadata.managedFields (what the API server itself recorded): the manager that last set spec.replicas,
    and the one that last wrote each of `annotations`. Where several own a field (server-side apply), the latest."""
    replicas: FieldWriter | None = None
    writers: dict[str, FieldWriter] = {}

    def later(old: FieldWriter | None, new: FieldWriter) -> FieldWriter:
        return new if old is None or (new.time or _EPOCH) >= (old.time or _EPOCH) else old

    for e in managed_fields or []:
        fields = getattr(e, "fields_v1", None) if not isinstance(e, dict) else e.get("fieldsV1")
        get = (lambda k: e.get(k)) if isinstance(e, dict) else (lambda k: getattr(e, k, None))
        if not isinstance(fields, dict) or not get("manager"):
            continue
        w = FieldWriter(manager=str(get("manager"))[:128], operation=get("operation"), subresource=get("subresource") or None,
                        time=get("time"))
        if "f:replicas" in (fields.get("f:spec") or {}):
            replicas = later(replicas, w)
        owned = (fields.get("f:metadata") or {}).get("f:annotations") or {}
        for key in annotations:
            if f"f:{key}" in owned:
                writers[key] = later(writers.get(key), w)
    return replicas, writers


def declared_replicas(last_applied: str | None) -> int | None:
    """spec.replicas of kubectl's last-applied-configuration (the owner's declared count); nothing else is read."""
    if not last_applied:
        return None
    try:
        value = (json.loads(last_applied).get("spec") or {}).get("replicas")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _selects_any(selector: dict[str, str], pods: list[PodEvidence]) -> bool:
    """Whether a label selector (matchLabels) picks at least one of the pods."""
    return any(all(p.labels.get(k) == v for k, v in selector.items()) for p in pods)


def label_selector_matches(selector: client.V1LabelSelector | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions: In, NotIn, Exists, DoesNotExist) picks an
    object with these labels; an empty (or absent) selector picks every one."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for e in selector.match_expressions or []:
        has, values = e.key in labels, e.values or []
        ok = {"In": has and labels.get(e.key) in values, "NotIn": not has or labels.get(e.key) not in values,
              "Exists": has, "DoesNotExist": not has}.get(e.operator, False)  # an unknown operator selects nothing
        if not ok:
            return False
    return True


def _port_allows_dns(port: client.V1NetworkPolicyPort) -> bool:
    """A NetworkPolicy port that opens 53 (or the named ports dns, dns-tcp of CoreDNS); no port number: every port of the protocol."""
    if port.port is None:
        return True
    if str(port.port) in ("53", "dns", "dns-tcp"):
        return True
    return isinstance(port.port, int) and port.end_port is not None and port.port <= 53 <= port.end_port


def _egress_allows_dns(rule: client.V1NetworkPolicyEgressRule) -> bool:
    """Whether an egress rule lets the pods reach the cluster DNS: every port (no `ports`) or port 53, to every
    destination (no `to`) or to peers that may hold the DNS server — another namespace (a namespaceSelector,
    kube-system's not checked further) or an ipBlock. A peer with only a podSelector is this namespace's pods."""
    ports = not rule.ports or any(_port_allows_dns(p) for p in rule.ports)
    peers = not rule.to or any(peer.namespace_selector is not None or peer.ip_block is not None for peer in rule.to)
    return ports and peers


MAX_TEXT_PER_VALUE = 16 * 1024


def service_ports(svc: client.V1Service) -> list[ServicePort]:
    return [ServicePort(port=p.port, target_port=str(p.target_port) if p.target_port is not None else None,
                        name=p.name, protocol=p.protocol or "TCP") for p in ((svc.spec.ports if svc.spec else None) or [])[:20]]


def pod_ports(pods: list[client.V1Pod]) -> list[ContainerPort]:
    """The containerPorts the pods declare (first few pods; a template's pods declare the same)."""
    out: dict[tuple, ContainerPort] = {}
    for p in pods[:5]:
        for c in (p.spec.containers if p.spec else None) or []:
            for port in c.ports or []:
                if port.container_port:
                    out.setdefault((port.container_port, port.name, port.protocol or "TCP"), ContainerPort(
                        port=port.container_port, name=port.name, protocol=port.protocol or "TCP"))
    return list(out.values())[:20]


def _node_affinity(pv: client.V1PersistentVolume) -> str | None:
    req = pv.spec.node_affinity.required if pv.spec.node_affinity else None
    terms = []
    for t in (req.node_selector_terms if req else None) or []:
        terms.append(" && ".join(f"{e.key} {e.operator} {','.join(e.values or [])}".strip() for e in t.match_expressions or []))
    return " || ".join(terms)[:300] or None


def volume_evidence(pv: client.V1PersistentVolume, claim_uid: str | None = None) -> PersistentVolumeEvidence:
    ref = pv.spec.claim_ref
    return PersistentVolumeEvidence(
        name=pv.metadata.name, phase=pv.status.phase if pv.status else None,
        claim_ref=f"{ref.namespace}/{ref.name}" if ref else None,
        claim_ref_current=(ref.uid == claim_uid) if ref is not None and ref.uid and claim_uid else None,
        reclaim_policy=pv.spec.persistent_volume_reclaim_policy, storage_class=pv.spec.storage_class_name,
        capacity=str((pv.spec.capacity or {}).get("storage") or "") or None, access_modes=list(pv.spec.access_modes or []),
        node_affinity=_node_affinity(pv), message=((pv.status.message if pv.status else None) or None))


NO_LOGS = re.compile(r"^unable to retrieve container logs for \S+\s*$")


class ClusterCollector:
    """Reads one target's evidence from the API. Every read is bounded by the settings."""

    def __init__(self, kube: Kube, *, max_pods: int = 30, max_events: int = 100, log_tail_lines: int = 50,
                 scope=None, cache: TtlCache | None = None):
        self.kube = kube
        self.cache = cache or TtlCache(0)  # slow-changing configuration, shared across Incidents (kube/cache.py)
        self.scope = scope  # tenancy.Scope; None: unbounded (tests of the collector alone)
        self.max_pods = max_pods
        self.max_events = max_events
        self.log_tail_lines = log_tail_lines
        self._rs_owner_cache: dict[tuple[str, str], str | None] = {}
        self._deployments: dict[tuple[str, str], Any] = {}  # read once per collection
        self._workload_lists: dict[tuple[str, str], list] = {}  # a namespace's Deployments/StatefulSets, for dependencies

    # ---- pods -------------------------------------------------------------------------------
    def target_pods(self, target: Target) -> list[client.V1Pod]:
        core, ns = self.kube.core, target.namespace
        if target.pod and ns:
            try:
                return [core.read_namespaced_pod(target.pod, ns)]
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
                # Container Insights' PodName is often the workload prefix, not the pod's own name
                pods = core.list_namespaced_pod(ns).items
                return [p for p in pods if p.metadata.name.startswith(target.pod + "-")]
        if target.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") and ns and target.name:
            selector = self._workload_selector(target.kind, ns, target.name)
            if selector is None:
                return []
            return core.list_namespaced_pod(ns, label_selector=selector).items
        if target.kind == "Job" and ns and target.name:
            return core.list_namespaced_pod(ns, label_selector=f"job-name={target.name}").items
        if target.kind == "CronJob" and ns and target.name:
            jobs = self.cronjob_jobs(ns, target.name)
            return core.list_namespaced_pod(ns, label_selector=f"job-name in ({','.join(jobs)})").items if jobs else []
        if target.kind == "Service" and ns and target.name:
            try:
                svc = core.read_namespaced_service(target.name, ns)
            except client.ApiException as exc:
                if is_not_found(exc):
                    return []
                raise
            sel = (svc.spec.selector or {}) if svc.spec else {}
            return core.list_namespaced_pod(ns, label_selector=_selector(sel)).items if sel else []
        if target.kind == "PersistentVolumeClaim" and ns and target.name:
            return [p for p in core.list_namespaced_pod(ns, limit=500).items
                    if any(v.persistent_volume_claim and v.persistent_volume_claim.claim_name == target.name
                           for v in p.spec.volumes or [])]
        if target.kind == "Pod" and ns and target.name:
            return self.target_pods(Target(namespace=ns, pod=target.name))
        if target.node or target.kind == "Node":
            node = target.node or target.name
            sel = f"spec.nodeName={node}"
            if ns:
                return core.list_namespaced_pod(ns, field_selector=sel).items
            return core.list_pod_for_all_namespaces(field_selector=sel).items
        if ns:
            return core.list_namespaced_pod(ns).items
        return []

    def workload(self, kind: str, ns: str, name: str) -> Any | None:
        """The workload object, or None when there is none; a Deployment is kept for this collection (the gather
        phase's look-up, target_pods and deployment() read it once between them)."""
        if kind == "Deployment" and (ns, name) in self._deployments:
            return self._deployments[(ns, name)]
        read = {
            "Deployment": self.kube.apps.read_namespaced_deployment,
            "StatefulSet": self.kube.apps.read_namespaced_stateful_set,
            "DaemonSet": self.kube.apps.read_namespaced_daemon_set,
            "ReplicaSet": self.kube.apps.read_namespaced_replica_set,
            "CronJob": self.kube.batch.read_namespaced_cron_job,
            "Job": self.kube.batch.read_namespaced_job,
        }[kind]
        try:
            obj = read(name, ns)
        except client.ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        if kind == "Deployment":
            self._deployments[(ns, name)] = obj
        return obj

    def _workload_selector(self, kind: str, ns: str, name: str) -> str | None:
        obj = self.workload(kind, ns, name)
        if obj is None:
            return None
        labels = (obj.spec.selector.match_labels or {}) if obj.spec.selector else {}
        return _selector(labels) or None

    def cronjob_jobs(self, namespace: str, cronjob: str) -> list[str]:
        """The newest Jobs a CronJob made (by owner), newest first."""
        jobs = [j for j in self.kube.batch.list_namespaced_job(namespace, limit=200).items
                if any(o.kind == "CronJob" and o.name == cronjob for o in j.metadata.owner_references or [])]
        jobs.sort(key=lambda j: j.metadata.creation_timestamp, reverse=True)
        return [j.metadata.name for j in jobs[:5]]

    def _workload_of(self, pod: client.V1Pod) -> tuple[str | None, str | None, str | None, str | None]:
        owners = pod.metadata.owner_references or []
        ctrl = next((o for o in owners if o.controller), owners[0] if owners else None)
        if ctrl is None:
            return None, None, None, None
        if ctrl.kind != "ReplicaSet":
            return ctrl.kind, ctrl.name, ctrl.kind, ctrl.name
        key = (pod.metadata.namespace, ctrl.name)
        if key not in self._rs_owner_cache:
            try:
                rs = self.kube.apps.read_namespaced_replica_set(ctrl.name, pod.metadata.namespace)
                rs_owner = next((o for o in rs.metadata.owner_references or [] if o.kind == "Deployment"), None)
                self._rs_owner_cache[key] = rs_owner.name if rs_owner else None
            except client.ApiException:
                self._rs_owner_cache[key] = None
        dep = self._rs_owner_cache[key]
        return ctrl.kind, ctrl.name, ("Deployment" if dep else "ReplicaSet"), (dep or ctrl.name)

    def pod_evidence(self, pod: client.V1Pod, with_logs: bool) -> PodEvidence:
        meta, spec, status = pod.metadata, pod.spec, pod.status or client.V1PodStatus()
        inits = {c.name: container_from_spec(c).model_copy(update={"init": True}) for c in spec.init_containers or []}
        for st in status.init_container_statuses or []:
            if st.name in inits:
                _apply_status(inits[st.name], st)
        containers = {c.name: container_from_spec(c) for c in spec.containers}
        for st in status.container_statuses or []:
            if st.name in containers:
                _apply_status(containers[st.name], st)
        owner_kind, owner_name, wl_kind, wl_name = self._workload_of(pod)
        ev = PodEvidence(
            name=meta.name, namespace=meta.namespace, node=spec.node_name, phase=status.phase,
            owner_kind=owner_kind, owner_name=owner_name, workload_kind=wl_kind, workload_name=wl_name,
            labels=dict(meta.labels or {}), created_at=meta.creation_timestamp,
            containers=list(inits.values()) + list(containers.values()), conditions=_conditions(status.conditions),
            reason=status.reason, message=(status.message or None) and status.message[:1000],
            claims=sorted({v.persistent_volume_claim.claim_name for v in spec.volumes or [] if v.persistent_volume_claim}),
        )
        if with_logs and self.log_tail_lines and spec.node_name:
            ev.log_tail = self._log_tail(pod)
        return ev

    def _log_tail(self, pod: client.V1Pod) -> str | None:
        """Logs come from the kubelet; fake or unreachable nodes simply have none."""
        # the container that is failing (an init container stuck restarting first), else the first app container
        inits = (pod.status.init_container_statuses or []) if pod.status else []
        apps = (pod.status.container_statuses or []) if pod.status else []
        failing = next((s for s in list(inits) + list(apps) if (s.restart_count or 0) > 0 and not s.ready
                        and not (s.state and s.state.terminated and s.state.terminated.exit_code == 0)), None)
        name = failing.name if failing else pod.spec.containers[0].name
        previous = failing is not None or any((s.restart_count or 0) > 0 for s in apps if s.name == name)
        for prev in ((True, False) if previous else (False,)):
            try:
                # raw bytes, decoded here: the typed client hands back str(bytes) ("b'...\\n...'") for
                # real container logs, one line with escaped newlines
                resp = self.kube.core.read_namespaced_pod_log(
                    pod.metadata.name, pod.metadata.namespace, container=name,
                    tail_lines=self.log_tail_lines, previous=prev, limit_bytes=64 * 1024, _request_timeout=5,
                    _preload_content=False)
                text = resp.data.decode("utf-8", errors="replace")
                if NO_LOGS.match(text):  # the kubelet's answer, with 200, when that container's log file is gone
                    continue
                if text:
                    return text[-8000:]
            except Exception as exc:  # noqa: BLE001 - logs are best effort
                log.debug("no logs for %s/%s: %s", pod.metadata.namespace, pod.metadata.name, exc)
        return None

    @staticmethod
    def _unhealthy_first(pods: list[client.V1Pod]) -> list[client.V1Pod]:
        def score(p: client.V1Pod) -> tuple:
            sts = (p.status.container_statuses or []) if p.status else []
            ready = all(s.ready for s in sts) and bool(sts)
            restarts = sum(s.restart_count or 0 for s in sts)
            return (ready, -restarts, p.metadata.name)
        return sorted(pods, key=score)

    # ---- the rest ---------------------------------------------------------------------------
    def events(self, namespace: str | None, names: set[str] | None = None) -> list[EventEvidence]:
        """The Events about `names` (all, without names), newest first, at most `max_events`.

        The operator's own Events on Incidents are left out by the API server (field selector): a namespace
        that has seen many Incidents must not make every later collection read them all. The list is read
        as plain JSON (the typed client's per-field date parsing costs more than the request)."""
        core = self.kube.core
        kw = {"field_selector": f"involvedObject.kind!={KIND}", "_preload_content": False}
        resp = core.list_namespaced_event(namespace, **kw) if namespace else core.list_event_for_all_namespaces(**kw)
        items = json.loads(resp.data).get("items") or []
        out = []
        for e in items:
            obj = e.get("involvedObject") or {}
            if names is not None and obj.get("name") not in names:
                continue
            meta = e.get("metadata") or {}
            if not namespace and not self._may_read(meta.get("namespace")):
                continue  # a cluster-wide read: not another tenant's or a protected namespace's Events
            out.append(EventEvidence(
                type=e.get("type"), reason=e.get("reason"), message=e.get("message"), object_kind=obj.get("kind"),
                object_name=obj.get("name"), namespace=meta.get("namespace"), count=e.get("count") or 1,
                first_time=e.get("firstTimestamp") or e.get("eventTime") or meta.get("creationTimestamp"),
                last_time=e.get("lastTimestamp") or e.get("eventTime") or meta.get("creationTimestamp"),
            ))
        out.sort(key=lambda x: x.last_time or _EPOCH, reverse=True)
        return out[: self.max_events]

    def deployment(self, namespace: str, name: str) -> DeploymentEvidence | None:
        apps = self.kube.apps
        try:
            d = self._deployments.get((namespace, name)) or apps.read_namespaced_deployment(name, namespace)
        except client.ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        st = d.status or client.V1DeploymentStatus()
        containers = [container_from_spec(c) for c in d.spec.template.spec.containers]
        ann = {k: v for k, v in (d.metadata.annotations or {}).items() if k in ANNOTATIONS_KEPT}
        replicas_writer, writers = field_writers(d.metadata.managed_fields, ANNOTATIONS_KEPT)
        ev = DeploymentEvidence(
            name=name, namespace=namespace, replicas=d.spec.replicas if d.spec.replicas is not None else 1,
            ready_replicas=st.ready_replicas or 0, available_replicas=st.available_replicas or 0,
            updated_replicas=st.updated_replicas or 0,
            revision=int(ann[REVISION_ANNOTATION]) if ann.get(REVISION_ANNOTATION, "").isdigit() else None,
            images=[c.image for c in containers], containers=containers,
            labels=dict(d.metadata.labels or {}), annotations=ann, conditions=_conditions(st.conditions),
            replicas_writer=replicas_writer, annotation_writers={k: v for k, v in writers.items() if k in ann},
            declared_replicas=declared_replicas((d.metadata.annotations or {}).get(LAST_APPLIED_ANNOTATION)),
        )
        selector = _selector(d.spec.selector.match_labels or {})
        for rs in apps.list_namespaced_replica_set(namespace, label_selector=selector).items:
            if not any(o.uid == d.metadata.uid for o in rs.metadata.owner_references or []):
                continue
            self._rs_owner_cache[(namespace, rs.metadata.name)] = name  # its pods' owner: no GET of it later
            rs_ann = rs.metadata.annotations or {}
            rev = rs_ann.get(REVISION_ANNOTATION, "")
            if not rev.isdigit():
                continue
            rst = rs.status or client.V1ReplicaSetStatus(replicas=0)
            ev.revisions.append(RevisionEvidence(
                revision=int(rev), replica_set=rs.metadata.name,
                images=[c.image for c in rs.spec.template.spec.containers],
                replicas=rs.spec.replicas or 0, ready_replicas=rst.ready_replicas or 0,
                created_at=rs.metadata.creation_timestamp,
                desired_replicas=_int_or_none(rs_ann.get(DESIRED_REPLICAS_ANNOTATION)),
                max_replicas=_int_or_none(rs_ann.get(MAX_REPLICAS_ANNOTATION)),
            ))
        ev.revisions.sort(key=lambda r: r.revision, reverse=True)
        return ev

    def node(self, name: str, count_pods: bool = True) -> NodeEvidence | None:
        try:
            n = self.cache.get(("node", name), lambda: self.kube.core.read_node(name))
        except client.ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        conds = _conditions(n.status.conditions if n.status else None)
        ready = next((c.status == "True" for c in conds if c.type == "Ready"), None)
        # a LIST of the node's pods across namespaces: only when the question is the node's pod capacity
        # the pods that hold one of its slots (the kubelet's max-pods counts no finished pod)
        pods = self.kube.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed",
            limit=1000).items if count_pods else None
        return NodeEvidence(
            name=name, ready=ready, unschedulable=bool(n.spec.unschedulable), conditions=conds,
            allocatable=_resources(n.status.allocatable if n.status else None),
            capacity=_resources(n.status.capacity if n.status else None),
            taints=[f"{t.key}={t.value or ''}:{t.effect}" for t in n.spec.taints or []],
            pod_count=len(pods) if pods is not None else None,
        )

    def _may_read(self, namespace: str | None) -> bool:
        return self.scope is None or self.scope.may_read(namespace)

    def _may_read_nodes(self) -> bool:
        return self.scope is None or self.scope.nodes

    def collect(self, target: Target) -> ClusterEvidence:
        if self.scope is not None:
            self.scope.check(target)
        pods = [p for p in self.target_pods(target) if self._may_read(p.metadata.namespace)]
        pods = self._unhealthy_first(pods)[: self.max_pods]
        deployments: dict[tuple[str, str], DeploymentEvidence] = {}
        if target.kind == "Deployment" and target.namespace and target.name:  # first: its ReplicaSets name its pods' owner
            d = self.deployment(target.namespace, target.name)
            if d:
                deployments[(target.namespace, target.name)] = d
        pod_ev = [self.pod_evidence(p, with_logs=i < 5) for i, p in enumerate(pods)]
        wanted = {(p.namespace, p.workload_name) for p in pod_ev if p.workload_kind == "Deployment"}
        for ns, name in sorted(wanted - set(deployments)):
            d = self.deployment(ns, name)
            if d:
                deployments[(ns, name)] = d
        # a Node target's own node, even when none of its pods is in scope
        node_names = sorted({p.node for p in pod_ev if p.node} | ({target.node} if target.node else set())
                            | ({target.name} if target.kind == "Node" and target.name else set()))
        # pod counts per node answer one question (a node out of pod capacity): asked for Node targets and
        # when the scheduler said "Too many pods"
        count_pods = target.kind == "Node" or any(p.phase == "Pending" for p in pod_ev) or any(
            "Too many pods" in (c.message or "") for p in pod_ev for c in p.conditions if c.type == "PodScheduled")
        nodes = ([n for n in (self.node(x, count_pods) for x in node_names[:10]) if n]
                 if self._may_read_nodes() else [])
        ns = target.namespace
        claims = {c for p in pod_ev for c in p.claims} | ({target.name} if target.kind == "PersistentVolumeClaim" else set())
        pvcs = self._read_each("pvc", lambda: self.pvcs(ns, sorted(claims))) if ns else []
        listed = self._read_each("services", lambda: self.cache.get(("services", ns), lambda: self.kube.core.list_namespaced_service(ns, limit=500).items)) if ns else []
        services = self._read_each("services", lambda: self.services(
            ns, listed, pod_ev, every=target.kind in (None, "Namespace"),
            named=target.name if target.kind == "Service" else None))
        # admission limits matter when pods are missing or cannot start: the namespace's quotas and ranges then
        refused = target.kind == "Namespace" or any(p.phase == "Pending" for p in pod_ev) or any(
            (d.ready_replicas or 0) < (d.replicas or 0) for d in deployments.values()) or not pod_ev
        quotas = self._read_each("quotas", lambda: self.quotas(ns)) if ns and refused else []
        limit_ranges = self._read_each("limitranges", lambda: self.limit_ranges(ns)) if ns and refused else []
        policies = self._read_each("networkpolicies", lambda: self.network_policies(ns, pod_ev)) if ns else []
        workloads = {(p.workload_kind, p.workload_name) for p in pod_ev} | ({(target.kind, target.name)} if target.kind else set())
        if target.kind in (None, "Namespace"):
            workloads = set()  # the whole namespace: every HPA
        hpas = self._read_each("hpas", lambda: self.hpas(ns, workloads)) if ns else []
        ingresses = self._read_each("ingresses", lambda: self.ingresses(ns, listed, services, every=target.kind in (None, "Namespace"))) if ns else []
        dependencies = self._read_each("dependencies", lambda: self.dependencies(ns, pods, target, listed, services),
                                       broad=True) if ns else []
        job_names = {p.owner_name for p in pod_ev if p.owner_kind == "Job"} | ({target.name} if target.kind == "Job" else set())
        if target.kind == "CronJob" and ns:
            job_names |= set(self._read_each("jobs", lambda: self.cronjob_jobs(ns, target.name)))
        jobs = self._read_each("jobs", lambda: self.jobs(ns, sorted(n for n in job_names if n))) if ns else []
        names = {p.name for p in pod_ev} | {d.name for d in deployments.values()}
        names |= {r.replica_set for d in deployments.values() for r in d.revisions}
        names |= {n.name for n in nodes} | {c.name for c in pvcs} | {s.name for s in services} | {j.name for j in jobs}
        # the owners' own Events too: FailedCreate on a StatefulSet/DaemonSet, the HPA's and the CronJob's
        names |= {p.workload_name for p in pod_ev if p.workload_name} | {h.name for h in hpas} | {i.name for i in ingresses}
        if target.name and target.kind not in (None, "Namespace"):
            names.add(target.name)
        # what happened to the Services it calls, and to their workloads (scaled down, failing)
        names |= {d.name for d in dependencies} | {b.split(" ")[0].split("/")[-1] for d in dependencies for b in d.backends}
        events: list[EventEvidence] = []
        if target.namespace:
            events = self.events(target.namespace, names)
        elif names and self._may_read(None):
            events = self.events(None, names)
        # a ServiceAccount the API server refused (its logs or Events say forbidden): its RoleBindings and Roles
        said = [line for p in pod_ev for line in (p.log_tail or "").splitlines()]
        said += [c.termination_message or "" for p in pod_ev for c in p.containers] + [e.message or "" for e in events]
        refused = access.refusals(said)
        service_accounts = self._read_each("rbac", lambda: self.service_account_access(ns, refused),
                                           broad=True) if ns and refused else []
        return ClusterEvidence(pods=pod_ev, events=events, deployments=list(deployments.values()), nodes=nodes,
                               pvcs=pvcs, services=services, quotas=quotas, limit_ranges=limit_ranges, jobs=jobs, network_policies=policies,
                               hpas=hpas, ingresses=ingresses, dependencies=dependencies, service_accounts=service_accounts)

    # ---- storage, services, quotas (each read may fail on its own) -----------------------------
    @staticmethod
    def _read_each(what: str, read, broad: bool = False):
        try:
            return read()
        except client.ApiException as exc:  # e.g. no RBAC for it: the rest of the evidence stands
            log.info("no %s evidence: %s", what, exc.reason)
            return []
        except Exception:  # noqa: BLE001 - `broad`: an optional kind of evidence never takes the rest down
            if not broad:
                raise
            log.warning("no %s evidence", what, exc_info=True)
            return []

    def pvcs(self, namespace: str, names: list[str]) -> list[PvcEvidence]:
        out = []
        for name in names[: self.max_pods]:
            try:
                pvc = self.kube.core.read_namespaced_persistent_volume_claim(name, namespace)
            except client.ApiException as exc:
                if is_not_found(exc):
                    out.append(PvcEvidence(name=name, namespace=namespace, phase="Missing"))
                    continue
                raise
            sc = pvc.spec.storage_class_name
            exists = None
            if sc:
                try:
                    self.kube.storage.read_storage_class(sc)
                    exists = True
                except client.ApiException as exc:
                    exists = False if is_not_found(exc) else None
            req = ((pvc.spec.resources.requests or {}) if pvc.spec.resources else {}).get("storage")
            ev = PvcEvidence(name=name, namespace=namespace, phase=pvc.status.phase if pvc.status else None,
                             storage_class=sc, storage_class_exists=exists, volume_name=pvc.spec.volume_name,
                             requested=req, access_modes=list(pvc.spec.access_modes or []))
            try:  # PersistentVolumes are cluster-scoped: a read that may fail (no RBAC) on its own
                self._volumes_of(pvc, ev)
            except client.ApiException as exc:
                log.info("no PersistentVolume evidence for %s/%s: %s", namespace, name, exc.reason)
            out.append(ev)
        return out

    def _volumes_of(self, pvc: client.V1PersistentVolumeClaim, ev: PvcEvidence) -> None:
        """The claim's PV (spec.volumeName); for an unbound claim, its candidates: PVs whose claimRef names it (a
        deleted claim of the same name: Released, still holding it) and PVs of its class. PVs bound to claims the
        scope may not read are counted, never named."""
        uid = pvc.metadata.uid
        if pvc.spec.volume_name:
            try:
                ev.volume = volume_evidence(self.kube.core.read_persistent_volume(pvc.spec.volume_name, _request_timeout=5), uid)
            except client.ApiException as exc:
                if not is_not_found(exc):
                    raise
                ev.volume = PersistentVolumeEvidence(name=pvc.spec.volume_name, phase="Missing")
        if ev.phase == "Bound":
            return
        # not cached: a claim waits on a volume's phase, which changes (Released → Available once freed)
        volumes = self.kube.core.list_persistent_volume(limit=500, _request_timeout=10).items
        own, same_class = [], []
        for pv in volumes:
            ref = pv.spec.claim_ref
            if ref is not None and ref.namespace == ev.namespace and ref.name == ev.name:
                own.append(volume_evidence(pv, uid))
            elif ev.storage_class is not None and (pv.spec.storage_class_name or "") == ev.storage_class:
                if ref is None or self._may_read(ref.namespace):
                    same_class.append(volume_evidence(pv, uid))
                else:
                    ev.class_volumes_elsewhere += 1
        ev.candidate_volumes = (own + same_class)[:5]

    def services(self, namespace: str, listed: list[client.V1Service], pods: list[PodEvidence],
                 every: bool = False, named: str | None = None) -> list[ServiceEvidence]:
        """Of the namespace's Services (`listed`), those whose selector picks the target's pods — or, for a
        whole-namespace target, every one (a selector with a typo picks nothing) — with their endpoints."""
        out = []
        for svc in listed:
            sel = (svc.spec.selector or {}) if svc.spec else {}
            if not sel:
                continue
            if not every and svc.metadata.name != named and not _selects_any(sel, pods):
                continue
            ready, not_ready, endpoint_ports = self._endpoints(namespace, svc.metadata.name)
            matched = self.kube.core.list_namespaced_pod(namespace, label_selector=_selector(sel), limit=100).items
            out.append(ServiceEvidence(name=svc.metadata.name, namespace=namespace, type=svc.spec.type, selector=sel,
                                       ready_endpoints=ready, not_ready_endpoints=not_ready, matching_pods=len(matched),
                                       ports=service_ports(svc), pod_ports=pod_ports(matched),
                                       endpoint_ports=endpoint_ports))
            if len(out) >= 10:
                break
        return out

    def _endpoints(self, namespace: str, service: str) -> tuple[int, int, list[int]]:
        """(ready, not ready, resolved ports) of a Service's EndpointSlices."""
        ready = not_ready = 0
        ports: set[int] = set()
        for es in self.kube.discovery.list_namespaced_endpoint_slice(
                namespace, label_selector=f"kubernetes.io/service-name={service}", limit=50).items:
            ports |= {p.port for p in es.ports or [] if p.port}
            for ep in es.endpoints or []:
                if ep.conditions and ep.conditions.ready is False:
                    not_ready += 1
                else:
                    ready += 1
        return ready, not_ready, sorted(ports)[:20]

    def dependencies(self, namespace: str, pods: list[client.V1Pod], target: Target, listed: list[client.V1Service],
                     own: list[ServiceEvidence]) -> list[DependencyEvidence]:
        """The Services the target calls (named in env, args and the ConfigMaps it mounts or reads env from), with
        their endpoints and the workloads behind them. Each ConfigMap read may fail on its own (no RBAC there)."""
        specs, seen = [], set()
        for p in pods:
            key = (p.metadata.namespace, self._workload_of(p)[3] or p.metadata.name)
            if p.metadata.namespace == namespace and key not in seen and len(specs) < 3:
                seen.add(key)
                specs.append(p.spec)
        if not specs and target.kind in ("Deployment", "StatefulSet", "DaemonSet") and target.name:
            obj = self.workload(target.kind, namespace, target.name)  # scaled to 0: its template still tells
            if obj is not None and obj.spec.template and obj.spec.template.spec:
                specs.append(obj.spec.template.spec)
        containers = [c for spec in specs for c in list(spec.init_containers or []) + list(spec.containers or [])]
        config_maps: dict[str, dict[str, str]] = {}
        names = []
        for spec in specs:
            for v in spec.volumes or []:
                if v.config_map and v.config_map.name:
                    names.append(v.config_map.name)
                for src in ((v.projected.sources or []) if v.projected else []):
                    if src.config_map and src.config_map.name:
                        names.append(src.config_map.name)
            for c in spec.containers or []:
                names += [ef.config_map_ref.name for ef in c.env_from or [] if ef.config_map_ref and ef.config_map_ref.name]
        for name in list(dict.fromkeys(names))[:5]:
            try:
                cm = self.kube.core.read_namespaced_config_map(name, namespace, _request_timeout=5)
                config_maps[name] = {k: (v or "")[:MAX_TEXT_PER_VALUE] for k, v in list((cm.data or {}).items())[:50]}
            except client.ApiException as exc:  # forbidden (no binding there) or gone: the rest stands
                log.debug("no ConfigMap %s/%s: %s", namespace, name, exc.reason)
        from .dependencies import container_sources
        refs = references(namespace, container_sources(containers, config_maps))
        known = {s.metadata.name: s for s in listed}
        own_names = {s.name for s in own}
        out = []
        for ref in refs:
            if ref.namespace == namespace and ref.name in own_names:
                continue  # its own Service, read above
            if not self._may_read(ref.namespace):
                continue  # another tenant's Service: not read, not named
            svc = known.get(ref.name) if ref.namespace == namespace else None
            if svc is None and ref.namespace != namespace:
                try:
                    svc = self.kube.core.read_namespaced_service(ref.name, ref.namespace, _request_timeout=5)
                except client.ApiException as exc:
                    if not is_not_found(exc):
                        continue
            if svc is None:
                if ref.certain:
                    out.append(DependencyEvidence(name=ref.name, namespace=ref.namespace, address=ref.address,
                                                  referenced_by=ref.by, exists=False))
            else:
                out.append(self._dependency(svc, ref))
            if len(out) >= MAX_DEPENDENCIES:
                break
        return out

    def _dependency(self, svc: client.V1Service, ref) -> DependencyEvidence:
        ns, sel = svc.metadata.namespace, (svc.spec.selector or {}) if svc.spec else {}
        dep = DependencyEvidence(name=svc.metadata.name, namespace=ns, address=ref.address, referenced_by=ref.by,
                                 type=svc.spec.type if svc.spec else None, selector=sel)
        if not sel:  # ExternalName, or endpoints managed by hand: nothing to count here
            ready, not_ready, _ = self._endpoints(ns, svc.metadata.name)
            dep.ready_endpoints, dep.not_ready_endpoints = ready, not_ready
            return dep
        dep.ready_endpoints, dep.not_ready_endpoints, _ = self._endpoints(ns, svc.metadata.name)
        dep.matching_pods = len(self.kube.core.list_namespaced_pod(ns, label_selector=_selector(sel), limit=100).items)
        for kind, lister in (("Deployment", self.kube.apps.list_namespaced_deployment),
                             ("StatefulSet", self.kube.apps.list_namespaced_stateful_set)):
            key = (kind, ns)
            if key not in self._workload_lists:  # once per collection, however many dependencies
                self._workload_lists[key] = lister(ns, limit=200).items
            for w in self._workload_lists[key]:
                labels = (w.spec.template.metadata.labels or {}) if w.spec.template and w.spec.template.metadata else {}
                if sel and all(labels.get(k) == v for k, v in sel.items()):
                    st = w.status
                    dep.backends.append(f"{kind}/{w.metadata.name} {(st.ready_replicas or 0) if st else 0}/"
                                        f"{w.spec.replicas if w.spec.replicas is not None else 1}")
        dep.backends = dep.backends[:5]
        return dep

    def service_account_access(self, namespace: str, refused: list[access.Refusal]) -> list[ServiceAccountAccessEvidence]:
        """For each refusal (at most access.MAX_REQUESTS) in the Incident's namespace: the RoleBindings there that bind
        the account, the Roles they name (a ClusterRole only by name: reading ClusterRoles is cluster-wide), and the
        API server's answer now (a LocalSubjectAccessReview, namespaced). A refusal at the cluster scope or in
        another namespace is recorded, not read. Each read bounded and allowed to fail on its own."""
        out, listed, roles, cut = [], None, {}, False
        for r in refused[: access.MAX_REQUESTS]:
            ev = ServiceAccountAccessEvidence(name=r.sa, namespace=r.sa_namespace, verb=r.verb,
                                              resource=r.resource, api_group=r.group, request_namespace=r.namespace,
                                              resource_name=r.name)
            out.append(ev)
            if r.namespace is None:
                ev.read = "cluster-scope"
                continue
            # the account too must be the caller's to ask about: a tenant's log line naming another namespace's
            # account would have the API server say what that account may do (and through which bindings)
            if r.namespace != namespace or not self._may_read(namespace) or not self._may_read(r.sa_namespace):
                ev.read = "out-of-scope"
                continue
            try:
                if listed is None:  # fresh, not cached: the fix being applied meanwhile is what matters
                    page = self.kube.rbac.list_namespaced_role_binding(namespace, limit=ROLE_BINDINGS_READ, _request_timeout=5)
                    meta = getattr(page, "metadata", None)
                    listed, cut = page.items, bool(meta and getattr(meta, "_continue", None))
                ev.role_bindings = len(listed)
                if cut:  # not all looked at: "no RoleBinding binds it" cannot be said
                    ev.read, ev.detail = "partial", f"RoleBinding {len(listed)}개까지만 읽음 (더 있음)"
                for rb in listed:
                    how = next((h for h in (access.subject_binds(s, r, rb.metadata.namespace) for s in rb.subjects or [])
                                if h), None)
                    if how and len(ev.bindings) < 5:
                        ev.bindings.append(self._binding(rb, how, r, roles))
            except client.ApiException as exc:
                ev.read, ev.detail = "failed", str(exc.reason or exc.status)[:200]
            self._review(ev, r)
        return out

    def _binding(self, rb: client.V1RoleBinding, how: str, r: access.Refusal, roles: dict) -> RoleBindingEvidence:
        ref = rb.role_ref
        ev = RoleBindingEvidence(name=rb.metadata.name, role_kind=ref.kind, role_name=ref.name, subject=how)
        if ref.kind != "Role":
            return ev  # a ClusterRole: named, not read (least privilege); the review below still answers
        if ref.name not in roles:
            try:
                roles[ref.name] = self.kube.rbac.read_namespaced_role(ref.name, rb.metadata.namespace, _request_timeout=5)
            except client.ApiException as exc:
                if not is_not_found(exc):
                    return ev  # not readable: not known
                roles[ref.name] = None
        role = roles[ref.name]
        ev.role_found = role is not None
        rules = [access.policy_rule(x) for x in ((role.rules or []) if role is not None else [])]
        ev.rules = access.rules_about(rules, r)
        ev.grants = any(access.grants(x, r) for x in rules)
        ev.verbs = access.verbs_on(rules, r)
        return ev

    def _review(self, ev: ServiceAccountAccessEvidence, r: access.Refusal) -> None:
        """The API server's own answer for the account on the refused request, now (authorizers beyond RBAC too)."""
        body = client.V1LocalSubjectAccessReview(
            metadata=client.V1ObjectMeta(namespace=r.namespace),
            spec=client.V1SubjectAccessReviewSpec(user=r.user, groups=r.groups, resource_attributes=client.V1ResourceAttributes(
                namespace=r.namespace, verb=r.verb, group=r.group, resource=r.base, subresource=r.subresource or None,
                name=r.name)))
        try:
            status = self.kube.authorization.create_namespaced_local_subject_access_review(
                r.namespace, body, _request_timeout=5).status
        except client.ApiException as exc:
            log.info("no access review for %s: %s", r.user, exc.reason)
            return
        ev.allowed = bool(status.allowed) if status else None
        ev.review_reason = ((status.reason or status.evaluation_error or None) if status else None)
        ev.review_reason = ev.review_reason[:300] if ev.review_reason else None

    def network_policies(self, namespace: str, pods: list[PodEvidence]) -> list[NetworkPolicyEvidence]:
        """NetworkPolicies that select the target's pods (an empty selector selects every pod)."""
        out = []
        for np in self.cache.get(("networkpolicies", namespace), lambda: self.kube.networking.list_namespaced_network_policy(
                namespace, limit=100).items):
            sel = (np.spec.pod_selector.match_labels or {}) if np.spec.pod_selector else {}
            if pods and not any(label_selector_matches(np.spec.pod_selector, p.labels) for p in pods):
                continue
            egress = np.spec.egress or []
            types = list(np.spec.policy_types or [])
            dns = None
            if "Egress" in types:
                dns = any(_egress_allows_dns(rule) for rule in egress)
            out.append(NetworkPolicyEvidence(name=np.metadata.name, namespace=namespace, pod_selector=sel, policy_types=types,
                                             ingress_rules=len(np.spec.ingress or []), egress_rules=len(egress), allows_dns=dns))
            if len(out) >= 10:
                break
        return out

    def hpas(self, namespace: str, workloads: set) -> list[HpaEvidence]:
        out = []
        for h in self.cache.get(("hpas", namespace), lambda: self.kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(
                namespace, limit=100).items):
            ref = h.spec.scale_target_ref
            st = h.status
            cannot_scale = any(c.type == "AbleToScale" and c.status == "False" for c in (st.conditions if st else None) or [])
            # the target's own HPAs, and any of the namespace's that cannot scale at all (a renamed target)
            if workloads and (ref.kind, ref.name) not in workloads and not cannot_scale:
                continue
            out.append(HpaEvidence(name=h.metadata.name, namespace=namespace, target_kind=ref.kind, target_name=ref.name,
                                   min_replicas=h.spec.min_replicas, max_replicas=h.spec.max_replicas,
                                   current_replicas=st.current_replicas if st else None,
                                   desired_replicas=st.desired_replicas if st else None,
                                   conditions=_conditions(st.conditions if st else None)))
        return out[:10]

    def ingresses(self, namespace: str, listed: list[client.V1Service], services: list[ServiceEvidence],
                  every: bool) -> list[IngressEvidence]:
        """Ingresses routing to the target's Services (or all of the namespace), with backends that do not exist."""
        known = {s.metadata.name: s for s in listed}
        wanted = {s.name for s in services}
        out = []
        for ing in self.cache.get(("ingresses", namespace), lambda: self.kube.networking.list_namespaced_ingress(
                namespace, limit=100).items):
            backends = []
            spec = ing.spec
            if spec.default_backend and spec.default_backend.service:
                backends.append(spec.default_backend.service)
            for rule in spec.rules or []:
                for path in (rule.http.paths if rule.http else []) or []:
                    if path.backend and path.backend.service:
                        backends.append(path.backend.service)
            names = [f"{b.name}:{(b.port.number or b.port.name) if b.port else ''}" for b in backends]
            missing = []
            for b, label in zip(backends, names):
                svc = known.get(b.name)
                ports = {p.port for p in (svc.spec.ports or [])} | {p.name for p in (svc.spec.ports or [])} if svc else set()
                want = (b.port.number or b.port.name) if b.port else None
                if svc is None or (want is not None and want not in ports):
                    missing.append(label)
            # the target's own routes, and any route of the namespace that leads nowhere (a renamed Service)
            if not every and not missing and not ({b.name for b in backends} & wanted):
                continue
            out.append(IngressEvidence(name=ing.metadata.name, namespace=namespace, backends=names, missing_backends=missing,
                                       ingress_class=spec.ingress_class_name,
                                       ingress_class_exists=self.ingress_class_exists(spec.ingress_class_name)))
            if len(out) >= 10:
                break
        return out

    def ingress_class_exists(self, name: str | None) -> bool | None:
        """Whether the IngressClass (cluster-scoped) exists; None: none named, or not allowed to ask."""
        if not name:
            return None
        try:
            self.cache.get(("ingressclass", name), lambda: self.kube.networking.read_ingress_class(name, _request_timeout=5))
            return True
        except client.ApiException as exc:
            return False if is_not_found(exc) else None

    def jobs(self, namespace: str, names: list[str]) -> list[JobEvidence]:
        out = []
        for name in names[:10]:
            try:
                j = self.kube.batch.read_namespaced_job(name, namespace)
            except client.ApiException as exc:
                if is_not_found(exc):
                    continue
                raise
            st = j.status or client.V1JobStatus()
            cron = next((o.name for o in j.metadata.owner_references or [] if o.kind == "CronJob"), None)
            out.append(JobEvidence(name=name, namespace=namespace, cronjob=cron, active=st.active or 0,
                                   succeeded=st.succeeded or 0, failed=st.failed or 0,
                                   backoff_limit=j.spec.backoff_limit, conditions=_conditions(st.conditions)))
        return out

    def limit_ranges(self, namespace: str) -> list[LimitRangeEvidence]:
        out = []
        for lr in self.cache.get(("limitranges", namespace), lambda: self.kube.core.list_namespaced_limit_range(
                namespace, limit=10).items):
            limits = []
            for item in (lr.spec.limits if lr.spec else None) or []:
                entry = {"type": item.type}
                for key, attr in (("max", "max"), ("min", "min"), ("default", "default"),
                                  ("defaultRequest", "default_request"), ("maxLimitRequestRatio", "max_limit_request_ratio")):
                    value = getattr(item, attr, None)
                    if value:
                        entry[key] = {k: str(v) for k, v in value.items()}
                limits.append(entry)
            out.append(LimitRangeEvidence(name=lr.metadata.name, namespace=namespace, limits=limits))
        return out

    def quotas(self, namespace: str) -> list[QuotaEvidence]:
        return [QuotaEvidence(name=q.metadata.name, namespace=namespace,
                              hard={k: str(v) for k, v in ((q.status.hard if q.status else None) or {}).items()},
                              used={k: str(v) for k, v in ((q.status.used if q.status else None) or {}).items()})
                for q in self.cache.get(("quotas", namespace), lambda: self.kube.core.list_namespaced_resource_quota(
                    namespace, limit=20).items)]
