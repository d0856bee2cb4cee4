"""A Kubernetes API client for the bridge: EKS (token + endpoint + CA) on AWS, a kubeconfig locally."""

from __future__ import annotations

import base64
import tempfile

from kubernetes import client, config

from .config import BridgeConfig
from .eks_token import TokenProvider


def _boto3_client(service: str, cfg: BridgeConfig, endpoint_url: str | None):
    import boto3
    return boto3.client(service, region_name=cfg.region, endpoint_url=endpoint_url)


def eks_api_client(cfg: BridgeConfig) -> client.ApiClient:
    endpoint, ca = cfg.cluster_endpoint, cfg.cluster_ca
    if not (endpoint and ca):
        cluster = _boto3_client("eks", cfg, cfg.eks_endpoint_url).describe_cluster(name=cfg.cluster_name)["cluster"]
        endpoint, ca = endpoint or cluster["endpoint"], ca or cluster["certificateAuthority"]["data"]
    tokens = TokenProvider(lambda: _boto3_client("sts", cfg, cfg.sts_endpoint_url), cfg.cluster_name)
    conf = client.Configuration()
    conf.host = endpoint
    ca_file = tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False)
    ca_file.write(base64.b64decode(ca))
    ca_file.close()
    conf.ssl_ca_cert = ca_file.name
    conf.api_key = {"authorization": "Bearer " + tokens.token()}  # as kubernetes' own kubeconfig loader does
    conf.refresh_api_key_hook = lambda c: c.api_key.update(authorization="Bearer " + tokens.token())
    return client.ApiClient(conf)


def api_client(cfg: BridgeConfig) -> client.ApiClient:
    if cfg.cluster_name and not cfg.kubeconfig:
        return eks_api_client(cfg)
    return config.new_client_from_config(config_file=cfg.kubeconfig)
