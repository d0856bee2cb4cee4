"""The Slack report sink: one message per Incident, updates in its thread, exactly once, never blocking."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Iterator

import pytest

from incident_operator.report.sinks import ReportRef, SinkRejected
from incident_operator.report.slack import SlackClient, SlackSink, SlackUnavailable
from incident_operator.settings import Settings
from incident_operator.tools.base import ToolDeps

from local_stack import scenarios
from local_stack.cluster import wait_for
from local_stack.github_server import TOKEN as GH_TOKEN
from .support.slack_server import TOKEN, SlackServer
from local_stack.workloads import incident

FINISHED = ("Resolved", "NeedsAction", "Failed")
SECRET = "xoxp-9999999999-secretvalue0123"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.stop()


def env(slack: SlackServer, channel: str = "C0INCIDENTS", **extra: str) -> dict[str, str]:
    return {"INCIDENT_SLACK_TOKEN": TOKEN, "INCIDENT_SLACK_CHANNEL": channel, "INCIDENT_SLACK_API_URL": slack.api,
            "INCIDENT_REPORT_TIMEOUT_SECONDS": "3", "INCIDENT_REPORT_RETRY_SECONDS": "0.5",
            "INCIDENT_REPORT_RETRY_MAX_SECONDS": "1", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1", **extra}


def github_env(github) -> dict[str, str]:
    return {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
            "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0"}


def keys(messages: list[dict]) -> list[str]:
    return [m["metadata"]["event_payload"]["key"] for m in messages]


def delivered(incidents, name: str) -> dict:
    return wait_for(lambda: (lambda s: s if s.get("phase") in FINISHED and not (s.get("report") or {}).get("pending") else None)(
        incidents.get(name).get("status") or {}), 60, f"{name} finished with its report delivered")


def test_slack_only_one_message_replies_in_its_thread_and_the_parent_updated(kube, ns, incidents, start_operator, slack):
    scenarios.bad_rollout(kube, ns)
    start_operator(env(slack))
    body = incident("api-slack", target={"namespace": ns, "kind": "Deployment", "name": "api"})
    incidents.create(body)
    st = delivered(incidents, "api-slack")
    assert st["phase"] == "Resolved" and st["outcome"] == "remediated"
    [parent] = slack.parents()
    report = st["report"]
    assert report["sink"] == "slack" and report["channel"] == "C0INCIDENTS" and report["ts"] == parent["ts"]
    assert report["ref"] == f"C0INCIDENTS/{parent['ts']}" and report["closed"] is True
    assert report["comments"] == ["analysis", "resolution"]
    # the same Korean content as the GitHub issue: title in the header, summary in the sections
    assert parent["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "[인시던트] api-slack 수동 등록", "emoji": True}}
    sections = "\n".join(b["text"]["text"] for b in parent["blocks"] if b["type"] == "section")
    assert "*요약*" in sections and "*영향 범위*" in sections and "image-pull: api" in sections
    # the parent says where the incident stands, after chat.update
    assert parent.get("edited") and "상태: 종료 — 자동 복구 완료" in parent["blocks"][-1]["elements"][0]["text"]
    replies = slack.replies(parent["ts"])
    assert keys(replies) == ["analysis", "resolution"]
    assert replies[0]["text"].startswith("*원인 분석 결과*") and replies[1]["text"].startswith("*복구 완료*")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in slack.requests)
    assert [e.message for e in incidents.events("api-slack", "ReportOpened")][0].startswith("Slack C0INCIDENTS")
    time.sleep(3)  # another timer round would show a duplicate (rounds are 1 s apart here: three of them)
    assert len(slack.parents()) == 1 and len(slack.replies(parent["ts"])) == 2


def test_github_and_slack_both_get_the_report_once(kube, ns, incidents, start_operator, slack, github):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    start_operator({**env(slack), **github_env(github)})
    incidents.create(incident("web-both", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    st = delivered(incidents, "web-both")
    assert st["phase"] == "Resolved"
    report = st["report"]
    assert report["sink"] == "github" and report["ref"] == "acme/shop#1" and report["closed"] is True
    assert report["slack"]["sink"] == "slack" and report["slack"]["closed"] is True
    assert report["slack"]["comments"] == ["analysis", "resolution"] and not report["slack"].get("outbox")
    [parent] = slack.parents()
    assert report["slack"]["ts"] == parent["ts"]
    issue = github.issue_list()[0]
    assert issue["state"] == "closed" and len(github.comments[1]) == 2
    # the same text in both: the analysis comment's first causes line
    gh_analysis = github.comments[1][0]["body"]
    slack_analysis = slack.replies(parent["ts"])[0]["text"]
    assert "restore-replicas" in gh_analysis or "scaled-to-zero" in gh_analysis
    assert gh_analysis.startswith("# 원인 분석 결과") and slack_analysis.startswith("*원인 분석 결과*")
    assert len(incidents.events("web-both", "ReportOpened")) == 2  # one per sink


def test_rate_limit_waited_out_within_the_deadline_or_left_to_the_outbox(kube, ns, incidents, start_operator, slack):
    # a short Retry-After is honoured inside the report deadline: delivered at once, nothing deferred
    slack.fault("POST", "/api/chat.postMessage", status=429, headers={"Retry-After": "1"},
                body={"ok": False, "error": "ratelimited"}, times=1)
    start_operator(env(slack))
    incidents.create(incident("short-429", target={"namespace": ns}))
    st = delivered(incidents, "short-429")
    assert st["report"]["ts"] and not incidents.events("short-429", "ReportDeferred")
    assert len(slack.calls("chat.postMessage")) == 1 + 1 + 2  # the 429, the parent, two replies

    # a long one goes back to the outbox, tried again no sooner than Slack asked
    slack.fault("POST", "/api/chat.postMessage", status=429, headers={"Retry-After": "6"},
                body={"ok": False, "error": "ratelimited"}, times=10**6)
    incidents.create(incident("long-429", target={"namespace": ns}))
    st = incidents.wait_phase("long-429", FINISHED, 60)["status"]
    report = st["report"]
    assert report["pending"] is True and [o["op"] for o in report["outbox"]] == ["open", "comment", "comment"]
    assert "Retry-After 6" in report["lastError"]
    wait = (datetime.fromisoformat(report["nextAttemptAt"]) - datetime.now(timezone.utc)).total_seconds()
    assert wait > 4  # the outbox' own backoff is at most 1 s here (and the report timeout 3 s): this is Slack's Retry-After
    assert incidents.events("long-429", "ReportDeferred")
    with slack.lock:
        slack.faults.clear()
    st = wait_for(lambda: (lambda s: s if not s["report"].get("pending") else None)(incidents.get("long-429")["status"]),
                  90, "outbox delivered after Retry-After")
    parents = [m for m in slack.parents() if m["ts"] == st["report"]["ts"]]
    assert len(parents) == 1 and keys(slack.replies(parents[0]["ts"])) == ["analysis", "resolution"]


def test_killed_after_posting_does_not_post_twice(kube, ns, incidents, start_operator, slack):
    first = start_operator({**env(slack), "INCIDENT_FAILPOINTS": "report.after-open=crash"}, name="first")
    incidents.create(incident("quiet-slack", target={"namespace": ns}))
    assert first.wait_exit(60) == 137
    assert incidents.get("quiet-slack")["status"]["phase"] == "Reporting"
    assert len(slack.parents()) == 1  # posted, but not recorded in status
    start_operator(env(slack), name="second")
    st = delivered(incidents, "quiet-slack")
    assert st["phase"] == "NeedsAction" and st["phases"]["Reporting"]["runs"] == 2
    [parent] = slack.parents()  # found again by its metadata, not posted again
    assert st["report"]["ts"] == parent["ts"]
    assert keys(slack.replies(parent["ts"])) == ["analysis", "resolution"]
    assert len(incidents.events("quiet-slack", "ReportOpened")) == 1


def test_permanent_slack_error_is_not_retried_and_github_goes_on(kube, ns, incidents, start_operator, slack, github):
    start_operator({**env(slack, channel="C0OTHER"), **github_env(github)})  # the bot is not in #other
    incidents.create(incident("not-member", target={"namespace": ns}))
    st = delivered(incidents, "not-member")
    assert st["phase"] == "NeedsAction"
    slack_state = st["report"]["slack"]
    assert slack_state["failed"] is True and "not_in_channel" in slack_state["lastError"] and not slack_state.get("outbox")
    assert st["report"]["ref"] == "acme/shop#1" and len(github.comments[1]) == 2  # GitHub unaffected
    [failed] = incidents.events("not-member", "ReportFailed")
    assert "not_in_channel" in failed.message and "(slack)" in failed.message
    tried = len(slack.calls("conversations.history"))
    assert tried <= 3  # once per phase that reports, never in a loop
    time.sleep(3)  # the outbox timer has nothing to retry (it would, three times, in 3 s here)
    assert len(slack.calls("conversations.history")) == tried and not slack.parents("C0OTHER")


# --- the client and the blocks, against the stand-in (no cluster) -------------------------------------

class _Recorder:
    namespace, name = "shop", "x"

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def emit(self, reason: str, message: str, **_: object) -> bool:
        self.events.append((reason, message))
        return True


def _sink(slack: SlackServer, **kw) -> SlackSink:
    s = Settings(slack_token=TOKEN, slack_channel="C0INCIDENTS", slack_api_url=slack.api, report_timeout_seconds=3, **kw)
    return SlackSink(ToolDeps(settings=s), _Recorder())


def test_long_reports_fit_slack_limits_and_secrets_are_masked(slack):
    sink = _sink(slack)
    ref = sink.open("ns/x/uid", "[인시던트] " + "긴 알람 " * 40, f"# t\n\n- token: {SECRET}\n" + "- 줄\n" * 10, ["incident"])
    huge = "# 원인 분석 결과\n\n" + "\n".join(f"- 증거 {i} " + "가" * 200 for i in range(1000))  # ~210,000 characters
    sink.comment(ref, "analysis", huge)
    [parent] = slack.parents()
    [reply] = slack.replies(ref.ts)
    assert len(parent["blocks"][0]["text"]["text"]) <= 150
    assert len(reply["blocks"]) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in reply["blocks"])
    assert len(reply["text"]) <= 40000 and reply["text"].endswith("…(길어서 잘렸습니다)")
    assert reply["blocks"][-1]["text"]["text"] == "…(길어서 잘렸습니다)"
    assert all(SECRET not in str(r.body) for r in slack.requests)
    assert "token: ***" in str(parent["blocks"])


def test_client_honours_retry_after_within_deadline_and_classifies_errors(slack):
    client = SlackClient(TOKEN, slack.api, timeout=5)
    msg = {"channel": "#incidents", "text": "hello"}  # chat.postMessage takes a name too
    slack.fault("POST", "/api/chat.postMessage", status=429, headers={"Retry-After": "1"}, body={"ok": False, "error": "ratelimited"})
    assert client.call("chat.postMessage", msg, deadline=time.monotonic() + 5)["ok"] is True
    assert len(slack.calls("chat.postMessage")) == 2
    slack.fault("POST", "/api/chat.postMessage", status=429, headers={"Retry-After": "40"}, body={"ok": False, "error": "ratelimited"})
    with pytest.raises(SlackUnavailable) as exc:
        client.call("chat.postMessage", msg, deadline=time.monotonic() + 5)
    assert exc.value.retry_after == 40
    slack.fault("POST", "/api/chat.postMessage", status=503, body={"ok": False})
    with pytest.raises(SlackUnavailable):
        client.call("chat.postMessage", msg)
    slack.fault("POST", "/api/chat.postMessage", status=200, body={"ok": False, "error": "internal_error"})
    with pytest.raises(SlackUnavailable):
        client.call("chat.postMessage", msg)
    for channel, error in (("#nope", "channel_not_found"), ("C0OTHER", "not_in_channel")):
        with pytest.raises(SinkRejected, match=error):
            client.call("chat.postMessage", {**msg, "channel": channel})
    with pytest.raises(SinkRejected, match="invalid_auth"):
        SlackClient("xoxb-wrong", slack.api, timeout=5).call("chat.postMessage", msg)
    with pytest.raises(SinkRejected, match="msg_too_long"):
        client.call("chat.postMessage", {**msg, "text": "x" * 40001})  # the sink never sends this; Slack refuses it for good
    with pytest.raises(SinkRejected, match="message_not_found"):
        _sink(slack).update(ReportRef(sink="slack", ref="C0INCIDENTS/1.2", channel="C0INCIDENTS", ts="1.2"),
                            "f", "t", "# t\n", [], "분석 중")


def test_slack_channel_must_be_an_id():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="slack_channel"):
        Settings(slack_channel="#incidents")  # conversations.history / chat.update take IDs only
    assert Settings(slack_channel="G0PRIVATE1").slack_channel == "G0PRIVATE1"
