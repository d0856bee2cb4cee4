"""The collected evidence bundle, kept beside its Incident in a ConfigMap it owns (gzip + base64).

Later phases and restarts read it back instead of collecting twice; `incident-operator evidence NAME`
prints it for replay through `incident-operator analyze`.
"""

from __future__ import annotations

import base64
import gzip

from kubernetes import client

from .constants import API_VERSION, EVIDENCE_CONFIGMAP_SUFFIX, KIND
from .kube.client import Kube, is_not_found
from .models.evidence import EvidenceBundle

KEY = "evidence.json.gz"


def configmap_name(incident: str) -> str:
    return (incident[: 253 - len(EVIDENCE_CONFIGMAP_SUFFIX)] + EVIDENCE_CONFIGMAP_SUFFIX)


def save(kube: Kube, incident: dict, bundle: EvidenceBundle) -> str:
    meta = incident["metadata"]
    name = configmap_name(meta["name"])
    data = base64.b64encode(gzip.compress(bundle.model_dump_json(by_alias=True, exclude_none=True).encode())).decode()
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=name, namespace=meta["namespace"], labels={"app.kubernetes.io/managed-by": "incident-operator"},
            owner_references=[client.V1OwnerReference(api_version=API_VERSION, kind=KIND, name=meta["name"],
                                                      uid=meta["uid"], controller=True)]),
        binary_data={KEY: data})
    try:
        kube.core.create_namespaced_config_map(meta["namespace"], cm)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        kube.core.replace_namespaced_config_map(name, meta["namespace"], cm)
    return name


def load(kube: Kube, namespace: str, incident_name: str) -> EvidenceBundle | None:
    try:
        cm = kube.core.read_namespaced_config_map(configmap_name(incident_name), namespace)
    except client.ApiException as exc:
        if is_not_found(exc):
            return None
        raise
    raw = (cm.binary_data or {}).get(KEY)
    if not raw:
        return None
    return EvidenceBundle.model_validate_json(gzip.decompress(base64.b64decode(raw)))
