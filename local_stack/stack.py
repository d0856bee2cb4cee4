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
def operator(env: dict[str, str], log: Path, extra: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """`incident-operator run` over all namespaces, as its own process."""
    out = open(log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "run", "--standalone"],
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
