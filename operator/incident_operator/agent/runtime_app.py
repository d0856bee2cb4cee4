"""The agent as a Bedrock AgentCore Runtime container: GET /ping, POST /invocations on :8080.

`incident-operator agent-runtime` runs it. An invocation carries the evidence bundle, the rules'
diagnosis and similar incidents; the answer is the model's AgentDiagnosis (ungrounded — the
operator grounds it) with token usage.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..models.diagnosis import Diagnosis
from ..models.evidence import EvidenceBundle
from ..tools.base import ToolDeps
from .engine import LlmDiagnoser


def handle_invocation(payload: dict, deps: ToolDeps) -> dict:
    bundle = EvidenceBundle.model_validate(payload["bundle"])
    rules = Diagnosis.model_validate(payload.get("rules") or {})
    answer, outcome = LlmDiagnoser(deps, deps.registry).answer(bundle, rules, payload.get("similar") or [])
    return {"diagnosis": answer.model_dump(mode="json") if answer else None, "error": outcome.error,
            "usage": {"inputTokens": outcome.input_tokens, "outputTokens": outcome.output_tokens},
            "toolCalls": outcome.tool_calls}


def make_server(deps: ToolDeps, host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"status": "Healthy"}) if self.path == "/ping" else self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/invocations":
                return self._send(404, {"error": "not found"})
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self._send(200, handle_invocation(payload, deps))
            except (ValueError, KeyError) as exc:
                self._send(400, {"error": f"bad invocation: {exc}"})

    return ThreadingHTTPServer((host, port), Handler)
