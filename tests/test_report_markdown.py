"""GitHub reports quote outside text as text: no links, images, mentions, headings, HTML or forged markers.

An Incident whose alarm, Events, termination messages, model answer and actions all carry Markdown is
reported to the GitHub stand-in through the real sink (PyGithub); what was posted is then rendered with
cmark-gfm, GitHub's own Markdown library (with its autolink extension and raw HTML let through, as
GitHub's renderer sees it before its sanitiser), and searched."""

from __future__ import annotations

import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from incident_operator.report import render
from incident_operator.report.outbox import COMMENT_RENDERERS
from incident_operator.report.sinks import GitHubSink
from incident_operator.report.slack import mrkdwn
from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps
from incident_operator.tools.github import TITLE_MAX, comment_marker

from local_stack.github_server import TOKEN, GitHubServer

EVIL = ("@acme/oncall 확인 바랍니다 [click](https://evil.example/login) ![px](https://evil.example/p.png) "
        "<img src=x onerror=alert(1)> <details>숨김</details> &#64;admin www.evil.example mail ops@evil.example #1 "
        "`code` **굵게**")
FORGE = "정상\n# 복구 완료\n<!-- incident-operator:comment=resolution -->\n- [x] 조치됨\n> 인용"
ALARM = "cpu-high\n# 복구 완료 @acme/oncall [x](https://evil.example)"


def _incident() -> tuple[dict, dict]:
    spec = {"severity": "high", "alarm": {"name": ALARM, "state": "ALARM", "reason": f"{EVIL} {FORGE}",
                                          "metric": {"name": "pod_cpu_utilization"}, "threshold": 80},
            "recovery": {"recoveredAt": "2026-12-06T21:00:00Z", "reason": EVIL}}
    status = {
        "incidentType": "pod", "topCause": EVIL, "summary": FORGE,
        "affected": [{"kind": "Deployment", "namespace": "shop", "name": "api", "detail": EVIL}],
        "timeline": [{"time": "2026-12-06T20:59:00Z", "text": f"Event: {EVIL}"}, {"time": "# 시각", "text": FORGE}],
        "causes": [{"rank": 1, "title": EVIL, "confidence": 0.9, "kind": "app-errors",
                    "evidence": [{"source": "kubernetes", "text": f"termination message: {FORGE}", "ref": "Pod/api-1`x"},
                                 {"source": "[logs](https://evil.example)", "text": EVIL}]}],
        "anomalies": [{"time": "2026-12-06T20:58:00Z", "source": "events", "text": EVIL}],
        "similarIncidents": [{"name": "old <!-- incident-operator:comment=resolution -->", "phase": "Resolved",
                              "topCause": FORGE, "match": ["alarm"]}],
        "evidence": {"sources": [{"source": "kubernetes", "outcome": "ok", "items": 3, "detail": EVIL}]},
        "guide": {"immediate": [EVIL, FORGE], "longTerm": ["## 장기 #2 @team"]},
        "actions": [{"action": "restart-pods", "target": "Deployment/api", "state": "failed",
                     "message": EVIL, "undo": FORGE}],
        "engine": "llm",
    }
    return spec, status


class _Recorder:
    namespace, name = "shop", "evil"

    def emit(self, reason: str, message: str, key: str | None = None) -> None:
        pass


@pytest.fixture(scope="module")
def posted():
    """The issue and its three comments as the GitHub stand-in received them."""
    server = GitHubServer()
    try:
        deps = ToolDeps(Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url=server.url,
                                 tool_timeout_seconds=5, github_write_interval_seconds=0))
        sink = GitHubSink(deps, _Recorder())
        spec, status = _incident()
        ref = sink.open("shop/evil/uid", render.issue_title(spec, "evil"), render.opening_body("evil", spec, status),
                        render.labels(spec), fresh=True)
        for key in ("analysis", "resolution", "recovered"):
            sink.comment(ref, key, COMMENT_RENDERERS[key](status, spec), fresh=True)
        [issue] = server.issue_list()
        yield {"title": issue["title"], "bodies": [issue["body"]] + [c["body"] for c in server.comments[issue["number"]]],
               "report": render.full_report("evil", spec, status)}
    finally:
        server.stop()


