"""`incident-operator replay SCENARIO_DIR`: load a scenario into the running local stack, send its
alarm through the bridge handler, wait for the Incident to finish, and report one JSON line.

Format: docs/scenarios.md. The operator must be running; CloudWatch series and OpenSearch logs are
loaded when INCIDENT_AWS_* / INCIDENT_OPENSEARCH_URL point at endpoints (the same the operator uses).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from kubernetes import client, utils
from pydantic import BaseModel, Field

from ..constants import FINISHED_PHASES, GROUP, PLURAL, VERSION
from ..kube.client import Kube
from ..settings import Settings
from .evaluation import hit, passed
from .notifications import cloudwatch_message, notification_record
from .sim import chaos_scale_to_zero, set_image_with_fault


class Expected(BaseModel):
    top_cause: str = Field(alias="topCause")
    alternatives: list[str] = Field(default=[], description="Also acceptable as top-1")
    plausible: list[str] = Field(default=[], description=(
        "Two plausible causes: the kinds whose evidence is also really present, though the scenario's source names "
        "`topCause` as the cause. Not accepted as top-1; such a scenario passes when `topCause` is in the top 3"))
    remediation: str = "none"

    def as_dict(self) -> dict[str, Any]:
        """The shape results carry (and `evaluation.hit`/`passed` read)."""
        out = {"topCause": self.top_cause, "alternatives": self.alternatives, "remediation": self.remediation}
        return out | ({"plausible": self.plausible} if self.plausible else {})


class Series(BaseModel):
    metric: str
    dimensions: dict[str, str] = {}
    values: list[float]
    period: int = 60


class AlarmDef(BaseModel):
    name: str
    metric: str
    threshold: float
    comparison: str = "GreaterThanThreshold"
    period: int = 60
    evaluation_periods: int = Field(default=3, alias="evaluationPeriods")
    dimensions: dict[str, str] = {}
    reason: str = "Threshold Crossed"


class Scenario(BaseModel):
    name: str
    description: str = ""
    source: str = Field(default="", description="The public failure catalogue the scenario is derived from")
    manifests: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    metrics: list[Series] = []
    logs: list[dict[str, Any]] = []
    alarm: AlarmDef
    remediation: Literal["auto", "dry-run", "off"] = "auto"
    expected: Expected

    @classmethod
    def load(cls, path: Path) -> "Scenario":
        data = yaml.safe_load((path / "scenario.yaml").read_text())
        data["expected"] = yaml.safe_load((path / "expected.yaml").read_text())
        logs = path / "logs.jsonl"
        if logs.exists():
            data["logs"] = [json.loads(l) for l in logs.read_text().splitlines() if l.strip()]
        data.setdefault("name", path.name)
        return cls.model_validate(data)


def node_scoped(path: Path) -> bool:
    """A scenario whose alarm is a Node's (NodeName, no pod or Service): its Incident reads every pod on the node, so
    another scenario's pods there would be its evidence too. Replays run these first, and not beside others."""
    dims = Scenario.load(path).alarm.dimensions
    return "NodeName" in dims and not {"PodName", "Service"} & set(dims)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _pods(kube: Kube, ns: str, app: str) -> list[client.V1Pod]:
    return kube.core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def _node_ready(kube: Kube, name: str) -> bool:
    node = kube.core.read_node(name)
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    return ready and not any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or [])


def _settled(kube: Kube, ns: str) -> bool:
    """Every Deployment has its pods, and every pod has a status from the (simulated) kubelet or the scheduler."""
    for d in kube.apps.list_namespaced_deployment(ns).items:
        refused = any(c.type == "ReplicaFailure" and c.status == "True" for c in d.status.conditions or [])
        if refused:  # the ReplicaSet cannot create its pods (a quota, an admission webhook): that is the state
            continue
        if (d.status.replicas or 0) < (d.spec.replicas or 0) or (d.status.observed_generation or 0) < d.metadata.generation:
            return False
    pods = kube.core.list_namespaced_pod(ns).items
    return all(p.status and (p.status.container_statuses or any(
        c.type == "PodScheduled" and c.status == "False" for c in p.status.conditions or [])) for p in pods)


