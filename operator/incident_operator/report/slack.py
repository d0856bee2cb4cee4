"""The report as a Slack message: one message per Incident (Block Kit), updates as replies in its thread.

Slack's Web API (https://api.slack.com/web): `POST {api}/{method}` with a JSON body and
`Authorization: Bearer xoxb-…`; every answer is HTTP 200 `{"ok": true, …}` or `{"ok": false, "error": "…"}`,
except rate limits: HTTP 429 with `Retry-After` (seconds).

- open: `chat.postMessage` in INCIDENT_SLACK_CHANNEL; the channel id and `ts` Slack answers go into
  `status.report` (like the GitHub issue number). The message carries message metadata
  (`event_type: incident_report`, the Incident's fingerprint), so an operator that died between posting
  and recording finds it again (`conversations.history`, newest messages) instead of posting twice.
- comment: a reply in the thread (`thread_ts`), with metadata naming its key, found again the same
  way (`conversations.replies`); then the parent is brought up to date with `chat.update`.
- close: `chat.update` of the parent (state and outcome).

A 429 is waited out when `Retry-After` fits in the report deadline; otherwise it goes back to the
outbox, which tries again no earlier than Slack asked. Errors Slack gives for good (`channel_not_found`,
`not_in_channel`, `invalid_auth`, `msg_too_long`, …) are `SinkRejected`: not retried.
Every body is redacted before it leaves; Slack's limits are kept (message text 40,000 characters,
section text 3,000, header 150, 50 blocks).
"""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from ..kube.events import EventRecorder
from ..mdescape import unescape
from ..redact import redact, redact_data
from .sinks import ReportRef, ReportSink, SinkRejected

TEXT_MAX = 40000
SECTION_MAX = 3000
HEADER_MAX = 150
BLOCKS_MAX = 50
FIND_SCAN = 200  # newest channel messages looked at when status has no ts (the operator died after posting)
EVENT_OPENED = "incident_report"
EVENT_COMMENT = "incident_report_comment"
# Slack's own passing troubles; every other error is an answer that will not change by asking again
TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
CUT_NOTE = "…(길어서 잘렸습니다)"


class SlackUnavailable(Exception):
    """Slack did not answer usefully this time (network, 5xx, rate limit past the deadline)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class SlackClient:
    def __init__(self, token: str, api_url: str, timeout: float, session: requests.Session | None = None):
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def call(self, method: str, body: dict[str, Any] | None = None, *, params: dict[str, Any] | None = None,
             deadline: float | None = None) -> dict[str, Any]:
        """One Web API method: JSON POST for writes, GET with query arguments for reads."""
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.api_url}/{method}"
        while True:
            try:
                if body is not None:
                    r = self.session.post(url, json=redact_data(body), timeout=self.timeout,
                                          headers={**headers, "Content-Type": "application/json; charset=utf-8"})
                else:
                    r = self.session.get(url, params=params, timeout=self.timeout, headers=headers)
            except requests.RequestException as exc:
                raise SlackUnavailable(f"Slack {method}: {type(exc).__name__}") from None
            if r.status_code == 429:
                wait = _seconds(r.headers.get("Retry-After"))
                if deadline is not None and time.monotonic() + wait < deadline:
                    time.sleep(wait)
                    continue
                raise SlackUnavailable(f"Slack {method}: 429 rate limited (Retry-After {wait:g}s)", retry_after=wait)
            if r.status_code >= 500:
                raise SlackUnavailable(f"Slack {method}: HTTP {r.status_code}")
            if r.status_code != 200:
                raise SinkRejected(f"Slack {method}: HTTP {r.status_code}")
            try:
                data = r.json()
            except ValueError:
                raise SlackUnavailable(f"Slack {method}: not a JSON answer") from None
            if data.get("ok"):
                return data
            error = str(data.get("error") or "unknown_error")
            if error in TRANSIENT:
                raise SlackUnavailable(f"Slack {method}: {error}")
            raise SinkRejected(f"Slack {method}: {error}")


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value or 1))
    except ValueError:
        return 1.0


# --- Markdown (render.py) to Slack mrkdwn and blocks ---------------------------------------------

def mrkdwn(markdown: str) -> str:
    """The report's Markdown as Slack mrkdwn: headings and **bold** become *bold*, &<> escaped, and the
    backslash escapes of quoted text (mdescape) undone last, so they neither show nor make markup."""
    out = []
    for line in markdown.splitlines():
        line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            line = f"*{m.group(1).strip()}*"
        else:
            line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
            line = re.sub(r"^(\s*)- ", r"\1• ", line)
        out.append(unescape(line))
    return "\n".join(out)


def _chunks(text: str, size: int) -> list[str]:
    """Cut at line ends into pieces of at most `size` characters (a longer line is cut too)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:size])
            line = line[size:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > size:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def blocks(title: str | None, markdown: str, context: str | None = None) -> list[dict[str, Any]]:
    """Header (title), sections (≤ 3,000 characters each), a context line; never more than 50 blocks."""
    out: list[dict[str, Any]] = []
    if title:
        head = title if len(title) <= HEADER_MAX else title[: HEADER_MAX - 1] + "…"
        out.append({"type": "header", "text": {"type": "plain_text", "text": head, "emoji": True}})
    room = BLOCKS_MAX - len(out) - (1 if context else 0)
    sections = _chunks(mrkdwn(markdown), SECTION_MAX)
    if len(sections) > room:
        sections = sections[: room - 1] + [CUT_NOTE]
    out += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    if context:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(context)[:SECTION_MAX]}]})
    return out


