"""The collected evidence bundle, kept beside its Incident in a ConfigMap it owns (gzip + base64).

Later phases and restarts read it back instead of collecting twice; `incident-operator evidence NAME`
prints it for replay through `incident-operator analyze`.

The bundle is redacted before it is written (the ConfigMap is readable by whoever can read the
namespace). The operator writes only ConfigMaps it owns: one that already exists under the name it
wants, owned by something else (a user's `payments-evidence`), is never replaced; the evidence goes
under a name carrying the Incident's uid instead, recorded in `status.evidence.configMap`.
"""

from __future__ import annotations

import base64
import gzip
import json

from kubernetes import client

from .constants import API_VERSION, EVIDENCE_CONFIGMAP_SUFFIX, KIND
from .kube.client import Kube, is_not_found
from .models.evidence import EvidenceBundle
from .redact import redact_data

KEY = "evidence.json.gz"
MANAGED_BY = {"app.kubernetes.io/managed-by": "incident-operator"}


class NotOwned(Exception):
    """A ConfigMap of that name exists and belongs to someone else."""


def configmap_name(incident: str) -> str:
    return (incident[: 253 - len(EVIDENCE_CONFIGMAP_SUFFIX)] + EVIDENCE_CONFIGMAP_SUFFIX)


def fallback_name(incident: str, uid: str) -> str:
    suffix = f"-{uid[:8]}{EVIDENCE_CONFIGMAP_SUFFIX}"
    return incident[: 253 - len(suffix)] + suffix


def owned_by(cm: client.V1ConfigMap, uid: str) -> bool:
    return any(o.uid == uid for o in cm.metadata.owner_references or [])


def redacted(bundle: EvidenceBundle) -> EvidenceBundle:
    """The bundle with every secret masked: what is stored, analysed and shown."""
    return EvidenceBundle.model_validate(redact_data(bundle.model_dump(mode="json", by_alias=True, exclude_none=True)))


def encode(bundle: EvidenceBundle) -> str:
    data = redact_data(bundle.model_dump(mode="json", by_alias=True, exclude_none=True))
    return base64.b64encode(gzip.compress(json.dumps(data, ensure_ascii=False).encode())).decode()


def _write(kube: Kube, meta: dict, name: str, data: str) -> None:
    ns, uid = meta["namespace"], meta["uid"]
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=name, namespace=ns, labels=dict(MANAGED_BY),
            owner_references=[client.V1OwnerReference(api_version=API_VERSION, kind=KIND, name=meta["name"],
                                                      uid=uid, controller=True)]),
        binary_data={KEY: data})
    try:
        kube.core.create_namespaced_config_map(ns, cm)
        return
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    existing = kube.core.read_namespaced_config_map(name, ns)
    if not owned_by(existing, uid):
        raise NotOwned(name)
    cm.metadata.resource_version = existing.metadata.resource_version  # replace only what we read
    kube.core.replace_namespaced_config_map(name, ns, cm)


def save(kube: Kube, incident: dict, bundle: EvidenceBundle) -> str:
    """Write the (redacted) bundle; returns the ConfigMap's name."""
    meta = incident["metadata"]
    data = encode(bundle)
    name = configmap_name(meta["name"])
    try:
        _write(kube, meta, name, data)
    except NotOwned:
        name = fallback_name(meta["name"], meta["uid"])
        _write(kube, meta, name, data)  # a uid-named ConfigMap owned by another object: NotOwned again
    return name


def load(kube: Kube, namespace: str, incident_name: str, configmap: str | None = None) -> EvidenceBundle | None:
    try:
        cm = kube.core.read_namespaced_config_map(configmap or configmap_name(incident_name), namespace)
    except client.ApiException as exc:
        if is_not_found(exc):
            return None
        raise
    raw = (cm.binary_data or {}).get(KEY)
    if not raw:
        return None
    return EvidenceBundle.model_validate_json(gzip.decompress(base64.b64decode(raw)))
