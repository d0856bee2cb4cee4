"""The evidence bundle: everything the analyzers look at, in one replayable document.

`incident-operator schema evidence` prints its JSON Schema; `incident-operator analyze --evidence
FILE.json` runs the deterministic analyzer on a saved bundle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import CamelModel as _Model

from .spec import Alarm, Target

SourceOutcomeKind = Literal["ok", "failed", "not-configured", "timed-out", "skipped"]


class Resources(_Model):
    cpu: str | None = None
    memory: str | None = None
    pods: str | None = Field(default=None, description="Nodes only: how many pods fit")
    ephemeral_storage: str | None = None


class ContainerPort(_Model):
    port: int
    name: str | None = None
    protocol: str = "TCP"


class ContainerEvidence(_Model):
    name: str
    image: str
    command: list[str] = []
    args: list[str] = []
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    state: Literal["waiting", "running", "terminated", "unknown"] = "unknown"
    state_reason: str | None = None
    state_message: str | None = None
    last_termination_reason: str | None = None
    last_exit_code: int | None = None
    last_terminated_at: datetime | None = None
    requests: Resources = Resources()
    limits: Resources = Resources()
    has_liveness_probe: bool = False
    has_readiness_probe: bool = False
    env_from: list[str] = Field(default=[], description="ConfigMaps/Secrets the container reads (kind/name)")
    env: list[str] = Field(default=[], description="Names of the container's env variables (never their values)")
    init: bool = Field(default=False, description="An init container (runs to completion before the others)")
    termination_message: str | None = Field(default=None, description="The last termination's message (terminationMessagePath)")
    ports: list[ContainerPort] = Field(default=[], description="Declared containerPorts")


class Condition(_Model):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None


class PodEvidence(_Model):
    name: str
    namespace: str
    node: str | None = None
    phase: str | None = None
    owner_kind: str | None = None
    owner_name: str | None = None
    workload_kind: str | None = Field(default=None, description="Deployment/StatefulSet/... resolved through ReplicaSets")
    workload_name: str | None = None
    labels: dict[str, str] = {}
    created_at: datetime | None = None
    containers: list[ContainerEvidence] = Field(default=[], description="Init containers first (init=true), then the app's")
    conditions: list[Condition] = []
    reason: str | None = Field(default=None, description="status.reason, e.g. Evicted")
    message: str | None = Field(default=None, description="status.message, e.g. the node was low on ephemeral-storage")
    claims: list[str] = Field(default=[], description="PersistentVolumeClaims the pod mounts")
    log_tail: str | None = Field(default=None, description="Last lines of the first container's log, if the API served them")


class EventEvidence(_Model):
    type: str | None = None
    reason: str | None = None
    message: str | None = None
    object_kind: str | None = None
    object_name: str | None = None
    namespace: str | None = None
    count: int = 1
    first_time: datetime | None = None
    last_time: datetime | None = None


class RevisionEvidence(_Model):
    revision: int
    replica_set: str
    images: list[str] = []
    replicas: int = 0
    ready_replicas: int = 0
    created_at: datetime | None = None
    desired_replicas: int | None = Field(default=None, description="deployment.kubernetes.io/desired-replicas: the "
                                         "Deployment's replicas when the deployment controller last scaled this ReplicaSet")
    max_replicas: int | None = Field(default=None, description="deployment.kubernetes.io/max-replicas (desired + maxSurge)")


class FieldWriter(_Model):
    """Who last wrote a field, as the API server recorded it in metadata.managedFields."""

    manager: str
    operation: str | None = Field(default=None, description="Apply or Update")
    subresource: str | None = Field(default=None, description="e.g. scale (kubectl scale, an HPA)")
    time: datetime | None = None


class DeploymentEvidence(_Model):
    name: str
    namespace: str
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    revision: int | None = None
    images: list[str] = []
    containers: list[ContainerEvidence] = Field(default=[], description="From the pod template")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    conditions: list[Condition] = []
    revisions: list[RevisionEvidence] = []
    replicas_writer: FieldWriter | None = Field(default=None, description="Who last set spec.replicas (managedFields)")
    annotation_writers: dict[str, FieldWriter] = Field(
        default={}, description="Who last wrote each kept annotation (managedFields)")
    declared_replicas: int | None = Field(
        default=None, description="spec.replicas of kubectl's last-applied-configuration (only that number is read)")


class NodeEvidence(_Model):
    name: str
    ready: bool | None = None
    unschedulable: bool = False
    conditions: list[Condition] = []
    allocatable: Resources = Resources()
    capacity: Resources = Resources()
    taints: list[str] = []
    pod_count: int | None = None


class MetricPoint(_Model):
    timestamp: datetime
    value: float


class MetricSeries(_Model):
    name: str
    dimensions: dict[str, str] = {}
    unit: str | None = None
    points: list[MetricPoint] = []


class LogEntry(_Model):
    timestamp: datetime | None = None
    level: str | None = None
    message: str
    service: str | None = None
    pod: str | None = None
    error_type: str | None = None


class SourceOutcome(_Model):
    """How one evidence source answered."""

    source: str = Field(description="cluster, cloudwatch, opensearch, datadog, ...")
    outcome: SourceOutcomeKind = Field(description="ok, failed, not-configured, timed-out or skipped")
    detail: str | None = Field(default=None, description="Why, when it was not ok")
    items: int = Field(default=0, description="Items it returned")
    duration_ms: int = Field(default=0, description="How long it took, in milliseconds")


class TimeWindow(_Model):
    start: datetime
    end: datetime
    anchor: datetime = Field(description="When the incident happened (the alarm time or creation)")


class PersistentVolumeEvidence(_Model):
    """A PersistentVolume (cluster-scoped) as far as it concerns the target's claim."""
    name: str
    phase: str | None = Field(default=None, description="Available, Bound, Released, Failed")
    claim_ref: str | None = Field(default=None, description="namespace/name of the claim it is bound (or was) to")
    claim_ref_current: bool | None = Field(default=None, description="Its claimRef uid is the claim's own (None: no "
                                           "claimRef, or the claim was not read)")
    reclaim_policy: str | None = None
    storage_class: str | None = None
    capacity: str | None = None
    access_modes: list[str] = []
    node_affinity: str | None = Field(default=None, description="Its required node affinity, in short")
    message: str | None = None


