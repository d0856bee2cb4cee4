"""The operator as users run it (`incident-operator run`), as a separate process, against the real API."""

from __future__ import annotations

from local_stack import scenarios
from local_stack.cluster import wait_for
from local_stack.workloads import incident

PHASES = ["Gathering", "Reporting", "Collecting", "Correlating", "Diagnosing", "Responding"]
VERIFY = {"INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1"}  # a fix's rollout looked at every 1 s, not 3


def test_incident_walks_every_phase_to_resolved(kube, ns, incidents, start_operator):
    scenarios.bad_rollout(kube, ns)
    start_operator(VERIFY)
    incidents.create(incident("api-image", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    inc = incidents.wait_phase("api-image", ("Resolved", "Failed"), 60)
    st = inc["status"]
    assert st["phase"] == "Resolved", st.get("lastError")
    assert st["completedPhases"] == PHASES
    assert all(st["phases"][p]["runs"] == 1 and st["phases"][p]["finishedAt"] for p in PHASES)
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "Gathered": "True", "Reported": "True", "Collected": "True", "Correlated": "True",
        "Diagnosed": "True", "Responded": "True", "Resolved": "True", "Ready": "True"}
    assert st["observedGeneration"] == inc["metadata"]["generation"] and st["attempts"] == 0
    assert st["topCause"] == "image-pull: api" and st["engine"] == "rules" and st["outcome"] == "remediated"
    assert st["actions"][0]["state"] == "succeeded" and st["report"]["closed"] is True
    assert kube.apps.read_namespaced_deployment("api", ns).spec.template.spec.containers[0].image == "nginx:1.27"
    reasons = [e.reason for e in incidents.events("api-image")]
    # few Events (the diagnosis, the report, the end): phase progress is in status.phases
    assert reasons.count("Diagnosed") == 1 and "PhaseStarted" not in reasons and "PhaseCompleted" not in reasons
    assert "IncidentResolved" in reasons and "ReportClosed" in reasons
    assert "kopf" not in st  # Kopf's bookkeeping stays in annotations


def test_killed_mid_remediation_resumes_without_repeating_anything(kube, ns, incidents, start_operator):
    scenarios.scaled_to_zero(kube, ns, replicas=3)
    first = start_operator({"INCIDENT_FAILPOINTS": "respond.after-apply=crash"}, name="first")
    incidents.create(incident("web-zero", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    assert first.wait_exit(60) == 137  # died right after scaling, before recording success
    mid = incidents.get("web-zero")["status"]
    assert mid["phase"] == "Responding" and mid["actions"][0]["state"] == "in-progress"

    start_operator(VERIFY, name="second")
    st = incidents.wait_phase("web-zero", ("Resolved", "Failed"), 60)["status"]
    assert st["phase"] == "Resolved" and st["actions"][0]["state"] == "succeeded"
    assert st["actions"][0]["before"] == {"replicas": 0} and st["actions"][0]["after"] == {"replicas": 3}
    assert st["phases"]["Responding"]["runs"] == 2
    assert all(st["phases"][p]["runs"] == 1 for p in PHASES[:-1])  # nothing before it ran again
    assert len(incidents.events("web-zero", "RemediationApplied")) == 1
    assert len(incidents.events("web-zero", "ReportOpened")) == 1
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 3


def test_killed_after_opening_report_does_not_open_a_second(kube, ns, incidents, start_operator):
    first = start_operator({"INCIDENT_FAILPOINTS": "report.after-open=crash"}, name="first")
    incidents.create(incident("quiet", target={"namespace": ns}))
    assert first.wait_exit(60) == 137
    assert incidents.get("quiet")["status"]["phase"] == "Reporting"
    start_operator(name="second")
    st = incidents.wait_phase("quiet", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction" and st["phases"]["Reporting"]["runs"] == 2
    assert len(incidents.events("quiet", "ReportOpened")) == 1
    assert st["outcome"] == "needs-action" and st["causes"][0]["kind"] == "unknown"


def test_failing_phase_retries_with_backoff_then_fails_in_korean(ns, incidents, start_operator):
    op = start_operator({"INCIDENT_FAILPOINTS": "collect.start=error", "INCIDENT_MAX_ATTEMPTS": "3",
                         "INCIDENT_BACKOFF_SECONDS": "0.5"})
    incidents.create(incident("doomed", target={"namespace": ns}))
    st = incidents.wait_phase("doomed", "Failed", 60)["status"]
    assert st["attempts"] == 3
    assert st["lastError"].startswith("증거 수집(Collecting) 단계가 3회 시도 후 실패했습니다")
    assert next(c for c in st["conditions"] if c["type"] == "Failed")["reason"] == "CollectingFailed"
    assert len(incidents.events("doomed", "PhaseRetry")) == 2
    assert "Collecting" not in st["completedPhases"]
    assert op.proc.poll() is None  # the operator itself keeps running


def test_two_replicas_with_peering_handle_each_incident_once(kube, ns, incidents, start_operator):
    kube.custom.create_namespaced_custom_object("kopf.dev", "v1", ns, "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "incident-operator"}})
    start_operator({"INCIDENT_PEERING_PRIORITY": "10", "INCIDENT_IDENTITY": "replica-a"}, standalone=False, name="low")
    start_operator({"INCIDENT_PEERING_PRIORITY": "20", "INCIDENT_IDENTITY": "replica-b"}, standalone=False, name="high")
    names = [f"peer-{i}" for i in range(4)]
    for n in names:
        incidents.create(incident(n, target={"namespace": ns}))
    for n in names:
        st = incidents.wait_phase(n, ("Resolved", "NeedsAction", "Failed"), 90)["status"]
        assert st["phase"] == "NeedsAction"  # nothing to fix: a person has to look
        assert all(st["phases"][p]["runs"] == 1 for p in PHASES)
        assert len(incidents.events(n, "ReportOpened")) == 1
        assert len(incidents.events(n, "Diagnosed")) == 1


def test_a_replica_that_loses_the_lead_stops_taking_queued_incidents(kube, ns, incidents, start_operator):
    """Incidents the standby had queued before a higher-priority replica appeared are not worked on by it: its
    workers defer to the peering object like Kopf's watch does, so the leader does them."""
    from local_stack.cluster import wait_for
    incidents.create(incident("warm-up", target={"namespace": ns}))
    kube.custom.create_namespaced_custom_object("kopf.dev", "v1", ns, "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "incident-operator"}})
    slow = {"INCIDENT_WORKERS": "1", "INCIDENT_FAILPOINTS": "collect.start=sleep:3"}
    low = start_operator({**slow, "INCIDENT_PEERING_PRIORITY": "10", "INCIDENT_IDENTITY": "replica-a"}, standalone=False,
                         name="low")
    incidents.wait_phase("warm-up", ("Resolved", "NeedsAction", "Failed"), 60)
    names = [f"queued-{i}" for i in range(4)]
    for n in names:
        incidents.create(incident(n, target={"namespace": ns}))
    wait_for(lambda: any(((incidents.get(n).get("status") or {}).get("claim") or {}).get("holder") for n in names), 30,
             "the first one started")
    start_operator({**slow, "INCIDENT_PEERING_PRIORITY": "20", "INCIDENT_IDENTITY": "replica-b"}, standalone=False, name="high")
    holders = {}
    for n in names:
        st = incidents.wait_phase(n, ("Resolved", "NeedsAction", "Failed"), 120)["status"]
        assert st["phase"] == "NeedsAction" and all(st["phases"][p]["runs"] == 1 for p in PHASES)
        assert len(incidents.events(n, "ReportOpened")) == 1
        holders[n] = st["claim"]["holder"]
    # replica-a took none after it paused in favour of replica-b: every Incident it holds started before that (a
    # second's grace: a take checks the peering object just before it starts). The count alone (at most two) held
    # with the pause check removed: both replicas then shared the queue and replica-a got two of four anyway.
    import json
    from datetime import datetime, timedelta
    paused = next(datetime.fromisoformat(json.loads(line)["timestamp"]) for line in low.log().splitlines()
                  if "Pausing operations" in line and line.startswith("{"))
    late = {n: incidents.get(n)["status"]["phases"]["Gathering"]["startedAt"] for n, h in holders.items() if h == "replica-a"}
    assert all(datetime.fromisoformat(t.replace("Z", "+00:00")) <= paused + timedelta(seconds=1) for t in late.values()), (
        paused, late, holders)


def test_alarm_back_to_ok_closes_the_report_in_korean(kube, ns, incidents, start_operator):
    from kubernetes import client as k8s

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter

    from .test_bridge import _synthetic

    writer = IncidentWriter(k8s.ApiClient(), BridgeConfig(namespace=ns))
    start_operator({"INCIDENT_INCIDENT_NAMESPACES": ns})  # where the bridge writes: it may look at namespace shop
    name = handle({"Records": [_synthetic(9)]}, None, writer)["results"][0]["incident"]
    st = incidents.wait_phase(name, ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction" and st["outcome"] == "needs-action" and st["report"]["closed"] is False
    assert next(c for c in st["conditions"] if c["type"] == "Ready")["status"] == "False"
    assert handle({"Records": [_synthetic(9, "OK")]}, None, writer)["results"][0]["status"] == "recovered"
    from local_stack.cluster import wait_for
    st = wait_for(lambda: (lambda s: s if s["report"].get("closed") else None)(incidents.get(name)["status"]), 30, "report closed")
    assert st["outcome"] == "recovered" and "recovered" in st["report"]["comments"]
    st = incidents.wait_phase(name, "Resolved", 30)["status"]  # the alarm is back to OK: the incident is over
    assert next(c for c in st["conditions"] if c["type"] == "Ready")["status"] == "True"
    assert [e.message for e in incidents.events(name, "ReportClosed")] == ["알람 정상화"]


def test_metrics_and_json_logs_name_the_incident(kube, ns, incidents, start_operator):
    import json

    import requests

    from local_stack.aws import free_port
    from local_stack.cluster import wait_for

    scenarios.scaled_to_zero(kube, ns, replicas=1)
    port = free_port()
    op = start_operator({"INCIDENT_METRICS_PORT": str(port), **VERIFY})
    incidents.create(incident("metered", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    incidents.wait_phase("metered", "Resolved", 60)
    text = wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text, 20, "metrics")
    assert 'incident_operator_incidents_total{outcome="remediated",phase="Resolved"} 1.0' in text
    assert 'incident_operator_remediations_total{action="restore-replicas",result="succeeded"} 1.0' in text
    assert 'incident_operator_tool_calls_total{outcome="not-configured",tool="datadog"} 1.0' in text
    assert 'incident_operator_phase_duration_seconds_count{phase="Diagnosing"} 1.0' in text
    lines = [json.loads(l) for l in op.log().splitlines() if l.startswith("{")]
    about = [l for l in lines if (l.get("incident") or {}).get("name") == "metered"]
    assert about and all(l["incident"]["namespace"] == ns for l in about)
    assert any("finished: Resolved" in l["message"] for l in about)


def test_memory_finds_past_incidents_with_the_same_cause_and_their_outcome(kube, ns, incidents, start_operator):
    scenarios.bad_rollout(kube, ns, "api")
    start_operator(VERIFY)
    incidents.create(incident("first", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    incidents.wait_phase("first", "Resolved")
    scenarios.bad_rollout(kube, ns, "orders")  # another workload, the same failure
    incidents.create(incident("second", target={"namespace": ns, "kind": "Deployment", "name": "orders"}))
    st = incidents.wait_phase("second", "Resolved")["status"]
    [past] = st["similarIncidents"]
    assert past["name"] == f"{ns}/first" and past["match"] == ["같은 원인"]
    assert past["outcome"] == "remediated" and past["actions"] == ["rollback-image:succeeded"]
    # the cause label comes with the final labels, a write after the phase (on a loaded machine, a moment later)
    wait_for(lambda: (incidents.get("second")["metadata"].get("labels") or {}).get("netaiops.io/cause") == "image-pull",
             30, "the cause label on the second Incident")
    assert "유사한 과거 인시던트" in st["report"]["markdown"]
