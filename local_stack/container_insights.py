"""Container Insights for the local stack: the real node's kubelet → CloudWatch metrics, as the agent does.

A local-stack component, not part of the operator. Each tick reads every real node's summary API
(`/api/v1/nodes/NODE/proxy/stats/summary`, through the API server) and the node's pods, and publishes to
the local CloudWatch endpoint (moto, through boto3) the metrics the seed's alarms and the operator's tools
read, with the names, units, formulas and dimension sets AWS documents:

- names and dimension sets: "Amazon EKS and Kubernetes Container Insights metrics"
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-EKS.html
  (node metrics: {ClusterName, InstanceId, NodeName} and {ClusterName}; pod metrics: {ClusterName, Namespace,
  PodName}, {ClusterName, Namespace}, {ClusterName, Namespace, Service}, {ClusterName};
  pod_number_of_container_restarts: {ClusterName, Namespace, PodName} only);
- formulas: "Relevant fields in performance log events for Amazon EKS and Kubernetes"
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-reference-performance-entries-EKS.html
  (pod_cpu_utilization = pod_cpu_usage_total / node_cpu_limit, usage in millicores;
  pod_cpu_utilization_over_pod_limit = pod_cpu_usage_total / sum(container_cpu_limit), absent when a
  container has no limit; pod_memory_utilization = pod_memory_working_set / node_memory_limit;
  node_cpu_utilization = node_cpu_usage_total / node_cpu_limit; network as bytes per second).

Container Insights' `PodName` is the pod's workload name (a Deployment's pods share it: the ReplicaSet's
hash and the pod's suffix are dropped); `InstanceId` is the EC2 instance id, here a stable `i-` id made from
the node's name (a local node has none).

The whole tick is a pure function from (summary, pods, node) to metric data (`node_metrics`); the loop and
the I/O are at the edges.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from .ticker import Ticker

NAMESPACE = "ContainerInsights"
CPU_PER_CORE = 1000.0  # millicores


def instance_id(node_name: str) -> str:
    return "i-0" + hashlib.sha1(node_name.encode()).hexdigest()[:16]


def workload_name(pod: dict[str, Any]) -> str:
    """Container Insights' PodName: the owner's name for a ReplicaSet's (Deployment's) pods, else the pod's."""
    meta = pod.get("metadata", {})
    owners = meta.get("ownerReferences") or []
    name = meta.get("name", "")
    if owners:
        owner = owners[0]
        if owner.get("kind") == "ReplicaSet":
            hash_ = (meta.get("labels") or {}).get("pod-template-hash")
            base = owner.get("name", "")
            return base[: -len(hash_) - 1] if hash_ and base.endswith("-" + hash_) else base
        return owner.get("name", name)
    return name


def quantity_cpu_millicores(q: str | None) -> float | None:
    if not q:
        return None
    if q.endswith("m"):
        return float(q[:-1])
    if q.endswith("n"):
        return float(q[:-1]) / 1e6
    return float(q) * CPU_PER_CORE


_MEM_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def quantity_bytes(q: str | None) -> float | None:
    if not q:
        return None
    for suffix, mult in sorted(_MEM_UNITS.items(), key=lambda kv: -len(kv[0])):
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * mult
    return float(q)


