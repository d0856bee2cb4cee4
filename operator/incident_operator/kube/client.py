"""Kubernetes API clients from the in-cluster config or the user's kubeconfig."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes import client, config


def load_config() -> None:
    """In a pod: the service account; elsewhere: $KUBECONFIG or ~/.kube/config."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        # read $KUBECONFIG now, not when the kubernetes package was imported
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)


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


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, client.ApiException) and exc.status == 404
