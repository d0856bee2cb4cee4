"""The real kube-apiserver the tests run against: $KUBECONFIG if it reaches a cluster, else our own."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable, TypeVar

import yaml
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "hack" / "local-cluster.sh"
T = TypeVar("T")


def reachable(kubeconfig: str) -> bool:
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        client.VersionApi(api).get_code(_request_timeout=5)
        return True
    except Exception:  # noqa: BLE001
        return False


def ensure_cluster() -> tuple[str, bool]:
    """Return (kubeconfig path, whether we started it)."""
    user = os.environ.get("KUBECONFIG")
    if user and Path(user).exists() and reachable(user):
        return user, False
    local = ROOT / ".local" / "kubeconfig"
    if local.exists() and reachable(str(local)):
        return str(local), False
    subprocess.run(["bash", str(SCRIPT), "up"], check=True)
    return str(local), True


def stop_cluster() -> None:
    subprocess.run(["bash", str(SCRIPT), "down"], check=False)


def create_or_replace(doc: dict, read: Callable, replace: Callable, create: Callable) -> None:
    """A cluster-scoped object as `doc` says: replaced at its current resourceVersion, or created when absent."""
    name = doc["metadata"]["name"]
    try:
        doc["metadata"]["resourceVersion"] = read(name).metadata.resource_version
        replace(name, doc)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        doc["metadata"].pop("resourceVersion", None)
        create(doc)


def install_crds(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            name = doc["metadata"]["name"]
            create_or_replace(doc, ext.read_custom_resource_definition, ext.replace_custom_resource_definition,
                              ext.create_custom_resource_definition)
            wait_for(lambda: any(c.type == "Established" and c.status == "True"
                                 for c in (ext.read_custom_resource_definition(name).status.conditions or [])),
                     30, f"CRD {name} established")


def apply_cluster_docs(api: client.ApiClient, path: Path, names: set[str]) -> None:
    """Create or replace the named cluster-scoped documents of a manifest (admission policies, ClusterRoles)."""
    adm = client.AdmissionregistrationV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    ops = {"ValidatingAdmissionPolicy": (adm.read_validating_admission_policy, adm.replace_validating_admission_policy,
                                         adm.create_validating_admission_policy),
           "ValidatingAdmissionPolicyBinding": (adm.read_validating_admission_policy_binding,
                                                adm.replace_validating_admission_policy_binding,
                                                adm.create_validating_admission_policy_binding),
           "ClusterRole": (rbac.read_cluster_role, rbac.replace_cluster_role, rbac.create_cluster_role)}
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc["metadata"]["name"] not in names:
            continue
        create_or_replace(doc, *ops[doc["kind"]])


def wait_for(predicate: Callable[[], T], timeout: float = 30, what: str = "condition", interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except client.ApiException as exc:
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


def kubectl_path() -> str:
    """The kubectl built with the local control plane (hack/local-cluster.sh env)."""
    out = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KUBECTL="))
