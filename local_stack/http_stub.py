"""A small threaded HTTP server for vendor stand-ins (GitHub, Datadog) where no real server exists.

Routes are (method, path regex) → handler(request) → (status, headers, json body). Faults can be
queued per route (a status with headers, or a delay), and every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    match: re.Match | None = None


Response = tuple[int, dict[str, str], Any]


@dataclass
class Fault:
    method: str
    pattern: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    times: int = 1


class StubServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern, Callable[[Request], Response]]] = []
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                stub._dispatch(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def route(self, method: str, pattern: str):
        def deco(fn: Callable[[Request], Response]):
            self.routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn
        return deco

    def fault(self, method: str, pattern: str, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, pattern, **kw))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.method == method and re.search(f.pattern, path) and f.times > 0:
                    f.times -= 1
                    return f
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        req = Request(h.command, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()},
                      {k.lower(): v for k, v in h.headers.items()}, body)
        with self.lock:
            self.requests.append(req)
        fault = self._take_fault(h.command, url.path)
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return self._send(h, fault.status, fault.headers, fault.body or {"message": "injected fault"})
        for method, rx, fn in self.routes:
            m = rx.match(url.path)
            if method == h.command and m:
                req.match = m
                status, headers, payload = fn(req)
                return self._send(h, status, headers, payload)
        self._send(h, 404, {}, {"message": "Not Found"})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        StubServer._write(h, status, {"Content-Type": "application/json; charset=utf-8", **headers}, data)

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        """The response as given: `headers` (Content-Type among them), Content-Length, then `data`."""
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
