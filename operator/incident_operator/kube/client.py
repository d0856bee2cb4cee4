"""Kubernetes API clients from the in-cluster config or the user's kubeconfig."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes import client, config


CONTEXT_ENV = "INCIDENT_KUBE_CONTEXT"  # set by `incident-operator --context`


def load_config() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG (or ~/.kube/config), its current context
    unless --context names another."""
    if os.environ.get(CONTEXT_ENV) or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        # read $KUBECONFIG now, not when the kubernetes package was imported
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None,
                                context=os.environ.get(CONTEXT_ENV) or None)
        return
    config.load_incluster_config()


def default_namespace() -> str:
    """The namespace of the kubeconfig's (or --context's) context, like kubectl; else `default`."""
    try:
        contexts, current = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG") or None)
    except Exception:  # noqa: BLE001 - no kubeconfig (in a pod): kubectl's default
        return "default"
    wanted = os.environ.get(CONTEXT_ENV)
    ctx = next((c for c in contexts if c["name"] == wanted), None) if wanted else current
    return ((ctx or {}).get("context") or {}).get("namespace") or "default"


@dataclass(frozen=True)
class Kube:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def connect(cls, api_client: client.ApiClient | None = None) -> "Kube":
        if api_client is None:
            load_config()
            api_client = client.ApiClient()
        return cls(client.CoreV1Api(api_client), client.AppsV1Api(api_client),
                   client.CustomObjectsApi(api_client))

    @property
    def networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.core.api_client)

    @property
    def autoscaling(self) -> client.AutoscalingV2Api:
        return client.AutoscalingV2Api(self.core.api_client)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.core.api_client)

    @property
    def storage(self) -> client.StorageV1Api:
        return client.StorageV1Api(self.core.api_client)

    @property
    def discovery(self) -> client.DiscoveryV1Api:
        return client.DiscoveryV1Api(self.core.api_client)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.core.api_client)

    @property
    def authorization(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.core.api_client)


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, client.ApiException) and exc.status == 404
