"""What people see of a plan waiting for approval, through the production clients, on kwok pods (no real node):
the GitHub comment (PyGithub → local_stack/github_server.py) and the Slack reply (the Slack sink → the Slack Web API
stand-in) carry the plan — object, field, before → after — and the approve / deny commands for this Incident and
plan, as code spans; the deny command as posted is the one that works. And the pending-approvals gauge with two
replicas: the leader reports what the API server holds, the standby reports nothing, and it falls to 0 once denied.

One module fixture runs the flow (a Deployment scaled to 0 by the chaos tool, remediation: approve); each test
asserts its part.
"""

from __future__ import annotations

import re
import shlex
import uuid

import pytest
import requests
from kubernetes import client

from incident_operator.constants import GROUP, VERSION
from local_stack import scenarios
from local_stack.aws import free_port
from local_stack.cluster import wait_for
from local_stack.github_server import TOKEN as GH_TOKEN, GitHubServer
from local_stack.workloads import incident

from .conftest import OperatorProcess
from .support.slack_server import TOKEN as SLACK_TOKEN, SlackServer
from . import test_approval
from .test_approval import cli

policy_in_force = test_approval.policy_in_force  # the admission policy that makes a decision count

pytestmark = pytest.mark.cluster
GAUGE = "incident_operator_approvals_pending"
ENV = {"INCIDENT_REMEDIATION_APPROVAL_TIMEOUT_SECONDS": "600", "INCIDENT_REMEDIATION_APPROVAL_POLL_SECONDS": "1",
       "INCIDENT_REMEDIATION_EFFECTIVENESS_SECONDS": "0", "INCIDENT_GROUP_WINDOW_SECONDS": "0",
       "INCIDENT_METRICS_APPROVALS_CACHE_SECONDS": "1", "INCIDENT_REPORT_TIMEOUT_SECONDS": "5",
       "INCIDENT_REPORT_RETRY_SECONDS": "1", "INCIDENT_REPORT_RETRY_MAX_SECONDS": "2"}


def scrape(port: int) -> str | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.RequestException:
        return None  # not serving yet


def gauge(port: int) -> float | None:
    """The gauge's sample on a replica's /metrics, None when it reports none."""
    m = re.search(rf"^{GAUGE} (\S+)$", scrape(port) or "", re.M)
    return float(m.group(1)) if m else None


def status(kube, ns: str, name: str) -> dict:
    return kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "incidents", name).get("status") or {}


def waiting(st: dict) -> dict | None:
    return next((a for a in st.get("actions") or [] if a.get("state") == "awaiting-approval"), None)


@pytest.fixture(scope="module")
def flow(kube, kubeconfig, policy_in_force, tmp_path_factory):
    ns = f"apprep-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_for(lambda: kube.core.read_namespaced_service_account("default", ns), 30, "default ServiceAccount")
    github, slack = GitHubServer(), SlackServer()
    log = tmp_path_factory.mktemp("approval-report")
    procs: list[OperatorProcess] = []
    try:
        yield _run(kube, kubeconfig, ns, github, slack, log, procs)
    finally:
        for p in procs:
            p.kill()
        github.stop()
        slack.stop()
        kube.core.delete_namespace(ns)


def _run(kube, kubeconfig, ns, github, slack, log, procs) -> dict:
    kube.custom.create_namespaced_custom_object("kopf.dev", "v1", ns, "kopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "incident-operator"}})
    scenarios.scaled_to_zero(kube, ns, "web", replicas=2)  # kwok pods; the chaos tool noted 2 and scaled to 0
    sinks = {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
             "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "INCIDENT_SLACK_TOKEN": SLACK_TOKEN,
             "INCIDENT_SLACK_CHANNEL": "C0INCIDENTS", "INCIDENT_SLACK_API_URL": slack.api}
    ports = {"leader": free_port(), "standby": free_port()}

    def start(role: str, priority: str) -> None:
        procs.append(OperatorProcess(ns, {"KUBECONFIG": kubeconfig, **ENV, **sinks, "INCIDENT_PEERING_PRIORITY": priority,
                                          "INCIDENT_IDENTITY": f"replica-{role}", "INCIDENT_METRICS_PORT": str(ports[role])},
                                     log / f"{role}.log", []))
    start("leader", "20")  # first, and in the peering object before the standby starts: it defers from the start
    wait_for(lambda: gauge(ports["leader"]) == 0.0, 60, "the leader counting (nothing pending yet)", interval=0.5)
    wait_for(lambda: any("replica-leader" in k for k in (kube.custom.get_namespaced_custom_object(
        "kopf.dev", "v1", ns, "kopfpeerings", "incident-operator").get("status") or {})), 30, "the leader in the peering object")
    start("standby", "10")
    wait_for(lambda: scrape(ports["standby"]), 60, "the standby serving its metrics", interval=0.5)
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "incidents", incident(
        "web-appr", target={"namespace": ns, "kind": "Deployment", "name": "web"}, remediation="approve"))
    action = wait_for(lambda: waiting(status(kube, ns, "web-appr")), 90, "the plan awaiting approval")
    key = f"approval-{action['planHash']}"

    def github_comment():
        return next((c["body"] for n in github.comments for c in github.comments[n] if "# 조치 승인 요청" in c["body"]), None)

    def slack_reply():
        return next((r for p in slack.parents() for r in slack.replies(p["ts"])
                     if r["metadata"]["event_payload"]["key"] == key), None)
    out = {"ns": ns, "action": action, "github": wait_for(github_comment, 30, "the approval comment on GitHub"),
           "slack": wait_for(slack_reply, 30, "the approval reply on Slack")}
    out["pending"] = wait_for(lambda: gauge(ports["leader"]) == 1.0, 30, "the leader's gauge at 1") and 1.0
    out["standby"] = gauge(ports["standby"])
    # the deny command exactly as the comment gives it
    m = re.search(r"거부: `(incident-operator deny [^`]+)`", out["github"])
    out["deny"] = cli(kubeconfig, *shlex.split(m.group(1))[1:], "--comment", "점검 중") if m else None
    out["final"] = wait_for(lambda: (lambda s: s if s.get("phase") == "NeedsAction" else None)(status(kube, ns, "web-appr")),
                            60, "denied: NeedsAction")
    out["after"] = wait_for(lambda: gauge(ports["leader"]) == 0.0, 30, "the leader's gauge at 0") and 0.0
    out["standby_after"] = gauge(ports["standby"])
    out["labels"] = kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "incidents", "web-appr")["metadata"].get("labels") or {}
    return out


