"""Living with Incidents: re-run, acknowledge, silence, and expiry of finished ones."""

from __future__ import annotations

import pytest
from kubernetes import client

from incident_operator.evidence_store import configmap_name

from local_stack import scenarios
from local_stack.cluster import wait_for
from local_stack.workloads import incident


def annotate(kube, ns, name, annotations):
    kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name,
                                               {"metadata": {"annotations": annotations}})


def test_rerun_annotation_analyses_again_and_keeps_the_previous_run(kube, ns, incidents, start_operator):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    start_operator({"INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS": "0",  # archived at once (no effectiveness check to wait for)
                    "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1"})
    incidents.create(incident("again", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    incidents.wait_phase("again", "Resolved")
    scenarios.chaos_scale_to_zero(kube, ns, "web")  # it happens again
    # finished, it is archived (outside the operator's watch): the CLI takes it out and asks in one write
    wait_for(lambda: incidents.get("again")["metadata"]["labels"].get("netaiops.io/archived") == "true", 30, "archived")
    from incident_operator.cli import main
    assert main(["rerun", "again", "-n", ns, "--token", "1"]) == 0
    st = wait_for(lambda: (lambda s: s if s.get("run") == 2 and s.get("phase") == "Resolved" else None)(
        incidents.get("again")["status"]), 60, "second run resolved")
    assert st["previousRuns"][0]["run"] == 1 and st["previousRuns"][0]["outcome"] == "remediated"
    assert st["outcome"] == "remediated" and st["actions"][0]["before"] == {"replicas": 0}
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 2
    assert sorted(st["report"]["comments"]) == ["analysis-run2", "resolution-run2"]
    assert len(incidents.events("again", "RemediationApplied")) == 2


def test_acknowledged_incident_is_analysed_but_not_remediated(kube, ns, incidents, start_operator):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    body = incident("acked", target={"namespace": ns, "kind": "Deployment", "name": "web"})
    body["metadata"]["annotations"] = {"netaiops.io/acknowledged-by": "alice"}
    start_operator()
    incidents.create(body)
    st = incidents.wait_phase("acked", "NeedsAction")["status"]
    assert st["topCause"] == "scaled-to-zero: web"
    assert st["actions"][0]["state"] == "skipped" and "alice" in st["actions"][0]["message"]
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0


def test_silenced_incident_waits_until_unsilenced(kube, ns, incidents, start_operator):
    body = incident("hush", target={"namespace": ns})
    body["metadata"]["annotations"] = {"netaiops.io/silenced": "true"}
    start_operator()
    incidents.create(body)
    st = wait_for(lambda: (lambda s: s if s.get("silenced") else None)(incidents.get("hush").get("status") or {}), 30, "silenced")
    assert "phase" not in st and "silenced" in st["summary"]
    annotate(kube, ns, "hush", {"netaiops.io/silenced": None})
    st = incidents.wait_phase("hush", "NeedsAction")["status"]
    assert "silenced" not in st


def test_finished_incidents_expire_with_their_evidence(kube, ns, incidents, start_operator):
    start_operator({"INCIDENT_FINISHED_TTL_SECONDS": "2", "INCIDENT_GC_INTERVAL_SECONDS": "1"})
    incidents.create(incident("short-lived", target={"namespace": ns}))
    incidents.wait_phase("short-lived", "NeedsAction")

    def gone():
        try:
            incidents.get("short-lived")
            return False
        except client.ApiException as exc:
            return exc.status == 404
    wait_for(gone, 30, "expired Incident deleted")

    def evidence_gone():
        try:
            kube.core.read_namespaced_config_map(configmap_name("short-lived"), ns)
            return False
        except client.ApiException as exc:
            return exc.status == 404
    # the garbage collector learns about a new CRD on its discovery resync (every 30 s)
    wait_for(evidence_gone, 90, "evidence ConfigMap garbage-collected")


@pytest.mark.parametrize("cmd", [["report", "nope"], ["evidence", "nope"], ["rerun", "nope"]])
def test_cli_reports_missing_incident_clearly(cmd, ns, capsys):
    from incident_operator.cli import main
    assert main(cmd + ["-n", ns]) == 1
    assert "nope" in capsys.readouterr().err
