"""Every kubelet-side fault of local_stack.faults applied at once on the real node, each filed as an Incident once
the kubelet shows it, all answered by one operator; the Incidents' statuses and the evidence the operator
collected for them. `tests/test_real_node.py` asserts on a run; `hack/record-scenarios.py` saves one as the
scenario corpus's recorded cases (scenarios/recorded/)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from . import faults as F
from .cluster import wait_for
from .stack import operator

TERMINAL = ("Resolved", "NeedsAction", "Failed")
GROUP, VERSION, PLURAL = "netaiops.io", "v1alpha1", "incidents"


@dataclass
class FaultRun:
    namespace: str
    shown: dict[str, float] = field(default_factory=dict)          # fault → seconds until the kubelet showed it
    missing: list[str] = field(default_factory=list)               # faults the kubelet never showed in time
    results: dict[str, tuple[F.Fault, dict[str, Any]]] = field(default_factory=dict)   # fault → (Fault, status)
    bundles: dict[str, Any] = field(default_factory=dict)          # fault → the EvidenceBundle the operator stored


def apply(kube: Any, ns: str, body: dict[str, Any]) -> None:
    kind = body["kind"]
    if kind == "Deployment":
        kube.apps.create_namespaced_deployment(ns, body)
    elif kind == "ConfigMap":
        kube.core.create_namespaced_config_map(ns, body)
    elif kind == "Service":
        kube.core.create_namespaced_service(ns, body)
    else:
        raise ValueError(kind)


def pods(kube: Any, ns: str, app: str) -> list[Any]:
    return kube.core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def pod_peak(cloudwatch: Any, cluster: str, ns: str, pod: str, metric: str) -> float | None:
    """The highest one-minute average of a pod's Container Insights metric in the last ten minutes (what the
    operator reads: the minute's average, not one sample)."""
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    res = cloudwatch.get_metric_statistics(
        Namespace="ContainerInsights", MetricName=metric, StartTime=end - timedelta(minutes=10), EndTime=end,
        Period=60, Statistics=["Average"],
        Dimensions=[{"Name": "ClusterName", "Value": cluster}, {"Name": "Namespace", "Value": ns},
                    {"Name": "PodName", "Value": pod}])
    points = [p["Average"] for p in res["Datapoints"]]
    return max(points) if points else None


def run_faults(kube: Any, ns: str, cloudwatch: Any, cluster: str, operator_env: dict[str, str], log: Path,
               incident: Callable[..., dict[str, Any]], catalogue: list[F.Fault] | None = None,
               show_within: float = 150, answer_within: float = 120, agent: Any = None) -> FaultRun:
    """Apply every fault in `ns`, wait for the kubelet to show each (and, for CPU faults, Container Insights to
    have measured it), file an Incident for each shown one, run one operator until all are finished, and read
    back each status and stored evidence bundle. `incident(name, target=...)` makes the Incident body."""
    from incident_operator import evidence_store
    catalogue = catalogue if catalogue is not None else F.catalogue()
    run = FaultRun(namespace=ns)
    for f in catalogue:
        for body in f.setup + f.objects:
            apply(kube, ns, body)
    pending = {f.name: f for f in catalogue}
    started = time.monotonic()
    while pending and time.monotonic() < started + show_within:
        for name, f in list(pending.items()):
            if f.shows(pods(kube, ns, name)):
                run.shown[name] = time.monotonic() - started
                del pending[name]
        time.sleep(1)
    run.missing = sorted(pending)
    # CPU faults are judged on what they really burned: the agent must have measured it first
    for f in catalogue:
        if f.needs_metric and f.name in run.shown:
            metric, least = f.needs_metric
            wait_for(lambda: (pod_peak(cloudwatch, cluster, ns, f.name, metric) or 0) >= least, 90,
                     f"{f.name}: {metric} >= {least} in CloudWatch (seen {pod_peak(cloudwatch, cluster, ns, f.name, metric)}"
                     + (f"; agent: {agent.ticks} ticks, last error {agent.last_error})" if agent else ")"))
    with operator({"INCIDENT_METRICS_PORT": "0", **operator_env}, log, namespace=ns):
        for f in catalogue:
            if f.name in run.shown:
                kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, incident(
                    f.name, target={"namespace": ns, "kind": "Deployment", "name": f.name}))
        for f in catalogue:
            if f.name in run.shown:
                inc = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in TERMINAL else None)(
                    kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, f.name)), answer_within,
                    f"Incident {f.name} finished")
                run.results[f.name] = (f, inc["status"])
                run.bundles[f.name] = evidence_store.load(kube, ns, f.name)
    return run
