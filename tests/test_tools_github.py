"""GitHub tools with the production client (PyGithub) against a GitHub REST stand-in."""

from __future__ import annotations

import pytest

from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps, default_registry

from local_stack.github_server import TOKEN


@pytest.fixture
def deps(github):
    return ToolDeps(Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url=github.url, tool_timeout_seconds=5,
                             github_write_interval_seconds=0))


REG = default_registry()


def create(deps, fingerprint="ns/inc/uid-1", title="[인시던트] netaiops-cpu-spike 알람 발생"):
    return REG.call("github-create-issue", {"title": title, "body": "## 요약\n- 테스트", "fingerprint": fingerprint,
                                            "labels": ["incident", "severity:high", "auto-analysis"]}, deps)


def test_create_issue_makes_labels_and_finds_its_own_issue_again(github, deps):
    first = create(deps)
    assert first.outcome == "ok" and first.data["created"] is True and first.data["number"] == 1
    assert set(github.labels) == {"incident", "severity:high", "auto-analysis"}
    assert github.labels["severity:high"]["color"] == "d93f0b"
    again = create(deps)
    assert again.data == {"number": 1, "url": first.data["url"], "state": "open", "created": False}
    assert len(github.issues) == 1
    issue = github.issues[1]
    assert issue["title"] == "[인시던트] netaiops-cpu-spike 알람 발생" and "incident-operator:fingerprint=ns/inc/uid-1" in issue["body"]


def test_finding_the_issue_follows_pagination(github, deps):
    for i in range(55):  # older incidents fill more than one page (per_page=50)
        create(deps, fingerprint=f"old-{i}")
    target = github.issues[1]["number"]
    assert create(deps, fingerprint="old-0").data["number"] == target
    assert any(r.query.get("page") == "2" for r in github.requests if r.path.endswith("/issues"))
    assert len(github.issues) == 55


def test_comments_are_posted_once_per_key_and_close(github, deps):
    create(deps)
    for _ in range(2):
        assert REG.call("github-add-comment", {"issue_number": 1, "body": "# 원인 분석 결과", "key": "analysis"}, deps).outcome == "ok"
    assert len(github.comments[1]) == 1 and "incident-operator:comment=analysis" in github.comments[1][0]["body"]
    closed = REG.call("github-close-issue", {"issue_number": 1, "comment": "# 복구 완료", "comment_key": "resolution"}, deps)
    assert closed.data["state"] == "closed" and github.issues[1]["state"] == "closed"
    assert github.issues[1]["state_reason"] == "completed" and len(github.comments[1]) == 2
    listed = REG.call("github-list-issues", {"state": "all"}, deps)
    assert listed.data["issues"][0]["labels"] == ["incident", "severity:high", "auto-analysis"]
    assert REG.call("github-list-issues", {"state": "open"}, deps).data == {"issues": []}


def test_server_errors_and_rate_limits_are_retried(github, deps):
    github.fault("POST", r"/issues$", status=502)
    github.fault("GET", r"/labels$", status=403, headers={"Retry-After": "1", "X-RateLimit-Remaining": "0"},
                 body={"message": "API rate limit exceeded for installation"})
    res = create(deps)
    assert res.outcome == "ok" and len(github.issues) == 1
    assert sum(1 for r in github.requests if r.method == "POST" and r.path.endswith("/issues")) == 2


def test_failures_come_back_typed_without_secrets(github):
    bad = ToolDeps(Settings(github_token="ghp_wrongwrongwrongwrongwrongwrong00", github_repo="acme/shop", github_api_url=github.url))
    res = create(bad)
    assert res.outcome == "failed" and "401" in res.error and "ghp_wrong" not in res.error

    slow = ToolDeps(Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url=github.url, tool_timeout_seconds=1))
    github.fault("GET", r"/issues$", status=0, delay=3)
    assert create(slow).outcome == "timed-out"

    down = ToolDeps(Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url="http://127.0.0.1:9", tool_timeout_seconds=5))
    assert create(down).outcome == "failed"

    assert create(ToolDeps(Settings())).outcome == "not-configured"