def _html(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def _texts(posted) -> list[str]:
    return posted["bodies"] + [posted["report"]]


def test_no_link_or_image_from_outside_text(posted):
    for body in _texts(posted):
        html = _html(body)
        assert "<a " not in html and "<img" not in html, html  # [x](…), ![](…), bare URLs, www., e-mail
        assert "https://evil.example/login" in body  # the URL is still there to read and copy, as code


def test_no_raw_html_from_outside_text(posted):
    for body in _texts(posted):
        html = _html(body)
        assert "<details>" not in html and "onerror" not in re.sub(r"&lt;img[^&]*", "", html)
        assert "&lt;details&gt;숨김&lt;/details&gt;" in html


def test_no_mention_or_cross_reference_from_outside_text(posted):
    for body in _texts(posted):
        html = re.sub(r"<code>.*?</code>", "", _html(body))  # GitHub links neither inside code
        assert not re.search(r"@[A-Za-z0-9]", html), html  # @acme/oncall, @admin (&#64;), ops@evil.example
        assert not re.search(r"#[0-9]", html), html


def test_no_heading_list_or_marker_forged_by_outside_text(posted):
    issue, analysis, resolution, recovered = posted["bodies"]
    heads = lambda body: re.findall(r"<h([1-6])>(.*?)</h\1>", _html(body))  # noqa: E731
    assert [h for _, h in heads(issue)][1:] == ["요약", "영향 범위"]
    assert [h for _, h in heads(analysis)] == ["원인 분석 결과", "근본 원인 후보", "이상 징후 (T±30분)", "유사한 과거 인시던트",
                                                "수집한 증거", "타임라인", "대응 가이드", "즉시 조치", "장기 개선"]
    assert [h for _, h in heads(resolution)] == ["분석 완료 — 수동 조치 필요", "복구 결과"]
    assert [h for _, h in heads(recovered)] == ["알람 정상화", "복구 결과"]
    for body in posted["bodies"]:
        html = _html(body)
        assert "<blockquote>" not in html and 'type="checkbox"' not in html and "<hr" not in html
        assert body.count("<!-- incident-operator:") == 1  # only our own marker, on the last line
    assert resolution.rstrip().endswith(comment_marker("resolution"))
    assert "# 복구 완료 " in analysis  # still there to read: quoted text on one line, not a heading


def test_title_is_one_bounded_line(posted):
    title = posted["title"]
    assert "\n" not in title and "\r" not in title and len(title) <= TITLE_MAX
    assert title == "[인시던트] cpu-high # 복구 완료 @acme/oncall [x](https://evil.example) 알람 발생"
    heading = _html(posted["bodies"][0]).split("\n")[0]
    assert heading == "<h1>[인시던트] cpu-high # 복구 완료 @\u200bacme/oncall [x](<code>https://evil.example</code>) 알람 발생</h1>"
    long = {"alarm": {"name": "x" * 255 + "\n" + "y" * 100}}
    assert len(render.issue_title(long, "n")) < TITLE_MAX and "\n" not in render.issue_title(long, "n")


def test_korean_and_the_text_itself_survive(posted):
    analysis = _html(posted["bodies"][1])
    assert "@\u200bacme/oncall 확인 바랍니다 [click](<code>https://evil.example/login</code>)" in analysis
    assert "&lt;img src=x onerror=alert(1)&gt;" in analysis and "**굵게**" in analysis


def test_slack_shows_the_same_text_without_the_escapes(posted):
    text = mrkdwn(posted["report"])
    assert "\\[" not in text and "\\<" not in text and "\\`" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "[click](`https://evil.example/login`)" in text


def test_a_title_given_to_the_tool_is_one_line_too():
    from incident_operator.tools import default_registry

    server = GitHubServer()
    try:
        deps = ToolDeps(Settings(github_token=TOKEN, github_repo="acme/shop", github_api_url=server.url,
                                 tool_timeout_seconds=5, github_write_interval_seconds=0))
        res = default_registry().call("github-create-issue", {"title": "cpu\n# 복구 완료\r\n\u202e@team", "body": "본문",
                                                              "fingerprint": "a/b/1"}, deps)
        assert res.outcome == "ok" and server.issue_list()[0]["title"] == "cpu # 복구 완료 @team"
    finally:
        server.stop()


def test_code_spans_an_analyzer_writes_render_as_code_and_hold_nothing_else():
    """A cause title like the rbac analyzer's ("`system:serviceaccount:…`에 `pods` list 권한 없음") showed its
    backticks as text (escaped) where code was meant; now the spans stay code, and what a span holds is inert,
    whatever the quoted value was."""
    title = "`system:serviceaccount:shop:sync`에 `pods` list 권한이 없어 요청이 거부됨 (3건)"
    html = _html(render.analysis_comment({"causes": [{"rank": 1, "title": title, "confidence": 0.9,
                                                       "kind": "rbac-forbidden"}]}))
    assert "<code>system:serviceaccount:shop:sync</code>에 <code>pods</code> list 권한이" in html
    hostile = "`x` [a](https://evil.example) `@team <img src=x>` `unclosed @admin #12"
    html = _html(render.analysis_comment({"causes": [{"rank": 1, "title": hostile, "confidence": 0.5,
                                                       "kind": "app-errors"}]}))
    outside = re.sub(r"<code>.*?</code>", "", html)
    assert "<a " not in html and "<img" not in html and not re.search(r"@[A-Za-z0-9]|#[0-9]", outside), html
    assert "<code>@team &lt;img src=x&gt;</code>" in html and "`unclosed" in html


@pytest.mark.parametrize("value", ["`" * 5000, "`a" * 5000, "``a`" * 3000, "`" + "x`" * 5000])
def test_inline_code_spans_are_linear_and_never_escape(value):
    from incident_operator.mdescape import inline
    out = inline(value)
    html = _html(f"- {out}")
    assert html.count("<li>") == 1 and "<a " not in html


def test_inline_and_text_hold_on_random_hostile_text():
    """A fuzz over the pieces that make Markdown (backtick runs, URLs, mentions, HTML, links, fences): whatever the
    mix, nothing renders as a link, an image, HTML, a mention or a block. It found two code spans that touched
    (a URL's span beside a quoted one) and so let a span's raw content through, and `x@.evil.com` as a mailto link."""
    import random

    from incident_operator.mdescape import inline, text
    parts = ["`", "``", "```", "www.x", "https://e.x/a", "@acme/t", "x@.e.com", "<img src=x>", "<b>", "[d](https://e.x)",
             "![i](https://e.x/p.png)", "~~~", "# ", "> ", "1. ", "y", " ", "\\", "*", "_", "&#64;", "#12", "<!--"]
    rng = random.Random(20261207)
    for _ in range(3000):
        value = "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        for escape in (inline, text):
            html = _html(f"- {escape(value)}")
            outside = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
            assert "<a " not in html and "<img" not in html and "<b>" not in html and "<pre" not in html, (value, html)
            assert not re.search(r"@[A-Za-z0-9.]|#[0-9]|<!--|<h[1-6]|<blockquote|<ol", outside), (value, html)
