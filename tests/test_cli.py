"""The evidence bundle is documented and replayable: schema, evidence, analyze."""

from __future__ import annotations

import json
import subprocess
import sys

from .support import scenarios
from .support.workloads import incident


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