def fallback_text(title: str | None, markdown: str) -> str:
    """The message's `text` (notifications, clients without blocks): at most 40,000 characters."""
    text = mrkdwn(f"{title}\n{markdown}" if title else markdown)
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - len(CUT_NOTE) - 1] + "\n" + CUT_NOTE


def _strip_title(body: str) -> str:
    lines = body.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


class SlackSink(ReportSink):
    """One message per Incident in a channel; comments in its thread; the parent kept up to date."""

    name = "slack"

    def __init__(self, deps, recorder: EventRecorder):
        s = deps.settings
        self.settings = s
        self.recorder = recorder
        self.channel = s.slack_channel
        self.client = deps.client("slack", lambda: SlackClient(s.slack_token.get_secret_value(), s.slack_api_url,
                                                              s.tool_timeout_seconds))
        self.deadline: float | None = None
        self._parent: dict[str, Any] = {}  # title/body/labels of the parent, for chat.update

    def _start(self) -> None:
        """Each operation may wait out a 429 only within the report deadline (a little before it)."""
        self.deadline = time.monotonic() + max(0.0, self.settings.report_timeout_seconds - 0.5)

    def _call(self, method: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        return self.client.call(method, body, params=params or None, deadline=self.deadline)

    # --- lookups after a crash ---------------------------------------------------------------------
    def _find_parent(self, fingerprint: str) -> dict[str, Any] | None:
        data = self._call("conversations.history", channel=self.channel, limit=FIND_SCAN, include_all_metadata="true")
        for m in data.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == EVENT_OPENED and (meta.get("event_payload") or {}).get("fingerprint") == fingerprint:
                return m
        return None

    def _has_reply(self, ref: ReportRef, key: str) -> bool:
        data = self._call("conversations.replies", channel=ref.channel, ts=ref.ts, limit=FIND_SCAN,
                          include_all_metadata="true")
        for m in data.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == EVENT_COMMENT and (meta.get("event_payload") or {}).get("key") == key:
                return True
        return False

    # --- the sink ----------------------------------------------------------------------------------
    def _parent_message(self, title: str, body: str, labels: list[str], state: str, fingerprint: str | None) -> dict[str, Any]:
        context = f"상태: {state} · " + " ".join(f"`{l}`" for l in labels)
        msg = {"text": fallback_text(title, f"상태: {state}"), "blocks": blocks(title, _strip_title(body), context),
               "unfurl_links": False, "unfurl_media": False}
        if fingerprint:
            msg["metadata"] = {"event_type": EVENT_OPENED, "event_payload": {"fingerprint": fingerprint}}
        return msg

    def open(self, fingerprint: str, title: str, body: str, labels: list[str], fresh: bool = False) -> ReportRef:
        self._start()
        found = None if fresh else self._find_parent(fingerprint)
        if found:
            return self._ref(self.channel, found["ts"])
        msg = self._parent_message(title, body, labels, "분석 중", fingerprint)
        data = self._call("chat.postMessage", {"channel": self.channel, **msg})
        ref = self._ref(data["channel"], data["ts"])
        self.recorder.emit("ReportOpened", f"Slack {ref.channel} 메시지 {ref.ts}: {redact(title)}", key="report-opened-slack")
        return ref

    def _ref(self, channel: str, ts: str) -> ReportRef:
        return ReportRef(sink=self.name, ref=f"{channel}/{ts}", channel=channel, ts=ts)

    def comment(self, ref: ReportRef, key: str, body: str, fresh: bool = False) -> None:
        self._start()
        if not fresh and self._has_reply(ref, key):
            return
        self._call("chat.postMessage", {
            "channel": ref.channel, "thread_ts": ref.ts, "text": fallback_text(None, body), "blocks": blocks(None, body),
            "unfurl_links": False, "unfurl_media": False,
            "metadata": {"event_type": EVENT_COMMENT, "event_payload": {"key": key}}})

    def close(self, ref: ReportRef, body: str) -> None:
        self._start()  # the parent is updated (state: closed) by update(), right after
        self.recorder.emit("ReportClosed", f"Slack {ref.channel} {ref.ts}: {body.splitlines()[0].lstrip('# ') if body else 'closed'}",
                           key="report-closed-slack")

    def update(self, ref: ReportRef, fingerprint: str, title: str, body: str, labels: list[str], state: str) -> None:
        if self.deadline is None:
            self._start()
        msg = self._parent_message(title, body, labels, state, fingerprint)
        self._call("chat.update", {"channel": ref.channel, "ts": ref.ts, **msg})


def configured(settings) -> bool:
    return bool(settings.slack_token and settings.slack_channel)
