"""Fixtures: the real control plane (started once per session), a namespace per test, the operator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
from kubernetes import client, config

from incident_operator.constants import GROUP, PLURAL, VERSION
from incident_operator.kube.client import Kube
from incident_operator.settings import Settings

from local_stack.cluster import ROOT, ensure_cluster, install_crds, stop_cluster, wait_for


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[str]:
    path, started = ensure_cluster()
    os.environ["KUBECONFIG"] = path
    config.load_kube_config(config_file=path)
    install_crds(client.ApiClient())
    yield path
    if started and not os.environ.get("INCIDENT_KEEP_CLUSTER"):
        stop_cluster()


@pytest.fixture(scope="session")
def kube(kubeconfig: str) -> Kube:
    return Kube.connect(client.ApiClient())


@pytest.fixture
def ns(kube: Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: kube.core.read_namespaced_service_account("default", name), 30, "default ServiceAccount")
    yield name
    try:
        kube.core.delete_namespace(name)
    except client.ApiException:
        pass


@pytest.fixture
def settings() -> Settings:
    return Settings(max_attempts=2, backoff_seconds=0.1, source_timeout_seconds=10)


class Incidents:
    """Create and read Incidents through the real API."""

    def __init__(self, kube: Kube, namespace: str):
        self.kube, self.namespace = kube, namespace

    def create(self, body: dict) -> dict:
        return self.kube.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def get(self, name: str) -> dict:
        return self.kube.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def wait_phase(self, name: str, phases: tuple[str, ...] | str, timeout: float = 60) -> dict:
        phases = (phases,) if isinstance(phases, str) else phases
        return wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in phases else None)(self.get(name)),
                        timeout, f"Incident {name} in {phases}")

    def events(self, name: str, reason: str | None = None) -> list[client.CoreV1Event]:
        items = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=Incident").items
        return [e for e in items if reason is None or e.reason == reason]


@pytest.fixture
def incidents(kube: Kube, ns: str) -> Incidents:
    return Incidents(kube, ns)


class OperatorProcess:
    def __init__(self, namespace: str, env: dict[str, str], log: Path, extra_args: list[str]):
        self.log_path = log
        self._log = open(log, "ab")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "INCIDENT_METRICS_PORT": "0", **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incident_operator.cli", "run", "-n", namespace, *extra_args],
            env=full_env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_exit(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_operator(ns: str, tmp_path: Path, kubeconfig: str) -> Iterator[Callable[..., OperatorProcess]]:
    procs: list[OperatorProcess] = []

    def start(env: dict[str, str] | None = None, standalone: bool = True, name: str = "operator") -> OperatorProcess:
        p = OperatorProcess(ns, {"KUBECONFIG": kubeconfig, **(env or {})}, tmp_path / f"{name}.log",
                            ["--standalone"] if standalone else [])
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


@pytest.fixture
def wait() -> Callable:
    return wait_for


__all__ = ["Incidents", "OperatorProcess", "time"]


@pytest.fixture
def make_namespace(kube: Kube) -> Iterator[Callable[[str], str]]:
    """More namespaces for a test (another tenant, an incident namespace), deleted after it."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        wait_for(lambda: kube.core.read_namespaced_service_account("default", name), 30, "default ServiceAccount")
        made.append(name)
        return name
    yield make
    for name in made:
        try:
            kube.core.delete_namespace(name)
        except client.ApiException:
            pass


@pytest.fixture
def github() -> Iterator["GitHubServer"]:
    """The GitHub REST stand-in (driven by PyGithub)."""
    from local_stack.github_server import GitHubServer
    server = GitHubServer()
    yield server
    server.stop()


@pytest.fixture
def bedrock() -> Iterator["BedrockServer"]:
    """The Bedrock Converse stand-in (driven by strands' BedrockModel)."""
    from local_stack.bedrock_server import BedrockServer
    server = BedrockServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aws() -> Iterator["LocalAws"]:
    from local_stack.aws import LocalAws
    server = LocalAws()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def opensearch() -> Iterator["LocalOpenSearch"]:
    from local_stack.opensearch import LocalOpenSearch
    node = LocalOpenSearch()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def real_node(kube):
    """The local cluster's real node (kubelet + containerd), Ready; skipped only when the cluster was started
    without it on purpose (LOCAL_CLUSTER_REAL_NODE=0)."""
    from local_stack.real_node import NODE_NAME
    if os.environ.get("LOCAL_CLUSTER_REAL_NODE") == "0":
        pytest.skip("LOCAL_CLUSTER_REAL_NODE=0: the local cluster was started without its real node")

    def ready():
        node = kube.core.read_node(NODE_NAME)
        return node if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []) else None
    return wait_for(ready, 90, f"node {NODE_NAME} Ready (hack/local-cluster.sh up starts it)")


@pytest.fixture(scope="session")
def lambda_zip() -> Path:
    """build/bridge-lambda.zip as `make lambda-zip` builds it (hack/build-lambda.sh), once per session."""
    cache = {k: os.environ[k] for k in ("HOME", "INCIDENT_OPERATOR_CACHE") if k in os.environ}  # its dependency cache
    subprocess.run(["bash", str(ROOT / "hack" / "build-lambda.sh")], check=True, capture_output=True,
                   env={"PY": sys.executable, "PATH": "/usr/bin:/bin", **cache})
    return ROOT / "build" / "bridge-lambda.zip"