def run_step(kube: Kube, ns: str, step: dict[str, Any]) -> None:
    if "waitReady" in step:
        name = step["waitReady"]
        want = kube.apps.read_namespaced_deployment(name, ns).spec.replicas or 0
        _wait(lambda: (kube.apps.read_namespaced_deployment(name, ns).status.ready_replicas or 0) >= want, 60, f"{name} ready")
    elif "scale" in step:
        s = step["scale"]
        if s["replicas"] == 0:  # the seed chaos, under its own field manager
            chaos_scale_to_zero(kube, ns, s["deployment"])
        else:
            kube.apps.patch_namespaced_deployment_scale(s["deployment"], ns, {"spec": {"replicas": s["replicas"]}})
        if s["replicas"] == 0:
            _wait(lambda: not _pods(kube, ns, s["deployment"]), 60, "scale-down")
    elif "setImage" in step:
        s = step["setImage"]
        set_image_with_fault(kube.apps, ns, s["deployment"], s["image"], s.get("fault"))
    elif "event" in step:
        e = step["event"]
        targets = [p.metadata.name for p in _pods(kube, ns, e["app"])] if e.get("kind", "Pod") == "Pod" else [e["name"]]
        for name in targets[:1]:
            kube.core.create_namespaced_event(ns, client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name=f"{name}."), type=e.get("type", "Warning"), reason=e["reason"],
                message=e["message"], count=e.get("count", 1), involved_object=client.V1ObjectReference(
                    kind=e.get("kind", "Pod"), name=name, namespace=ns)))
    elif "createJobFrom" in step:  # what `kubectl create job NAME --from=cronjob/CRONJOB` does
        s = step["createJobFrom"]
        cron = kube.batch.read_namespaced_cron_job(s["cronjob"], ns)
        tmpl = cron.spec.job_template
        kube.batch.create_namespaced_job(ns, client.V1Job(
            metadata=client.V1ObjectMeta(name=s["name"], labels=(tmpl.metadata.labels if tmpl.metadata else None),
                                         annotations={"cronjob.kubernetes.io/instantiate": "manual"},
                                         owner_references=[client.V1OwnerReference(
                                             api_version="batch/v1", kind="CronJob", name=cron.metadata.name,
                                             uid=cron.metadata.uid, controller=True)]),
            spec=tmpl.spec))
    elif "waitJobFailed" in step:
        name = step["waitJobFailed"]
        _wait(lambda: any(c.type == "Failed" and c.status == "True"
                          for c in kube.batch.read_namespaced_job(name, ns).status.conditions or []), 120, f"Job {name} failed")
    elif "waitJobComplete" in step:
        name = step["waitJobComplete"]
        _wait(lambda: any(c.type == "Complete" and c.status == "True"
                          for c in kube.batch.read_namespaced_job(name, ns).status.conditions or []), 120, f"Job {name} complete")
    elif "waitEvent" in step:
        reason = step["waitEvent"]
        _wait(lambda: any(e.reason == reason for e in kube.core.list_namespaced_event(ns).items), 120, f"Event {reason}")
    elif "waitSettled" in step:
        _wait(lambda: _settled(kube, ns), 60, "pods settled")
    else:
        raise ValueError(f"unknown step {step}")


def _with_ns(dims: dict[str, str], ns: str, cluster: str) -> dict[str, str]:
    """A scenario's dimensions as a set Container Insights publishes: pod metrics {ClusterName, Namespace,
    PodName}, node metrics {ClusterName, InstanceId, NodeName} (tests/fixtures/aws/container-insights-
    dimension-sets.json). A scenario names the node only; its instance ID is made up, stable per name."""
    out = {"ClusterName": cluster}
    node_level = "NodeName" in dims and "Namespace" not in dims and "PodName" not in dims
    if not node_level:
        out["Namespace"] = ns
    elif "InstanceId" not in dims:
        out["InstanceId"] = "i-" + hashlib.sha256(dims["NodeName"].encode()).hexdigest()[:17]
    return out | {k: v for k, v in dims.items() if k != "Namespace"}


def load_metrics(sc: Scenario, ns: str, settings: Settings) -> int:
    if not sc.metrics or not (settings.aws_endpoint_url or settings.aws_region):
        return 0
    import boto3
    cw = boto3.client("cloudwatch", region_name=settings.aws_region or "us-east-1", endpoint_url=settings.aws_endpoint_url)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for s in sc.metrics:
        dims = _with_ns(s.dimensions, ns, settings.cluster_name or "local")
        cw.put_metric_data(Namespace="ContainerInsights", MetricData=[
            {"MetricName": s.metric, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
             "Timestamp": now - timedelta(seconds=s.period * (len(s.values) - i)), "Value": v}
            for i, v in enumerate(s.values)])
    return len(sc.metrics)


