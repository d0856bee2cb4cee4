"""Every scenario under scenarios/, replayed through the bridge and the running operator: the top
cause and the remediation must be the expected ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from incident_operator.scenarios.replay import replay
from incident_operator.settings import Settings

from .support.cluster import ROOT
from .support.stack import operator, stack_env

SCENARIOS = sorted(p for p in (ROOT / "scenarios").iterdir() if (p / "scenario.yaml").exists())


@pytest.fixture(scope="module")
def stack(kubeconfig, kube, aws, opensearch, tmp_path_factory):
    env = stack_env(kubeconfig, aws.endpoint, opensearch.url, "scenario-logs")
    settings = Settings(aws_endpoint_url=aws.endpoint, aws_region="ap-northeast-2", cluster_name="local",
                        opensearch_url=opensearch.url, opensearch_index="scenario-logs")
    with operator(env, tmp_path_factory.mktemp("op") / "operator.log"):
        yield settings
    for ns in kube.core.list_namespace(label_selector="netaiops.io/scenario").items:
        try:
            kube.core.delete_namespace(ns.metadata.name)
        except client.ApiException:
            pass


def test_there_are_enough_scenarios():
    assert len(SCENARIOS) >= 15


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_diagnosis(path: Path, stack, kube):
    result = replay(path, kube, stack, timeout=60)
    # Resolved only when a fix ran and was verified (or the alarm recovered); otherwise a person acts
    assert result["got"]["phase"] == ("Resolved" if result["got"]["remediationState"] == "succeeded" else "NeedsAction"), result
    assert result["pass"], result
    kube.core.delete_namespace(result["namespace"])