class PvcEvidence(_Model):
    name: str
    namespace: str
    phase: str | None = None
    storage_class: str | None = None
    storage_class_exists: bool | None = Field(default=None, description="None: not asked (no class named, or no access)")
    volume_name: str | None = None
    requested: str | None = None
    access_modes: list[str] = []
    volume: PersistentVolumeEvidence | None = Field(default=None, description="The PV it names (spec.volumeName)")
    candidate_volumes: list[PersistentVolumeEvidence] = Field(
        default=[], description="An unbound claim's candidates: PVs whose claimRef names this claim (a deleted one "
                                "of the same name too), and PVs of its class (only those free or claimed in scope)")
    class_volumes_elsewhere: int = Field(default=0, description="PVs of its class bound to claims outside the scope "
                                                                "(counted, never named)")


class JobEvidence(_Model):
    name: str
    namespace: str
    cronjob: str | None = Field(default=None, description="The CronJob that created it, if any")
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    backoff_limit: int | None = None
    conditions: list[Condition] = []


class NetworkPolicyEvidence(_Model):
    name: str
    namespace: str
    pod_selector: dict[str, str] = {}
    policy_types: list[str] = []
    ingress_rules: int = 0
    egress_rules: int = 0
    allows_dns: bool | None = Field(default=None, description="An egress rule opens port 53 (None: no egress policy)")


class HpaEvidence(_Model):
    name: str
    namespace: str
    target_kind: str | None = None
    target_name: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    current_replicas: int | None = None
    desired_replicas: int | None = None
    conditions: list[Condition] = []


class IngressEvidence(_Model):
    name: str
    namespace: str
    backends: list[str] = Field(default=[], description="service:port of every rule and the default backend")
    missing_backends: list[str] = Field(default=[], description="Backends whose Service (or port) does not exist")
    ingress_class: str | None = None
    ingress_class_exists: bool | None = Field(default=None, description="None: no class named, or not asked")


class ServicePort(_Model):
    port: int
    target_port: str | None = Field(default=None, description="A number or a container port's name (None: = port)")
    name: str | None = None
    protocol: str = "TCP"


class ServiceEvidence(_Model):
    name: str
    namespace: str
    type: str | None = None
    selector: dict[str, str] = {}
    ready_endpoints: int = 0
    not_ready_endpoints: int = 0
    matching_pods: int = Field(default=0, description="Pods in the namespace its selector matches")
    ports: list[ServicePort] = []
    pod_ports: list[ContainerPort] = Field(default=[], description="containerPorts the selected pods declare")
    endpoint_ports: list[int] = Field(default=[], description="Ports its EndpointSlices resolved (targetPorts)")


