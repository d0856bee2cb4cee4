"""Stand-ins for the Anthropic Messages API and the OpenAI Chat Completions API, scripted per test.

Both stream as the vendors document it, since strands' providers stream:

- Anthropic: POST /v1/messages with `x-api-key` and `anthropic-version`; Server-Sent Events
  message_start, content_block_start / content_block_delta (text_delta, input_json_delta) /
  content_block_stop per block, message_delta (stop_reason, usage.output_tokens), message_stop; tool
  calls are `tool_use` blocks, tool results come back as `tool_result` blocks in the next user message.
  Errors are {"type": "error", "error": {"type": ..., "message": ...}} (401 authentication_error,
  429 rate_limit_error, 500 api_error, 529 overloaded_error).
- OpenAI (and what vLLM, Ollama, LM Studio and LiteLLM's `openai/` route speak): POST
  /v1/chat/completions with `Authorization: Bearer`; `data: {chat.completion.chunk}` lines whose
  choices[0].delta carries `content` or `tool_calls` (id and name first, then `function.arguments`
  pieces), a chunk with `finish_reason`, a usage chunk with empty choices (stream_options.include_usage),
  then `data: [DONE]`. Tool results come back as `role: tool` messages. Errors are
  {"error": {"message", "type", "param", "code"}}.

A test scripts the model's turns once, provider-neutrally (`call_tool`, `answer`, `text`, `fail`), and each
server renders them in its own wire format: the same scenario runs against every provider. Every request
body and header is kept; a script used up answers 400 — unless the server was given a `responder`, a
function from the request body to the next step: a scripted model that answers any conversation
(local_stack/standin_model.py, what `make eval` runs without a real model).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from local_stack.http_stub import Request, Response, StubServer

_ids = itertools.count(1)
STRUCTURED_TOOL = "AgentDiagnosis"


@dataclass
class Step:
    kind: str  # tool | answer | text | fail
    name: str = ""
    args: dict = field(default_factory=dict)
    status: int = 0


def call_tool(name: str, args: dict) -> Step:
    return Step("tool", name, args)


def answer(diagnosis: dict) -> Step:
    """The structured answer: a call of the structured-output tool the agent offered."""
    return Step("answer", STRUCTURED_TOOL, diagnosis)


def text(words: str) -> Step:
    """A plain answer in prose, no tool called (what a model that ignores the structure does)."""
    return Step("text", "", {"text": words})


def fail(status: int) -> Step:
    return Step("fail", status=status)


def _tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def _halves(text: str) -> list[str]:
    """A tool's JSON input in two pieces, as a model streams it."""
    cut = max(1, len(text) // 2)
    return [text[:cut], text[cut:]]


class _SseStub(StubServer):
    """StubServer whose handlers may answer an event stream (bytes) instead of JSON."""

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: Any) -> None:
        if not isinstance(payload, bytes):
            return StubServer._send(h, status, headers, payload)
        StubServer._write(h, status, {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                                      **headers}, payload)


class ScriptedLlm(_SseStub):
    key = "test-llm-key"

    def __init__(self, responder: Callable[[dict], Step] | None = None) -> None:
        super().__init__()
        self.responder = responder
        self.script: list[Step] = []
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.input_tokens = 0
        self.output_tokens = 0

    def play(self, *steps: Step) -> None:
        self.script = list(steps)

    def _take(self, req: Request) -> Step | None:
        self.bodies.append(req.body or {})
        self.headers.append(req.headers)
        if self.script:
            return self.script.pop(0)
        return self.responder(req.body or {}) if self.responder else None

    def tool_names(self, body: dict) -> set[str]:
        raise NotImplementedError

    def prompt(self, body: dict) -> str:
        """The first user message's text."""
        raise NotImplementedError

    def tool_results(self, body: dict) -> list[str]:
        """The tool results a request carries back to the model."""
        raise NotImplementedError