def test_the_github_comment_carries_the_plan_and_the_commands_for_this_incident(flow):
    ns, plan, body = flow["ns"], flow["action"]["planHash"], flow["github"]
    assert f"- `Deployment/{ns}/web` `spec.replicas`: `0` → `2`" in body, body
    assert (f"승인: `incident-operator approve web-appr -n {ns} --plan {plan}` · "
            f"거부: `incident-operator deny web-appr -n {ns} --plan {plan}`") in body, body
    assert "incident-operator approve NAME" not in body  # no placeholder left to fill in
    assert flow["deny"] is not None and flow["deny"].returncode == 0, flow["deny"] and flow["deny"].stderr
    [action] = flow["final"]["actions"]
    assert action["state"] == "denied" and "점검 중" in action["message"]


def test_the_slack_reply_carries_the_same_plan_and_commands(flow):
    ns, plan, text = flow["ns"], flow["action"]["planHash"], flow["slack"]["text"]
    assert text.startswith("*조치 승인 요청*"), text
    assert f"• `Deployment/{ns}/web` `spec.replicas`: `0` → `2`" in text, text  # Slack mrkdwn: bullets, code spans
    assert f"`incident-operator approve web-appr -n {ns} --plan {plan}`" in text
    assert f"`incident-operator deny web-appr -n {ns} --plan {plan}`" in text


def test_pending_approvals_gauge_is_the_leaders_count_from_the_api(flow):
    assert flow["pending"] == 1.0  # one plan awaiting, as the API server has it
    assert flow["standby"] is None  # the standby holds no work and reports no sample: sum() and max() both say 1
    assert flow["after"] == 0.0 and flow["standby_after"] is None  # denied: none waiting
    assert "netaiops.io/awaiting-approval" not in flow["labels"]  # the label it is counted by came off


def test_pending_plans_counts_what_the_status_says_not_the_label(kube, ns, make_namespace):
    """The label only finds candidates (label-selected pages per namespace): a label a tenant put on an Incident
    that awaits nothing, or one left behind, counts nothing."""
    from incident_operator.kube.approvals import pending_plans
    other = make_namespace("apprep-b")
    for where, name, state in ((ns, "a", "awaiting-approval"), (ns, "forged", "succeeded"), (other, "b", "awaiting-approval"),
                               (other, "unlabelled", "awaiting-approval")):
        body = incident(name, target={"namespace": where})
        if name != "unlabelled":
            body["metadata"]["labels"] = {"netaiops.io/awaiting-approval": "true"}
        kube.custom.create_namespaced_custom_object(GROUP, VERSION, where, "incidents", body)
        kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, where, "incidents", name, {"status": {
            "actions": [{"id": "x", "action": "restore-replicas", "state": state}]}})
    assert pending_plans(kube, [ns]) == 1
    assert pending_plans(kube, [ns, other]) == 2
    # pages of one: every page is followed (only the first was read: 500 labels a tenant wrote on its own Incidents
    # could push real plans off it), and at most `pages` of them
    assert pending_plans(kube, [ns, other], scan=1) == 2
    forged = incident("0-forged", target={"namespace": other})  # sorts first in its namespace
    forged["metadata"]["labels"] = {"netaiops.io/awaiting-approval": "true"}
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, other, "incidents", forged)
    assert pending_plans(kube, [other], scan=1) == 1 and pending_plans(kube, [other], scan=1, pages=1) == 0
