"""The evidence bundle is documented and replayable: schema, evidence, analyze."""

from __future__ import annotations

import json
import subprocess
import sys

from local_stack import scenarios
from local_stack.workloads import incident


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "incident_operator.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_schema_describes_the_evidence_bundle():
    out = cli("schema", "evidence")
    schema = json.loads(out.stdout)
    assert out.returncode == 0 and schema["title"] == "EvidenceBundle"
    assert {"incident", "window"} <= set(schema["required"])
    assert "cluster" in schema["properties"] and "PodEvidence" in schema["$defs"]


def test_a_recorded_case_replays_through_the_analyzer(kube, ns, incidents, start_operator, kubeconfig):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    start_operator()
    incidents.create(incident("recorded", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    incidents.wait_phase("recorded", "Resolved")
    saved = cli("evidence", "recorded", "-n", ns)
    assert saved.returncode == 0
    bundle = json.loads(saved.stdout)
    assert bundle["incident"] == f"{ns}/recorded" and bundle["cluster"]["deployments"][0]["name"] == "web"
    replayed = cli("analyze", "--evidence", "-", stdin=saved.stdout)
    diagnosis = json.loads(replayed.stdout)
    assert diagnosis["engine"] == "rules" and diagnosis["causes"][0]["kind"] == "scaled-to-zero"
    assert diagnosis["causes"][0]["remediation"]["params"] == {"replicas": 2}


def test_a_broken_bundle_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"incident": "x/y", "window": {"start": "not a time"}}))
    out = cli("analyze", "--evidence", str(bad))
    assert out.returncode == 2 and "cannot read evidence bundle" in out.stderr and "window" in out.stderr
    missing = cli("analyze", "--evidence", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "No such file" in missing.stderr


def test_version_kubeconfig_context_and_the_contexts_namespace(kube, ns, incidents, kubeconfig, tmp_path):
    import yaml

    from incident_operator import __version__

    assert cli("--version").stdout.strip() == f"incident-operator {__version__}"
    incidents.create(incident("ctx", target={"namespace": ns}))
    kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", "ctx", {
        "status": {"phase": "NeedsAction", "report": {"markdown": "# 보고서 ctx"}}})
    cfg = yaml.safe_load(open(kubeconfig))
    ctx = dict(cfg["contexts"][0])
    cfg["contexts"] = [ctx, {"name": "shop", "context": {**ctx["context"], "namespace": ns}}]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    # no -n: the namespace of the chosen context, as kubectl does
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "--kubeconfig", str(path), "--context", "shop",
                          "report", "ctx"], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.startswith("# 보고서 ctx"), out.stderr
    other = subprocess.run([sys.executable, "-m", "incident_operator.cli", "--kubeconfig", str(path), "report", "ctx"],
                           capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert other.returncode == 1 and "default/ctx" in other.stderr  # the current context has no namespace


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m incident_operator.cli schema evidence | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert proc.stdout == '{\n  "$defs"'[:10] and "Traceback" not in proc.stderr


def test_run_limits_malloc_arenas_unless_the_environment_decided(monkeypatch):
    import platform

    from incident_operator.cli import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the operator's environment wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
