#!/usr/bin/env python3
"""`make demo`: a local control plane, the operator, and three really broken workloads.

1. starts the local control plane (hack/local-cluster.sh up) and installs the CRDs;
2. runs `incident-operator run` in the background;
3. breaks three Deployments the way the seed's chaos scenarios do: a stress-ng CPU burner, a
   rollout stuck on an image that does not exist, a Deployment scaled to 0;
4. creates one Incident per breakage, shaped like the bridge Lambda makes them from CloudWatch alarms,
   prints each Incident as it walks the phases, then `kubectl get incidents` and a Korean report.
The cluster stays up afterwards (`make cluster-down` stops it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from kubernetes import client, config  # noqa: E402

from tests.support import scenarios, workloads  # noqa: E402
from tests.support.cluster import ensure_cluster, install_crds, kubectl_path, wait_for  # noqa: E402
from incident_operator.kube.client import Kube  # noqa: E402

NS = "demo"
CLUSTER = "netaiops-demo"


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def alarm(name: str, metric: str, threshold: float, **dims: str) -> dict:
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"name": name, "state": "ALARM", "previousState": "OK", "threshold": threshold, "timestamp": now,
            "metric": {"name": metric, "namespace": "ContainerInsights", "statistic": "Average", "period": 60,
                       "evaluationPeriods": 3, "comparisonOperator": "GreaterThanThreshold"},
            "dimensions": {"ClusterName": CLUSTER, **dims}, "region": "ap-northeast-2",
            "arn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}",
            "reason": f"Threshold Crossed: 2 out of the last 3 datapoints were greater than the threshold ({threshold})."}


def main() -> int:
    started = time.monotonic()
    say("local control plane")
    kubeconfig, _ = ensure_cluster()
    os.environ["KUBECONFIG"] = kubeconfig
    config.load_kube_config(config_file=kubeconfig)
    install_crds(client.ApiClient())
    kube = Kube.connect(client.ApiClient())
    try:
        kube.core.delete_namespace(NS)
        wait_for(lambda: NS not in [n.metadata.name for n in kube.core.list_namespace().items], 60, "old demo namespace gone")
    except client.ApiException:
        pass
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    wait_for(lambda: kube.core.read_namespaced_service_account("default", NS), 30, "default ServiceAccount")

    say("breaking three workloads (stress-ng CPU burner, invalid image, scaled to 0)")
    scenarios.cpu_burner(kube, NS, "cpu-burner")
    scenarios.bad_rollout(kube, NS, "checkout", "nginx:9.99-does-not-exist")
    scenarios.scaled_to_zero(kube, NS, "catalog", replicas=3)

    say("Container Insights on a local AWS endpoint: the burner's measured CPU (a burner is deleted only on it)")
    from tests.support.aws import REGION, LocalAws
    aws = LocalAws()
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    aws.client("cloudwatch").put_metric_data(Namespace="ContainerInsights", MetricData=[
        {"MetricName": "pod_cpu_utilization", "Timestamp": now - timedelta(minutes=5 - i), "Value": v, "Unit": "Percent",
         "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "Namespace", "Value": NS},
                        {"Name": "PodName", "Value": "cpu-burner"}]} for i, v in enumerate([35, 88, 97, 99, 99])])

    say("starting incident-operator (log: .local/logs/operator.log)")
    (ROOT / ".local" / "logs").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / ".local" / "logs" / "operator.log", "ab")
    op = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "run", "-n", NS, "--standalone"],
                          stdout=log, stderr=subprocess.STDOUT,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", "INCIDENT_AWS_ENDPOINT_URL": aws.endpoint,
                               "INCIDENT_AWS_REGION": REGION, "INCIDENT_CLUSTER_NAME": CLUSTER})
    try:
        incidents = {
            "cpu-spike": workloads.incident("cpu-spike", alarm=alarm("netaiops-cpu-spike", "pod_cpu_utilization", 80, Namespace=NS, PodName="cpu-burner")),
            "bad-image": workloads.incident("bad-image", alarm=alarm("netaiops-pod-restarts", "pod_number_of_container_restarts", 3, Namespace=NS, PodName="checkout")),
            "scaled-zero": workloads.incident("scaled-zero", target={"namespace": NS, "kind": "Deployment", "name": "catalog"}, severity="medium"),
        }
        for name, body in incidents.items():
            body["metadata"]["namespace"] = NS
            kube.custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", NS, "incidents", body)
        say("Incidents walking the phases")
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for name in incidents:
                st = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", NS, "incidents", name).get("status") or {}
                phase = st.get("phase", "Pending")
                if seen.get(name) != phase:
                    seen[name] = phase
                    print(f"  {time.strftime('%H:%M:%S')}  {name:<12} → {phase:<11} {st.get('topCause') or ''}", flush=True)
            if all(p in ("Resolved", "NeedsAction", "Failed") for p in seen.values()) and len(seen) == len(incidents):
                break
            time.sleep(0.1)
    finally:
        op.terminate()
        op.wait(20)
        aws.stop()
    kubectl = kubectl_path()
    say("kubectl get incidents -n demo")
    subprocess.run([kubectl, "get", "incidents", "-n", NS], check=False)
    say("workloads after remediation")
    subprocess.run([kubectl, "get", "deployments", "-n", NS, "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,IMAGE:.spec.template.spec.containers[0].image"], check=False)
    say("incident-operator report bad-image -n demo")
    subprocess.run([sys.executable, "-m", "incident_operator.cli", "report", "bad-image", "-n", NS], check=False)
    ok = all(p == "Resolved" for p in seen.values())
    say(f"demo {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.1f}s; cluster left up (make cluster-down)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
