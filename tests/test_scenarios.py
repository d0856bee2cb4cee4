"""Every scenario under scenarios/, replayed through the bridge and the running operator: the top
cause and the remediation must be the expected ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from incident_operator.scenarios.recorded import Recorded, recorded_dirs, score
from incident_operator.scenarios.replay import replay
from incident_operator.settings import Settings

from local_stack.cluster import ROOT
from local_stack.stack import operator, stack_env

SCENARIOS = sorted(p for p in (ROOT / "scenarios").iterdir() if (p / "scenario.yaml").exists())
RECORDED = recorded_dirs(ROOT / "scenarios")


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
    """Issue 13, then 24: at least 60 scenarios, at least 35 of them reproducing a documented case (`source` names
    it); issue 21: the kubelet-side ones recorded on the real node (each says how it was produced)."""
    sourced = [p.name for p in SCENARIOS
               if str((yaml.safe_load((p / "scenario.yaml").read_text()) or {}).get("source") or "").strip()]
    recorded = [Recorded.load(p) for p in RECORDED]
    sourced += [r.name for r in recorded if r.source.strip()]
    assert len(SCENARIOS) + len(RECORDED) >= 60, [p.name for p in SCENARIOS + RECORDED]
    assert len(sourced) >= 35, sourced
    kinds = {r.expected.top_cause for r in recorded}
    assert {"oom-killed", "crash-loop", "probe-failure", "missing-config", "image-pull", "cpu-throttling",
            "evicted", "app-errors"} <= kinds, kinds
    assert all("real node" in r.produced for r in recorded)


@pytest.mark.parametrize("path", RECORDED, ids=[p.name for p in RECORDED])
def test_recorded_scenario_diagnosis(path: Path):
    """The evidence the operator collected for a fault the real node's kubelet produced (hack/record-scenarios.py),
    through the rules engine: the recipe's kind first, the expected fix proposed."""
    result = score(path)
    assert result["pass"], result


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


# node-scoped: its Incident reads every pod on its kwok node, so no other scenario's pods may be there meanwhile
ALONE = {"12-node-cpu-noisy-neighbour"}


@pytest.fixture(scope="module")
def replayed(stack, kube) -> dict[str, dict | BaseException]:
    """Every scenario replayed through the bridge and the one operator, four at a time (each in its own
    namespace, as tenants' Incidents arrive together); node-scoped ones alone afterwards. `make scenarios`
    replays one at a time, for its timings."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> dict | BaseException:
        try:
            return replay(path, kube, stack, timeout=90)
        except Exception as exc:  # noqa: BLE001 - the scenario's own test reports it
            return exc
    together = [p for p in SCENARIOS if p.name not in ALONE]
    with ThreadPoolExecutor(4, thread_name_prefix="replay") as pool:
        results = dict(zip([p.name for p in together], pool.map(one, together)))
    results.update({p.name: one(p) for p in SCENARIOS if p.name in ALONE})
    return results


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_diagnosis(path: Path, replayed, kube):
    result = replayed[path.name]
    if isinstance(result, BaseException):
        raise result
    # Resolved only when a fix ran and was verified (or the alarm recovered); otherwise a person acts
    assert result["got"]["phase"] == ("Resolved" if result["got"]["remediationState"] == "succeeded" else "NeedsAction"), result
    assert result["pass"], result
    kube.core.delete_namespace(result["namespace"])
