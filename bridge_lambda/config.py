"""The bridge's configuration, read from the Lambda's environment."""

from __future__ import annotations

import json
import os
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

Severity = Literal["critical", "high", "medium", "low"]

# field -> the environment variable it is read from (deploy/aws/bridge.yaml sets these)
ENV_VARS = {
    "namespace": "INCIDENT_NAMESPACE", "default_severity": "DEFAULT_SEVERITY",
    "severity_by_alarm": "SEVERITY_BY_ALARM", "remediation": "REMEDIATION",
    "cluster_name": "EKS_CLUSTER_NAME", "cluster_endpoint": "EKS_CLUSTER_ENDPOINT",
    "cluster_ca": "EKS_CLUSTER_CA", "region": "AWS_REGION", "kubeconfig": "KUBECONFIG",
    "sts_endpoint_url": "STS_ENDPOINT_URL", "eks_endpoint_url": "EKS_ENDPOINT_URL",
}


class BridgeConfig(BaseModel):
    namespace: str = Field(default="default", description="Where Incidents are created")
    default_severity: Severity = "high"
    severity_by_alarm: dict[str, Severity] = Field(default={}, description="Alarm name -> severity")
    remediation: Literal["auto", "dry-run", "off"] = "auto"
    cluster_name: str | None = Field(default=None, description="EKS cluster (token + DescribeCluster)")
    cluster_endpoint: str | None = None
    cluster_ca: str | None = Field(default=None, description="Base64 PEM, as EKS DescribeCluster returns it")
    region: str | None = None
    kubeconfig: str | None = Field(default=None, description="Local runs: a kubeconfig instead of EKS")
    sts_endpoint_url: str | None = None
    eks_endpoint_url: str | None = None

    @field_validator("severity_by_alarm", mode="before")
    @classmethod
    def _json(cls, v):
        return json.loads(v) if isinstance(v, str) else v

    def severity_for(self, alarm_name: str) -> Severity:
        return self.severity_by_alarm.get(alarm_name, self.default_severity)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "BridgeConfig":
        env = os.environ if env is None else env
        values = {field: env[var] for field, var in ENV_VARS.items() if env.get(var)}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(f"invalid bridge configuration: {exc}") from exc