class DependencyEvidence(_Model):
    """A Service the target calls, named in its env, args or mounted ConfigMaps."""
    name: str
    namespace: str
    address: str = Field(default="", description="How it was named, host[:port] only (never the whole value)")
    referenced_by: list[str] = Field(default=[], description="e.g. env PAYMENTS_URL, args, ConfigMap/app-config")
    exists: bool = True
    type: str | None = None
    selector: dict[str, str] = {}
    ready_endpoints: int = 0
    not_ready_endpoints: int = 0
    matching_pods: int = 0
    backends: list[str] = Field(default=[], description="Workloads its selector matches: kind/name ready/replicas")


class PolicyRuleEvidence(_Model):
    """One rule of a Role (only the rules about the denied request's API group and resource are kept)."""
    verbs: list[str] = []
    api_groups: list[str] = []
    resources: list[str] = []
    resource_names: list[str] = Field(default=[], description="Names it is limited to (none: every object)")


class RoleBindingEvidence(_Model):
    """A RoleBinding that binds the ServiceAccount (by name, or by a group it belongs to), and the role it names."""
    name: str
    role_kind: str = Field(description="Role or ClusterRole")
    role_name: str
    subject: str = Field(default="", description="How it binds the account: ServiceAccount ns/name or Group name")
    role_found: bool | None = Field(default=None, description="The Role exists (None: not read; a ClusterRole is "
                                                              "never read, least privilege)")
    rules: list[PolicyRuleEvidence] = Field(default=[], description="The Role's rules about the denied group/resource")
    grants: bool | None = Field(default=None, description="Its rules allow the denied request (None: not known)")
    verbs: list[str] = Field(default=[], description="Verbs its rules grant on the denied resource")


class ServiceAccountAccessEvidence(_Model):
    """A ServiceAccount the API server refused (`forbidden: User "system:serviceaccount:NS:SA" cannot VERB resource
    ...` in the target's logs or Events) and what RBAC in the namespace says about it: the RoleBindings that bind
    it, the Roles they name, and the API server's own answer now (a LocalSubjectAccessReview)."""
    name: str = Field(description="The ServiceAccount's name")
    namespace: str = Field(description="The ServiceAccount's namespace")
    verb: str
    resource: str = Field(description="resource, or resource/subresource")
    api_group: str = ""
    request_namespace: str | None = Field(default=None, description="Where it was refused (None: at the cluster scope)")
    resource_name: str | None = None
    read: Literal["ok", "partial", "cluster-scope", "out-of-scope", "failed"] = Field(
        default="ok", description="The bindings were read (partial: the first page only, more exist); or not: a "
                                  "cluster-scoped request (no RoleBinding can grant it), another namespace than the "
                                  "Incident's (the request's or the account's), or the read failed")
    detail: str | None = Field(default=None, description="Why a read failed")
    role_bindings: int = Field(default=0, description="RoleBindings the namespace has (looked through)")
    bindings: list[RoleBindingEvidence] = Field(default=[], description="Those that bind the ServiceAccount")
    allowed: bool | None = Field(default=None, description="LocalSubjectAccessReview now: the API server allows the "
                                                           "request (None: not asked or no answer)")
    review_reason: str | None = None


class QuotaEvidence(_Model):
    name: str
    namespace: str
    hard: dict[str, str] = {}
    used: dict[str, str] = {}


class LimitRangeEvidence(_Model):
    """A namespace's LimitRange: defaults and bounds admission applies to every container / pod / PVC."""
    name: str
    namespace: str
    limits: list[dict[str, Any]] = Field(default=[], description="type, max, min, default, defaultRequest, "
                                                                  "maxLimitRequestRatio (quantities as strings)")


class ClusterEvidence(_Model):
    pods: list[PodEvidence] = []
    events: list[EventEvidence] = []
    deployments: list[DeploymentEvidence] = []
    nodes: list[NodeEvidence] = []
    pvcs: list[PvcEvidence] = []
    jobs: list[JobEvidence] = []
    services: list[ServiceEvidence] = []
    quotas: list[QuotaEvidence] = []
    limit_ranges: list[LimitRangeEvidence] = []
    network_policies: list[NetworkPolicyEvidence] = []
    hpas: list[HpaEvidence] = []
    ingresses: list[IngressEvidence] = []
    dependencies: list[DependencyEvidence] = []
    service_accounts: list[ServiceAccountAccessEvidence] = Field(
        default=[], description="ServiceAccounts the API server refused, with their RoleBindings")


class EvidenceBundle(_Model):
    """What was known about one incident when it was analysed."""

    incident: str = Field(description="namespace/name of the Incident")
    alarm: Alarm | None = None
    target: Target = Target()
    window: TimeWindow
    cluster: ClusterEvidence = ClusterEvidence()
    metrics: list[MetricSeries] = []
    logs: list[LogEntry] = []
    sources: list[SourceOutcome] = []
