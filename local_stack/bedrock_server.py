"""A Bedrock Runtime stand-in that speaks the Converse API (non-streaming), scripted per test.

POST /model/{modelId}/converse takes `messages` / `system` / `toolConfig` and answers
{"output": {"message": {"role": "assistant", "content": [...]}}, "stopReason", "usage", "metrics"},
with `toolUse` blocks for tool calls. Throttling is HTTP 429 with x-amzn-ErrorType
ThrottlingException, as Bedrock sends it. Each scripted step answers one request; when the script
is used up the server answers 400 ValidationException.
"""

from __future__ import annotations

import itertools
import json
from typing import Callable

from .http_stub import Request, Response, StubServer

Step = Callable[[dict], Response]
_ids = itertools.count(1)


def _usage(req: dict, out: int = 60) -> dict:
    n = max(1, len(json.dumps(req)) // 4)
    return {"inputTokens": n, "outputTokens": out, "totalTokens": n + out}


def _reply(req: dict, content: list[dict], stop: str) -> Response:
    return 200, {}, {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                     "usage": _usage(req), "metrics": {"latencyMs": 12}}


def call_tool(name: str, args: dict) -> Step:
    return lambda req: _reply(req, [{"text": f"{name} 도구로 확인합니다."},
                                    {"toolUse": {"toolUseId": f"tooluse_{next(_ids)}", "name": name, "input": args}}], "tool_use")


def answer(diagnosis: dict) -> Step:
    """The structured answer: a call of the structured-output tool the agent offered."""
    def step(req: dict) -> Response:
        names = [t["toolSpec"]["name"] for t in req.get("toolConfig", {}).get("tools", [])]
        tool = next(n for n in names if n == "AgentDiagnosis")
        return _reply(req, [{"toolUse": {"toolUseId": f"tooluse_{next(_ids)}", "name": tool, "input": diagnosis}}], "tool_use")
    return step


def text(words: str) -> Step:
    return lambda req: _reply(req, [{"text": words}], "end_turn")


def throttle() -> Step:
    return lambda req: (429, {"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
                        {"message": "Too many requests, please wait before trying again."})


def invalid() -> Step:
    return lambda req: (400, {"x-amzn-ErrorType": "ValidationException"}, {"message": "script exhausted"})


class BedrockServer(StubServer):
    def __init__(self) -> None:
        super().__init__()
        self.script: list[Step] = []
        self.bodies: list[dict] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.route("POST", r"/model/(.+)/converse")(self._converse)

    def play(self, *steps: Step) -> None:
        self.script = list(steps)

    def _converse(self, req: Request) -> Response:
        body = req.body or {}
        self.bodies.append(body)
        step = self.script.pop(0) if self.script else invalid()
        status, headers, payload = step(body)
        if status == 200:
            self.input_tokens += payload["usage"]["inputTokens"]
            self.output_tokens += payload["usage"]["outputTokens"]
        return status, headers, payload

    def model_ids(self) -> list[str]:
        return [r.path.split("/")[2] for r in self.requests if r.path.endswith("/converse")]
