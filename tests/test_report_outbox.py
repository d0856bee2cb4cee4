"""The report never blocks the incident: GitHub down, hanging or racing, and what is owed arrives once."""

from __future__ import annotations

import time

from local_stack import scenarios
from local_stack.cluster import wait_for
from local_stack.github_server import TOKEN, GitHubServer
from local_stack.workloads import incident


def env(server: GitHubServer, **extra: str) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": server.url,
            "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "INCIDENT_REPORT_TIMEOUT_SECONDS": "3",
            "INCIDENT_REPORT_RETRY_SECONDS": "0.5", "INCIDENT_REPORT_RETRY_MAX_SECONDS": "1",
            "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1", **extra}


def down(server: GitHubServer, status: int = 500, delay: float = 0.0) -> None:
    server.fault("GET", ".*", status=status, delay=delay, times=10**6)
    server.fault("POST", ".*", status=status, delay=delay, times=10**6)
    server.fault("PATCH", ".*", status=status, delay=delay, times=10**6)


def back(server: GitHubServer) -> None:
    with server.lock:
        server.faults.clear()


def test_github_down_for_the_whole_analysis_then_back(kube, ns, incidents, start_operator, github):
    scenarios.bad_rollout(kube, ns)
    down(github)
    start_operator(env(github))
    incidents.create(incident("gh-down", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    st = incidents.wait_phase("gh-down", ("Resolved", "NeedsAction", "Failed"), 90)["status"]
    # the remediation happened while the report could not be written
    assert st["phase"] == "Resolved" and st["outcome"] == "remediated", st.get("lastError")
    assert kube.apps.read_namespaced_deployment("api", ns).spec.template.spec.containers[0].image == "nginx:1.27"
    assert st["report"]["pending"] is True and [o["op"] for o in st["report"]["outbox"]] == ["open", "comment", "comment", "close"]
    assert not github.issues and incidents.events("gh-down", "ReportDeferred")
    back(github)
    st = wait_for(lambda: (lambda s: s if not s["report"].get("outbox") else None)(incidents.get("gh-down")["status"]),
                  60, "outbox delivered")
    assert len(github.issues) == 1
    issue = github.issue_list()[0]
    assert issue["state"] == "closed" and st["report"]["closed"] is True and st["report"]["ref"] == "acme/shop#1"
    bodies = [c["body"] for c in github.comments[1]]
    assert len(bodies) == 2 and bodies[0].startswith("# 원인 분석 결과") and bodies[1].startswith("# 복구 완료")
    time.sleep(3)  # another timer round would show a duplicate (rounds are 1 s apart here: three of them)
    assert len(github.issues) == 1 and len(github.comments[1]) == 2


def test_a_hanging_github_does_not_hold_the_incident(kube, ns, incidents, start_operator, github):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    down(github, status=0, delay=30)  # every call hangs far past the report timeout
    start_operator(env(github, INCIDENT_REPORT_TIMEOUT_SECONDS="1"))
    started = time.monotonic()
    incidents.create(incident("gh-slow", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    st = incidents.wait_phase("gh-slow", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "Resolved" and time.monotonic() - started < 40  # not ~400 s
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 1
    assert st["report"]["outbox"]


def test_concurrent_incidents_on_a_fresh_repository_and_a_long_alarm_name(kube, ns, incidents, start_operator, github):
    start_operator(env(github, INCIDENT_WORKERS="4"))
    long_name = "a" * 250
    for i in range(4):
        alarm = {"name": long_name if i == 0 else f"alarm-{i}", "threshold": 80,
                 "dimensions": {"ClusterName": "demo", "Namespace": ns, "PodName": f"p{i}"}}
        incidents.create(incident(f"race-{i}", alarm=alarm))
    for i in range(4):
        st = incidents.wait_phase(f"race-{i}", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
        assert st["phase"] == "NeedsAction" and not st["report"].get("outbox"), st["report"]
    assert len(github.issues) == 4 and sorted(github.labels) == ["auto-analysis", "incident", "severity:high"]
    titles = [i["title"] for i in github.issue_list()]
    # the alarm name is cut (at most 200 characters, with an ellipsis) so the title stays within GitHub's 256
    assert max(len(t) for t in titles) <= 256 and any("a…" in t for t in titles)


def test_a_clean_run_asks_github_only_what_it_must(kube, ns, incidents, start_operator, github):
    """Nothing to look for on a first try: the issue number lives in status, so a clean run neither pages
    through issues nor lists comments, and labels are listed once per process. A restart mid-report still
    looks (tests/test_operator.py: no second issue, no second comment)."""
    start_operator(env(github))
    incidents.create(incident("clean-0", target={"namespace": ns}))
    assert incidents.wait_phase("clean-0", ("Resolved", "NeedsAction", "Failed"), 60)["status"]["report"]["ref"]
    for i in (1, 2):
        incidents.create(incident(f"clean-{i}", target={"namespace": ns}))
    for i in (1, 2):
        assert incidents.wait_phase(f"clean-{i}", ("Resolved", "NeedsAction", "Failed"), 60)["status"]["report"]["ref"]
    calls = [(r.method, r.path) for r in github.requests]
    assert not [c for c in calls if c[0] == "GET" and (c[1].endswith("/issues") or c[1].endswith("/comments"))], calls
    assert sum(1 for c in calls if c == ("GET", "/repos/acme/shop/labels")) == 1, calls
    assert len(calls) <= 3 * 3 + 1 + 6, calls  # per Incident: open, analysis comment (+ close); labels once


def test_an_owed_report_is_tried_when_its_earliest_sink_is_due():
    from datetime import datetime, timedelta, timezone

    from incident_operator.report.outbox import seconds_until_due
    now = datetime.now(timezone.utc)
    owed = {"outbox": [{"op": "open"}]}
    at = lambda s: (now + timedelta(seconds=s)).isoformat()  # noqa: E731
    assert seconds_until_due({"report": owed}) == 0  # never tried
    assert seconds_until_due({"report": {**owed, "nextAttemptAt": at(-5)}}) == 0
    assert seconds_until_due({"report": {**owed, "nextAttemptAt": "soon"}}) == 0  # unreadable: now
    assert 29 < seconds_until_due({"report": {**owed, "nextAttemptAt": at(30)}}) <= 30
    slack = {"sink": "slack", **owed, "nextAttemptAt": at(10)}
    assert 9 < seconds_until_due({"report": {**owed, "nextAttemptAt": at(30), "slack": slack}}) <= 10
    assert 29 < seconds_until_due({"report": {"nextAttemptAt": at(5), "slack": {**slack, "nextAttemptAt": at(30)}}}) <= 30
