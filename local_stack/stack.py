"""The local stack the scenarios and benchmarks run on: control plane, moto, OpenSearch, the operator."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .cluster import ROOT


def stack_env(kubeconfig: str, aws_endpoint: str, opensearch_url: str, index: str = "eks-app-logs") -> dict[str, str]:
    return {"KUBECONFIG": kubeconfig, "INCIDENT_AWS_ENDPOINT_URL": aws_endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
            "INCIDENT_CLUSTER_NAME": "local", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "INCIDENT_OPENSEARCH_URL": opensearch_url, "INCIDENT_OPENSEARCH_INDEX": index,
            "INCIDENT_METRICS_PORT": "0",
            # the bridge writes each scenario's Incident into the scenario's namespace: those act as
            # the operator's incident namespaces (node alarms need one)
            "INCIDENT_INCIDENT_NAMESPACES": "incident-operator,scn-*,bench-*"}


@contextmanager
def operator(env: dict[str, str], log: Path, extra: dict[str, str] | None = None,
             namespace: str | None = None) -> Iterator[subprocess.Popen]:
    """`incident-operator run` over all namespaces (or one), as its own process."""
    out = open(log, "ab")
    scope = ["-n", namespace] if namespace else []
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "run", *scope, "--standalone"],
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env, **(extra or {})},
                            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def local_cluster(real_node: bool = True):
    """The local control plane (started if it is not running) with the CRDs installed and KUBECONFIG set for
    this process and its children; with `real_node`, once the real node is Ready. (kubeconfig path, Kube)"""
    from kubernetes import client, config

    from incident_operator.kube.client import Kube

    from .cluster import apply_cluster_docs, ensure_cluster, install_crds, wait_for
    from .real_node import NODE_NAME

    kubeconfig, _ = ensure_cluster()
    os.environ["KUBECONFIG"] = kubeconfig
    config.load_kube_config(config_file=kubeconfig)
    install_crds(client.ApiClient())
    # the admission policy that records an approver as the API server's user: without it no approval is trusted
    apply_cluster_docs(client.ApiClient(), ROOT / "manifests" / "admission.yaml", {"incident-operator-approvals"})
    kube = Kube.connect(client.ApiClient())
    if real_node:
        wait_for(lambda: any(c.type == "Ready" and c.status == "True"
                             for c in kube.core.read_node(NODE_NAME).status.conditions or []), 90, f"node {NODE_NAME} Ready")
    return kubeconfig, kube
