"""Every scenario under scenarios/, replayed through the bridge and the running operator: the top
cause and the remediation must be the expected ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from incident_operator.scenarios.replay import replay
from incident_operator.settings import Settings

from local_stack.cluster import ROOT
from local_stack.stack import operator, stack_env

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
    """Issue 13, then 24: at least 60 scenarios, at least 35 of them reproducing a documented case (`source` names it)."""
    sourced = [p.name for p in SCENARIOS
               if str((yaml.safe_load((p / "scenario.yaml").read_text()) or {}).get("source") or "").strip()]
    assert len(SCENARIOS) >= 60, [p.name for p in SCENARIOS]
    assert len(sourced) >= 35, sourced


def test_make_scenarios_fails_when_the_replay_crashes_or_answers_for_fewer_scenarios():
    import importlib.util
    spec = importlib.util.spec_from_file_location("hack_scenarios", ROOT / "hack" / "scenarios.py")
    hack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hack)
    dirs = [str(p) for p in SCENARIOS[:3]]
    ok = [{"scenario": p.name, "pass": True} for p in SCENARIOS[:3]]
    assert hack.incomplete(ok, dirs, 0) == []
    assert hack.incomplete(ok[:1], dirs, 0)  # fewer results, even with a clean exit and every one passing
    assert SCENARIOS[2].name in hack.incomplete(ok[:2], dirs, 1)[-1]  # a crash part-way: the rest are named
    assert hack.incomplete(ok, dirs, 1)  # every scenario passed, yet the replay exited non-zero: it crashed
    assert hack.incomplete([], dirs, None) and hack.incomplete([], [], 0) == []
    assert hack.incomplete([*ok[:2], {**ok[2], "pass": False}], dirs, 1) == []  # an honest failure: judged on its results


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_diagnosis(path: Path, stack, kube):
    result = replay(path, kube, stack, timeout=60)
    # Resolved only when a fix ran and was verified (or the alarm recovered); otherwise a person acts
    assert result["got"]["phase"] == ("Resolved" if result["got"]["remediationState"] == "succeeded" else "NeedsAction"), result
    assert result["pass"], result
    kube.core.delete_namespace(result["namespace"])
