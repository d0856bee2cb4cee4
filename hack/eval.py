#!/usr/bin/env python3
"""`make eval`: the scenario corpus through the rules engine and through the LLM agent, one table.

Starts the local stack as `make scenarios` does (control plane, local AWS, OpenSearch), then `incident-operator
eval`, which stages each scenario and runs the operator's gather and collect phases itself (no operator
process: in a shared cluster another operator would answer for this run's Incidents with its own stack).

The model: whatever INCIDENT_LLM_* configures (e.g. INCIDENT_LLM_PROVIDER=openai
INCIDENT_LLM_BASE_URL=http://localhost:11434/v1 INCIDENT_LLM_MODEL_ID=qwen2.5:14b for Ollama); with no
INCIDENT_LLM_PROVIDER set, the scripted stand-in model (local_stack/standin_model.py; EVAL_STANDIN=floor
(default) or sloppy) behind the OpenAI-compatible stand-in — no network. EVAL_SCENARIOS="05-invalid-image
06-scaled-to-zero" runs a subset. `make eval RESCORE="build/eval/A build/eval/B"` scores saved runs again, side
by side, without stack or model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]


def cli(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run([sys.executable, "-m", "incident_operator.cli", "eval", *args],
                          env={**os.environ, **(env or {})}, cwd=ROOT).returncode


def main() -> int:
    if os.environ.get("RESCORE"):
        return cli("--rescore", *os.environ["RESCORE"].split(), "--per-scenario")

    from kubernetes import client, config

    from local_stack import standin_model
    from local_stack.aws import LocalAws
    from local_stack.cluster import ensure_cluster, install_crds
    from local_stack.opensearch import LocalOpenSearch
    from local_stack.stack import stack_env

    kubeconfig, _ = ensure_cluster()
    os.environ["KUBECONFIG"] = kubeconfig
    config.load_kube_config(config_file=kubeconfig)
    install_crds(client.ApiClient())
    wanted = os.environ.get("EVAL_SCENARIOS", "").split()
    from incident_operator.scenarios.replay import node_scoped
    # Node alarms first, as make scenarios: their Incidents read every pod on their node (replay.node_scoped)
    dirs = [str(p) for p in sorted((p for p in (ROOT / "scenarios").iterdir()
                                    if (p / "scenario.yaml").exists() and (not wanted or p.name in wanted)),
                                   key=lambda p: (not node_scoped(p), p.name))]
    standin, llm_env, label = None, {}, []
    if not os.environ.get("INCIDENT_LLM_PROVIDER"):
        kind = os.environ.get("EVAL_STANDIN", "floor")
        standin = standin_model.serve(kind)
        llm_env = {"INCIDENT_LLM_PROVIDER": "openai", "INCIDENT_LLM_BASE_URL": f"{standin.url}/v1",
                   "INCIDENT_LLM_API_KEY": standin.key, "INCIDENT_LLM_MODEL_ID": f"standin-{kind}"}
        label = ["--label", f"stand-in model ({kind})"]
    out = ROOT / "build" / "eval" / f"{time.strftime('%Y%m%d-%H%M%S')}-{(llm_env or os.environ).get('INCIDENT_LLM_MODEL_ID', 'model').replace('/', '_').replace(':', '_')}"
    aws, search = LocalAws(), LocalOpenSearch()
    env = {**stack_env(kubeconfig, aws.endpoint, search.url, "scenario-logs"),
           "INCIDENT_INCIDENT_NAMESPACES": "incident-operator,evl-*"}
    try:
        code = cli("--out", str(out), "--per-scenario", *label, *dirs, env={**env, **llm_env})
    finally:
        search.stop()
        aws.stop()
        if standin:
            standin.stop()
        for ns in client.CoreV1Api().list_namespace(label_selector="netaiops.io/scenario").items:
            if ns.metadata.name.startswith("evl-"):
                client.CoreV1Api().delete_namespace(ns.metadata.name)
    return code


if __name__ == "__main__":
    sys.exit(main())