@dataclass
class Datum:
    name: str
    value: float
    unit: str
    dimensions: dict[str, str]

    def aws(self, when: datetime) -> dict[str, Any]:
        return {"MetricName": self.name, "Value": self.value, "Unit": self.unit, "Timestamp": when,
                "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()]}


@dataclass
class Rates:
    """Cumulative counters from the previous tick, for per-second rates (network bytes)."""
    seen: dict[str, tuple[float, float]] = field(default_factory=dict)

    def rate(self, key: str, counter: float | None, now: float) -> float | None:
        if counter is None:
            return None
        prev = self.seen.get(key)
        self.seen[key] = (counter, now)
        if not prev or now <= prev[1] or counter < prev[0]:
            return None
        return (counter - prev[0]) / (now - prev[1])


def _services_of(pod: dict[str, Any], services: list[dict[str, Any]]) -> list[str]:
    labels = pod.get("metadata", {}).get("labels") or {}
    out = []
    for svc in services:
        sel = (svc.get("spec") or {}).get("selector") or {}
        if sel and svc["metadata"]["namespace"] == pod["metadata"]["namespace"] and all(labels.get(k) == v for k, v in sel.items()):
            out.append(svc["metadata"]["name"])
    return out


def node_metrics(cluster: str, node: dict[str, Any], summary: dict[str, Any], pods: list[dict[str, Any]],
                 services: list[dict[str, Any]], rates: Rates, now: float) -> list[Datum]:
    """Every Container Insights datum for one node at one tick."""
    name = node["metadata"]["name"]
    capacity = (node.get("status") or {}).get("capacity") or {}
    node_cpu_limit = quantity_cpu_millicores(capacity.get("cpu")) or 0.0
    node_mem_limit = quantity_bytes(capacity.get("memory")) or 0.0
    ndims = [{"ClusterName": cluster, "InstanceId": instance_id(name), "NodeName": name}, {"ClusterName": cluster}]
    out: list[Datum] = []

    def emit(metric: str, value: float | None, unit: str, dim_sets: Iterable[dict[str, str]]) -> None:
        if value is None:
            return
        for dims in dim_sets:
            out.append(Datum(metric, round(value, 6), unit, dims))

    n = summary.get("node") or {}
    usage = (n.get("cpu") or {}).get("usageNanoCores")
    node_cpu = usage / 1e6 if usage is not None else None
    ws = (n.get("memory") or {}).get("workingSetBytes")
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if node_cpu is not None and node_cpu_limit:
        emit("node_cpu_utilization", 100.0 * node_cpu / node_cpu_limit, "Percent", ndims)
    emit("node_cpu_usage_total", node_cpu, "None", ndims[1:])
    emit("node_cpu_limit", node_cpu_limit, "None", ndims[1:])
    if ws is not None and node_mem_limit:
        emit("node_memory_utilization", 100.0 * ws / node_mem_limit, "Percent", ndims)
    emit("node_memory_working_set", ws, "Bytes", ndims[1:])
    emit("node_number_of_running_pods", float(len(running)), "Count", ndims)
    emit("node_number_of_running_containers",
         float(sum(sum(1 for s in (p.get("status") or {}).get("containerStatuses") or [] if "running" in (s.get("state") or {}))
                   for p in running)), "Count", ndims)
    fs = n.get("fs") or {}
    if fs.get("usedBytes") is not None and fs.get("capacityBytes"):
        emit("node_filesystem_utilization", 100.0 * fs["usedBytes"] / fs["capacityBytes"], "Percent", ndims)
    net = n.get("network") or {}
    rx = rates.rate(f"node/{name}/rx", net.get("rxBytes"), now)
    tx = rates.rate(f"node/{name}/tx", net.get("txBytes"), now)
    if rx is not None and tx is not None:
        emit("node_network_total_bytes", rx + tx, "Bytes/Second", ndims)

    stats = {(s["podRef"]["namespace"], s["podRef"]["name"]): s for s in summary.get("pods") or []}
    for pod in pods:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        ns, pod_name = meta["namespace"], meta["name"]
        base = {"ClusterName": cluster, "Namespace": ns, "PodName": workload_name(pod)}
        pdims = [base, {"ClusterName": cluster, "Namespace": ns}]
        pdims += [{"ClusterName": cluster, "Namespace": ns, "Service": s} for s in _services_of(pod, services)]
        pdims.append({"ClusterName": cluster})
        restarts = sum(s.get("restartCount", 0) for s in status.get("containerStatuses") or [])
        emit("pod_number_of_container_restarts", float(restarts), "Count", [base])
        st = stats.get((ns, pod_name))
        if not st:
            continue
        containers = spec.get("containers") or []
        limits = [quantity_cpu_millicores(((c.get("resources") or {}).get("limits") or {}).get("cpu")) for c in containers]
        mem_limits = [quantity_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory")) for c in containers]
        # usageNanoCores is a rate between two of cAdvisor's samples: a container started since the last one
        # has none yet, and the agent (which differentiates cumulative counters) has no value either — a pod
        # with any container's rate unknown gets no CPU datapoint this tick rather than a made-up 0
        usage = [(c.get("cpu") or {}).get("usageNanoCores") for c in st.get("containers") or []]
        cpu_known = bool(usage) and all(u is not None for u in usage)
        pod_cpu = sum(u or 0 for u in usage) / 1e6
        pod_ws = sum((c.get("memory") or {}).get("workingSetBytes") or 0 for c in st.get("containers") or [])
        if node_cpu_limit and cpu_known:
            emit("pod_cpu_utilization", 100.0 * pod_cpu / node_cpu_limit, "Percent", pdims)
        if cpu_known and limits and all(x for x in limits):
            emit("pod_cpu_utilization_over_pod_limit", 100.0 * pod_cpu / sum(limits), "Percent", pdims)  # type: ignore[arg-type]
        if node_mem_limit:
            emit("pod_memory_utilization", 100.0 * pod_ws / node_mem_limit, "Percent", pdims)
        if mem_limits and all(x for x in mem_limits):
            emit("pod_memory_utilization_over_pod_limit", 100.0 * pod_ws / sum(mem_limits), "Percent", pdims)  # type: ignore[arg-type]
        pnet = st.get("network") or {}
        prx = rates.rate(f"pod/{ns}/{pod_name}/rx", pnet.get("rxBytes"), now)
        ptx = rates.rate(f"pod/{ns}/{pod_name}/tx", pnet.get("txBytes"), now)
        emit("pod_network_rx_bytes", prx, "Bytes/Second", pdims)
        emit("pod_network_tx_bytes", ptx, "Bytes/Second", pdims)
    return out


class Publisher(Ticker):
    """The agent's loop: every `interval` seconds, every node with a kubelet → put_metric_data."""
    thread_name = "container-insights"

    def __init__(self, api_client: Any, cloudwatch: Any, cluster: str, interval: float = 10.0,
                 node_selector: str = "netaiops.io/real-node=true"):
        from kubernetes import client
        self.core = client.CoreV1Api(api_client)
        self.cw, self.cluster, self.interval, self.node_selector = cloudwatch, cluster, interval, node_selector
        self.rates = Rates()
        self.ticks = 0
        self.last_error: str | None = None

    def tick(self) -> list[Datum]:
        import json
        import time
        raw = {"_preload_content": False}
        nodes = json.loads(self.core.list_node(label_selector=self.node_selector, **raw).data)["items"]
        services = json.loads(self.core.list_service_for_all_namespaces(**raw).data)["items"]
        data: list[Datum] = []
        for node in nodes:
            name = node["metadata"]["name"]
            summary = json.loads(self.core.connect_get_node_proxy_with_path(name, "stats/summary", **raw).data)
            pods = json.loads(self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}", **raw).data)["items"]
            data += node_metrics(self.cluster, node, summary, pods, services, self.rates, time.monotonic())
        when = datetime.now(timezone.utc)
        for i in range(0, len(data), 500):  # PutMetricData takes up to 1,000 metrics per call
            self.cw.put_metric_data(Namespace=NAMESPACE, MetricData=[d.aws(when) for d in data[i:i + 500]])
        self.ticks += 1
        return data