def load_logs(sc: Scenario, ns: str, settings: Settings) -> int:
    if not sc.logs or not settings.opensearch_url:
        return 0
    import requests
    now = datetime.now(timezone.utc)
    lines = []
    for entry in sc.logs:
        doc = {k: v for k, v in entry.items() if k not in ("minutesAgo", "pod")}
        doc["@timestamp"] = (now - timedelta(minutes=float(entry.get("minutesAgo", 1)))).isoformat()
        doc["kubernetes"] = {"pod_name": entry.get("pod", "app") + f"-{ns[-4:]}", "namespace_name": ns}
        lines.append(json.dumps({"index": {"_index": settings.opensearch_index}}) + "\n" + json.dumps(doc) + "\n")
    r = requests.post(f"{settings.opensearch_url}/_bulk?refresh=true", data="".join(lines).encode(),
                      headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    r.raise_for_status()
    return len(lines)


def alarm_record(sc: Scenario, ns: str, cluster: str) -> dict[str, Any]:
    """The scenario's alarm as DescribeAlarms would show it, notified the way CloudWatch does."""
    a = sc.alarm
    alarm = {"AlarmName": a.name, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{a.name}",
             "MetricName": a.metric, "Namespace": "ContainerInsights", "Statistic": "Average", "Period": a.period,
             "EvaluationPeriods": a.evaluation_periods, "ComparisonOperator": a.comparison, "Threshold": a.threshold,
             "Dimensions": [{"Name": k, "Value": v} for k, v in _with_ns(a.dimensions, ns, cluster).items()]}
    return notification_record(cloudwatch_message(alarm, "OK", "ALARM", a.reason))


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def stage(path: Path, kube: Kube, settings: Settings, *, remediation: str | None = None,
          namespace_prefix: str = "scn") -> tuple[Scenario, str, str, float, float]:
    """Everything but the wait: the scenario's namespace, objects, steps, metrics and logs, then its alarm
    through the bridge. (scenario, namespace, Incident name, alarm sent at, Incident created at).
    `remediation` overrides the scenario's; `namespace_prefix` names the fresh namespace."""
    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter

    sc = Scenario.load(path)
    if remediation:
        sc.remediation = remediation
    ns = f"{namespace_prefix}-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ns, labels={"netaiops.io/scenario": sc.name[:63]})))
    _wait(lambda: kube.core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items, 30, "ServiceAccount")
    api = kube.core.api_client
    try:
        nodes = {d["metadata"]["name"]: f"{d['metadata']['name']}-{ns}" for d in sc.manifests if d.get("kind") == "Node"}
        if nodes:  # the scenario's own nodes under this run's names: references to them follow
            sc = with_node_names(sc, nodes, ns)
        # the scenario's nodes first, Ready and without the node controller's not-ready taint before any pod is
        # scheduled (else the scheduler's first word is "untolerated taint", not the scenario's fault)
        for doc in [d for d in sc.manifests if d.get("kind") == "Node"]:
            utils.create_from_dict(api, scenario_node(doc, ns, sc.name), namespace=ns)
        for node in nodes.values():
            _wait(lambda: _node_ready(kube, node), 60, f"node {node} Ready and untainted")
        for doc in [d for d in sc.manifests if d.get("kind") != "Node"]:
            if doc.get("kind") == "PersistentVolume":  # cluster-scoped: made this run's own (delete_cluster_objects)
                doc = scenario_volume(doc, ns, sc.name)
            utils.create_from_dict(api, doc, namespace=ns)
        for step in sc.steps:
            run_step(kube, ns, step)
        _wait(lambda: _settled(kube, ns), 60, "pods settled")
        load_metrics(sc, ns, settings)
        load_logs(sc, ns, settings)
        writer = IncidentWriter(api, BridgeConfig(namespace=ns, remediation=sc.remediation))
        sent = time.time()
        result = handle({"Records": [alarm_record(sc, ns, settings.cluster_name or "local")]}, None, writer)["results"][0]
    except BaseException:  # nothing cluster-scoped outlives a run that did not get to its Incident
        delete_cluster_objects(kube, ns)
        raise
    return sc, ns, result["incident"], sent, time.time()


VOLUME_OF = "netaiops.io/scenario-namespace"


def scenario_volume(doc: dict[str, Any], ns: str, scenario: str) -> dict[str, Any]:
    """A scenario's PersistentVolume in this run's namespace: its name suffixed with the namespace, its claimRef (a
    deleted claim it still holds) pointing into the namespace, labelled for delete_volumes."""
    doc = json.loads(json.dumps(doc))
    meta = doc.setdefault("metadata", {})
    meta["name"] = f"{meta['name']}-{ns}"
    meta.setdefault("labels", {}).update({"netaiops.io/scenario": scenario[:63], VOLUME_OF: ns})
    ref = (doc.get("spec") or {}).get("claimRef")
    if ref:
        ref["namespace"] = ns
    return doc


def scenario_node(doc: dict[str, Any], ns: str, scenario: str) -> dict[str, Any]:
    """A scenario's Node for this run: named `<name>-<namespace>` (with_node_names renamed the references), annotated
    as hack/local-cluster.sh annotates the nodes kwok manages (kwok then keeps it Ready and runs its pods), labelled for
    delete_cluster_objects. Its `status` (allocatable, capacity) is the scenario's."""
    doc = json.loads(json.dumps(doc))
    meta = doc.setdefault("metadata", {})
    meta["name"] = name = f"{meta['name']}-{ns}"
    meta.setdefault("annotations", {}).update({"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"})
    meta.setdefault("labels", {}).update({
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok",
        "netaiops.io/scenario": scenario[:63], VOLUME_OF: ns})
    # only this run's pods (with_node_names gives them the toleration) land on it: not another replay's, nor a DaemonSet's
    spec = doc.setdefault("spec", {})
    spec["taints"] = [*spec.get("taints", []), {"key": VOLUME_OF, "value": ns, "effect": "NoSchedule"}]
    return doc


HOSTNAME = "kubernetes.io/hostname"


def _renamed(value: Any, nodes: dict[str, str]) -> Any:
    """References to a scenario's nodes — `nodeName`, a `kubernetes.io/hostname` selector or affinity term, a
    `NodeName` dimension — renamed; nothing else is touched."""
    if isinstance(value, list):
        return [_renamed(v, nodes) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k in ("nodeName", HOSTNAME, "NodeName") and isinstance(v, str):
            out[k] = nodes.get(v, v)
        elif k == "values" and value.get("key") == HOSTNAME and isinstance(v, list):
            out[k] = [nodes.get(x, x) for x in v]
        else:
            out[k] = _renamed(v, nodes)
    return out


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return [spec]
    if doc.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return [template.setdefault("spec", {})] if template else []


def with_node_names(sc: Scenario, nodes: dict[str, str], ns: str) -> Scenario:
    """The scenario with its nodes' names for this run, and its pods tolerating the taint scenario_node puts on them."""
    data = sc.model_dump(by_alias=True)
    data.update({k: _renamed(data[k], nodes) for k in ("manifests", "steps", "metrics", "alarm")})
    for doc in data["manifests"]:
        for spec in _pod_specs(doc):
            spec["tolerations"] = [*spec.get("tolerations", []),
                                   {"key": VOLUME_OF, "operator": "Equal", "value": ns, "effect": "NoSchedule"}]
    return Scenario.model_validate(data)


def delete_cluster_objects(kube: Kube, ns: str) -> None:
    """The cluster-scoped objects a run in `ns` made — PersistentVolumes, Nodes — which deleting the namespace leaves.
    Only those labelled with this run's namespace and named after it: a node or volume the run did not make is never
    touched."""
    for lister, deleter in ((kube.core.list_persistent_volume, kube.core.delete_persistent_volume),
                            (kube.core.list_node, kube.core.delete_node)):
        try:
            items = lister(label_selector=f"{VOLUME_OF}={ns}").items
        except client.ApiException:
            continue
        for obj in items:
            if not obj.metadata.name.endswith(f"-{ns}"):
                continue
            try:
                deleter(obj.metadata.name)
            except client.ApiException:
                pass


def replay(path: Path, kube: Kube, settings: Settings, timeout: float = 90) -> dict[str, Any]:
    sc, ns, name, sent, created = stage(path, kube, settings)

    def finished():
        inc = kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        return inc if (inc.get("status") or {}).get("phase") in FINISHED_PHASES else None
    try:
        st = _wait(finished, timeout, f"Incident {ns}/{name}")["status"]
    finally:
        delete_cluster_objects(kube, ns)
    kinds = [c["kind"] for c in st.get("causes") or []]
    confidence = (st.get("causes") or [{}])[0].get("confidence")
    acted = next((a for a in st.get("actions") or [] if a.get("state") in ("succeeded", "dry-run")), None)
    remediation = acted["action"] if acted else "none"
    expected = sc.expected.as_dict()
    top1, top3 = hit(kinds, expected)
    reported = _ts((st.get("phases") or {}).get("Reporting", {}).get("finishedAt"))
    resolved = _ts(st.get("finishedAt"))
    return {
        "scenario": sc.name, "namespace": ns, "incident": name,
        "expected": expected,
        "got": {"topCause": kinds[0] if kinds else None, "causes": kinds[:3], "remediation": remediation,
                "confidence": confidence,
                "remediationState": acted["state"] if acted else None,
                "phase": st.get("phase"), "engine": st.get("engine"),
                "target": (st.get("target") or {}).get("kind") or ("Pod" if (st.get("target") or {}).get("pod") else None),
                "causeConfidences": [c.get("confidence") for c in (st.get("causes") or [])[:5]]},
        "pass": passed(kinds, expected, remediation), "top1": top1, "top3": top3,
        "timings": {"alarmToIncident": round(created - sent, 3),
                    "alarmToReport": round(reported - sent, 3) if reported else None,
                    "alarmToResolved": round(resolved - sent, 3) if resolved else None},
    }
