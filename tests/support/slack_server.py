"""A Slack Web API stand-in: chat.postMessage, chat.update, conversations.history and conversations.replies
with Slack's documented shapes — `Authorization: Bearer` (`not_authed` / `invalid_auth`), HTTP 200 with
`{"ok": false, "error": …}` for errors, message metadata returned only with `include_all_metadata`,
Slack's limits checked (`msg_too_long` past 40,000 characters of text, `invalid_blocks` past 50 blocks,
3,000 characters of section text or 150 of header), and injectable faults (HTTP 429 with
`Retry-After`, error answers) through StubServer.fault."""

from __future__ import annotations

import itertools
import time
from typing import Any

from local_stack.http_stub import Request, Response, StubServer

TOKEN = "xoxb-1111111111-2222222222-testtokenabcdefghijkl"
CHANNELS = {"#incidents": "C0INCIDENTS", "C0INCIDENTS": "C0INCIDENTS", "#other": "C0OTHER", "C0OTHER": "C0OTHER"}
BOT_ID = "B0OPERATOR"


class SlackServer(StubServer):
    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> every message, oldest first
        self.members = {"C0INCIDENTS"}  # the bot was invited here only
        self.clock = itertools.count(1)
        self.route("POST", "/api/chat.postMessage")(self._post)
        self.route("POST", "/api/chat.update")(self._update)
        self.route("GET", "/api/conversations.history")(self._history)
        self.route("GET", "/api/conversations.replies")(self._replies)

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    # --- what the tests read -------------------------------------------------------------------
    def parents(self, channel: str = "C0INCIDENTS") -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, []) if not m.get("thread_ts")]

    def replies(self, ts: str, channel: str = "C0INCIDENTS") -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, []) if m.get("thread_ts") == ts and m["ts"] != ts]

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/api/{method}"]

    # --- shapes --------------------------------------------------------------------------------
    @staticmethod
    def _error(error: str, **extra: Any) -> Response:
        return 200, {}, {"ok": False, "error": error, **extra}

    def _auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        if not auth:
            return self._error("not_authed")
        if auth != f"Bearer {TOKEN}":
            return self._error("invalid_auth")
        return None

    def _channel(self, name: str | None, ids_only: bool = True) -> tuple[str | None, Response | None]:
        """chat.postMessage takes a channel name or ID; chat.update and conversations.* take IDs only."""
        cid = CHANNELS.get(name or "") if ids_only is False or not (name or "").startswith("#") else None
        if not cid:
            return None, self._error("channel_not_found")
        if cid not in self.members:
            return None, self._error("not_in_channel")
        return cid, None

    def _authorized_channel(self, req: Request, name: str | None, ids_only: bool = True) -> tuple[str | None, Response | None]:
        """What every method checks first, in Slack's order: the token, then the channel."""
        bad = self._auth(req)
        return (None, bad) if bad else self._channel(name, ids_only)

    @staticmethod
    def _check_content(body: dict[str, Any]) -> Response | None:
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return SlackServer._error("no_text")
        if text and len(text) > 40000:
            return SlackServer._error("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > 50:
                return SlackServer._error("invalid_blocks", errors=["no more than 50 items allowed [json-pointer:/blocks]"])
            for i, b in enumerate(blocks):
                t = (b.get("text") or {}).get("text", "")
                limit = 150 if b.get("type") == "header" else 3000
                if len(t) > limit or b.get("type") not in ("header", "section", "context", "divider"):
                    return SlackServer._error("invalid_blocks", errors=[f"must be less than {limit + 1} characters [json-pointer:/blocks/{i}/text]"])
        return None

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self.clock):06d}"

    def _post(self, req: Request) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        cid, bad = self._authorized_channel(req, body.get("channel"), ids_only=False)
        if bad:
            return bad
        bad = self._check_content(body)
        if bad:
            return bad
        thread = body.get("thread_ts")
        if thread and not any(m["ts"] == thread for m in self.messages.get(cid, [])):
            return self._error("thread_not_found")
        msg = {"type": "message", "ts": self._ts(), "text": body.get("text") or "", "bot_id": BOT_ID,
               "blocks": body.get("blocks") or [], "metadata": body.get("metadata")}
        if thread:
            msg["thread_ts"] = thread
        with self.lock:
            self.messages.setdefault(cid, []).append(msg)
        return 200, {}, {"ok": True, "channel": cid, "ts": msg["ts"], "message": self._shown(msg, False)}

    def _update(self, req: Request) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        cid, bad = self._authorized_channel(req, body.get("channel"))
        if bad:
            return bad
        msg = next((m for m in self.messages.get(cid, []) if m["ts"] == body.get("ts")), None)
        if msg is None:
            return self._error("message_not_found")
        bad = self._check_content(body)
        if bad:
            return bad
        msg.update(text=body.get("text") or "", blocks=body.get("blocks") or [], edited=True)
        if body.get("metadata"):
            msg["metadata"] = body["metadata"]
        return 200, {}, {"ok": True, "channel": cid, "ts": msg["ts"], "text": msg["text"]}

    @staticmethod
    def _shown(m: dict[str, Any], metadata: bool) -> dict[str, Any]:
        out = {k: v for k, v in m.items() if k != "metadata" and v is not None}
        if metadata and m.get("metadata"):
            out["metadata"] = m["metadata"]
        return out

    def _history(self, req: Request) -> Response:
        cid, bad = self._authorized_channel(req, req.query.get("channel"))
        if bad:
            return bad
        limit = int(req.query.get("limit") or 100)
        meta = req.query.get("include_all_metadata") in ("true", "1")
        top = [m for m in reversed(self.messages.get(cid, [])) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
        return 200, {}, {"ok": True, "messages": [self._shown(m, meta) for m in top[:limit]],
                         "has_more": len(top) > limit, "response_metadata": {"next_cursor": ""}}

    def _replies(self, req: Request) -> Response:
        cid, bad = self._authorized_channel(req, req.query.get("channel"))
        if bad:
            return bad
        ts = req.query.get("ts")
        parent = next((m for m in self.messages.get(cid, []) if m["ts"] == ts), None)
        if parent is None:
            return self._error("thread_not_found")
        meta = req.query.get("include_all_metadata") in ("true", "1")
        thread = [parent] + self.replies(ts, cid)
        limit = int(req.query.get("limit") or 1000)
        return 200, {}, {"ok": True, "messages": [self._shown(m, meta) for m in thread[:limit]], "has_more": False}