class AnthropicServer(ScriptedLlm):
    version = "2023-06-01"

    def __init__(self, responder: Callable[[dict], Step] | None = None) -> None:
        super().__init__(responder)
        self.route("POST", "/v1/messages")(self._messages)

    @staticmethod
    def _error(status: int, kind: str, message: str, headers: dict | None = None) -> Response:
        return status, {"request-id": f"req_{next(_ids)}", **(headers or {})}, {
            "type": "error", "error": {"type": kind, "message": message}}

    def _messages(self, req: Request) -> Response:
        step = self._take(req)
        body = req.body or {}
        if req.headers.get("x-api-key") != self.key:
            return self._error(401, "authentication_error", "invalid x-api-key")
        if not req.headers.get("anthropic-version"):
            return self._error(400, "invalid_request_error", "anthropic-version: header is required")
        if not body.get("stream") or not body.get("max_tokens") or not body.get("messages"):
            return self._error(400, "invalid_request_error", "stream, max_tokens and messages are required here")
        if unmatched := self._unanswered(body["messages"]):
            return self._error(400, "invalid_request_error", f"messages: tool_result for unknown tool_use ids {unmatched}")
        if step is None:
            return self._error(400, "invalid_request_error", "script exhausted")
        if step.kind == "fail":
            kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(step.status, "api_error")
            return self._error(step.status, kind, f"stand-in {kind}", {"retry-after": "1"} if step.status == 429 else {})
        if step.kind == "answer" and step.name not in self.tool_names(body):
            return self._error(400, "invalid_request_error", f"no tool {step.name} offered")
        inp, out = _tokens(body), 60
        self.input_tokens, self.output_tokens = self.input_tokens + inp, self.output_tokens + out
        events: list[dict] = [{"type": "message_start", "message": {
            "id": f"msg_{next(_ids)}", "type": "message", "role": "assistant", "content": [], "model": body["model"],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": inp, "output_tokens": 1}}}]
        index = 0
        if step.kind == "text":
            events += [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                       {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": step.args["text"]}},
                       {"type": "content_block_stop", "index": 0},
                       {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": out}},
                       {"type": "message_stop"}]
            stream = "".join(f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
            return 200, {"request-id": f"req_{next(_ids)}"}, stream.encode()
        if step.kind == "tool":
            events += [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                       {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"{step.name} "}},
                       {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "도구로 확인합니다."}},
                       {"type": "content_block_stop", "index": 0}]
            index = 1
        events.append({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": f"toolu_{next(_ids):024d}", "name": step.name, "input": {}}})
        events += [{"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}
                   for part in _halves(json.dumps(step.args, ensure_ascii=False))]
        events += [{"type": "content_block_stop", "index": index},
                   {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": out}},
                   {"type": "message_stop"}]
        stream = "".join(f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
        return 200, {"request-id": f"req_{next(_ids)}"}, stream.encode()

    @staticmethod
    def _unanswered(messages: list[dict]) -> list[str]:
        """tool_result blocks must answer the tool_use blocks of the assistant turn just before them."""
        bad: list[str] = []
        for before, msg in zip([{}] + messages, messages):
            blocks = msg["content"] if isinstance(msg["content"], list) else []
            asked = {b.get("id") for b in (before.get("content") or []) if isinstance(b, dict) and b.get("type") == "tool_use"}
            bad += [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result" and b.get("tool_use_id") not in asked]
        return bad

    def tool_names(self, body: dict) -> set[str]:
        return {t["name"] for t in body.get("tools") or []}

    def system(self, body: dict) -> str:
        system = body.get("system")
        return system if isinstance(system, str) else " ".join(b.get("text", "") for b in system or [])

    def prompt(self, body: dict) -> str:
        content = body["messages"][0]["content"]
        return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)

    def tool_results(self, body: dict) -> list[str]:
        found = []
        for block in body["messages"][-1]["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                found.append(content if isinstance(content, str) else " ".join(c.get("text", "") for c in content))
        return found


class OpenAIServer(ScriptedLlm):
    def __init__(self, responder: Callable[[dict], Step] | None = None) -> None:
        super().__init__(responder)
        self.route("POST", "/v1/chat/completions")(self._completions)

    @staticmethod
    def _error(status: int, message: str, kind: str, code: str | None) -> Response:
        return status, {"x-request-id": f"req_{next(_ids)}"}, {
            "error": {"message": message, "type": kind, "param": None, "code": code}}

    def _completions(self, req: Request) -> Response:
        step = self._take(req)
        body = req.body or {}
        if req.headers.get("authorization") != f"Bearer {self.key}":
            return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if not body.get("stream") or not body.get("messages") or not body.get("model"):
            return self._error(400, "model, messages and stream are required here", "invalid_request_error", None)
        asked = {c["id"] for m in body["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []}
        if unmatched := [m.get("tool_call_id") for m in body["messages"] if m["role"] == "tool" and m.get("tool_call_id") not in asked]:
            return self._error(400, f"messages with role 'tool' must answer a preceding tool_calls id: {unmatched}",
                               "invalid_request_error", None)
        if step is None:
            return self._error(400, "script exhausted", "invalid_request_error", None)
        if step.kind == "fail":
            if step.status == 429:
                return self._error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
            return self._error(step.status, "The server had an error while processing your request.", "server_error", None)
        if step.kind == "answer" and step.name not in self.tool_names(body):
            return self._error(400, f"no tool {step.name} offered", "invalid_request_error", None)
        inp, out = _tokens(body), 60
        self.input_tokens, self.output_tokens = self.input_tokens + inp, self.output_tokens + out
        cid, model = f"chatcmpl-{next(_ids)}", body["model"]

        def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> dict:
            return {"id": cid, "object": "chat.completion.chunk", "created": 1764000000, "model": model,
                    "system_fingerprint": None,
                    "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    **({"usage": usage} if usage else {})}
        chunks = [chunk({"role": "assistant", "content": ""})]
        if step.kind == "text":
            words = step.args["text"]
            chunks += [chunk({"content": part}) for part in _halves(words)] + [chunk({}, "stop")]
            if (body.get("stream_options") or {}).get("include_usage"):
                chunks.append(chunk(None, usage={"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}))
            stream = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return 200, {"x-request-id": f"req_{next(_ids)}"}, stream.encode()
        if step.kind == "tool":
            chunks += [chunk({"content": f"{step.name} "}), chunk({"content": "도구로 확인합니다."})]
        chunks.append(chunk({"tool_calls": [{"index": 0, "id": f"call_{next(_ids)}", "type": "function",
                                             "function": {"name": step.name, "arguments": ""}}]}))
        chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                   for part in _halves(json.dumps(step.args, ensure_ascii=False))]
        chunks.append(chunk({}, "tool_calls"))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(chunk(None, usage={"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}))
        stream = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return 200, {"x-request-id": f"req_{next(_ids)}"}, stream.encode()

    def tool_names(self, body: dict) -> set[str]:
        return {t["function"]["name"] for t in body.get("tools") or []}

    def system(self, body: dict) -> str:
        return " ".join(_text(m.get("content")) for m in body["messages"] if m["role"] in ("system", "developer"))

    def prompt(self, body: dict) -> str:
        return _text(next(m for m in body["messages"] if m["role"] == "user")["content"])

    def tool_results(self, body: dict) -> list[str]:
        return [_text(m.get("content")) for m in body["messages"] if m["role"] == "tool"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
