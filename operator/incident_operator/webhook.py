"""`incident-operator webhook`: Alertmanager as a second alarm source.

An ASGI app served by Hypercorn taking Alertmanager's webhook notifications (payload version "4") on
`POST /` (any path but /healthz). Each alert goes through the bridge's Incident writer
(bridge_lambda/incidents.py): the same per-alarm state record, episode naming and de-duplication as
CloudWatch alarms — firing opens an episode (or is a duplicate: Alertmanager repeats a group every
repeat_interval with the same startsAt), resolved recovers it.

Authentication: a bearer token (INCIDENT_WEBHOOK_TOKEN, compared in constant time) and/or mutual TLS
(INCIDENT_WEBHOOK_TLS_CERT / _KEY / _CLIENT_CA: a client certificate signed by that CA is required at
the handshake). With neither, the receiver does not start.

Bounds (docs/webhook.md): the TLS handshake is asynchronous and times out
(INCIDENT_WEBHOOK_HANDSHAKE_TIMEOUT_SECONDS), a connection that sends no complete request head, or stays
idle between requests, is closed after INCIDENT_WEBHOOK_IDLE_TIMEOUT_SECONDS, a body must arrive within
INCIDENT_WEBHOOK_BODY_TIMEOUT_SECONDS; the body limit holds for every framing (a declared length over it,
or a chunked body growing over it: 413; a malformed length: 400 from the HTTP parser); JSON deeper than
32 levels is a 400. A notification of any number of alerts is applied in pieces of a few dozen by
INCIDENT_WEBHOOK_WORKERS threads; at most INCIDENT_WEBHOOK_MAX_REQUESTS notifications are applied at
once, beyond that the answer is 503 with Retry-After (Alertmanager retries). The same body delivered
again while it is still being applied (Alertmanager's retry after its own timeout) waits for that run
instead of starting a second one. Answers:

- 200: every alert applied (`results[]`: created / duplicate / recovered / stale / …, with the Incident);
- 400: the body is not a version-4 notification (reason in `error`), or some alerts are malformed —
  those are reported in `results[]` as `invalid`, every good alert of the batch is applied all the same;
  Alertmanager does not retry a 4xx;
- 401: no or wrong token; 408: the body did not arrive in time; 413: body too large;
- 503: the Kubernetes API failed for some alert, or the receiver is busy (Alertmanager retries 5xx; what
  landed is a duplicate then).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import ssl
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from .redact import redact
from .serving import Receive, Send, Served, bind, lifespan
from .settings import Settings

log = logging.getLogger("incident_operator.webhook")
PERMANENT_API = (400, 403, 404, 422)
PIECE_PER_WORKER = 4  # alerts in flight per writer thread: a batch is applied in pieces of workers × this


def webhook_namespace(settings: Settings) -> str:
    """Where Incidents go: INCIDENT_WEBHOOK_NAMESPACE, else the first incident namespace that is a name."""
    if settings.webhook_namespace:
        return settings.webhook_namespace
    return next((n for n in settings.incident_namespaces if not any(c in n for c in "*?[")), "incident-operator")


class Receiver:
    """Applies one notification body; knows nothing of HTTP. Alerts go to the API server from `workers`
    threads, a bounded piece of the batch at a time, so a batch of any size is applied with bounded work
    in flight."""

    def __init__(self, writer: Any, workers: int = 8):
        self.writer = writer
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="webhook-write")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def apply(self, body: bytes) -> tuple[int, dict[str, Any]]:
        from bridge_lambda.alarm import InvalidRecord
        from bridge_lambda.alertmanager import parse_payload

        try:
            payload = parse_payload(body)
        except InvalidRecord as exc:
            return 400, {"error": str(exc)}
        results: list[dict[str, Any]] = []
        piece = self.workers * PIECE_PER_WORKER
        for start in range(0, len(payload.alerts), piece):
            futures = [self._pool.submit(self._one, payload, i, payload.alerts[i])
                       for i in range(start, min(start + piece, len(payload.alerts)))]
            results.extend(f.result() for f in futures)
        statuses = {r["status"] for r in results}
        code = 503 if "error" in statuses else 400 if "invalid" in statuses else 200
        out: dict[str, Any] = {"status": {200: "ok", 400: "partly-invalid", 503: "retry"}[code], "results": results}
        if payload.truncated_alerts:
            out["truncatedAlerts"] = payload.truncated_alerts  # Alertmanager's max_alerts cut these off: not seen here
        if len(results) > 1:
            log.info("alertmanager notification of %d alerts: %s", len(results), _counts(results))
        return code, out

    def _one(self, payload: Any, i: int, item: Any) -> dict[str, Any]:
        from kubernetes.client import ApiException

        from bridge_lambda.alarm import InvalidRecord
        from bridge_lambda.alertmanager import parse_alert

        try:
            alert = parse_alert(payload, item)
        except InvalidRecord as exc:
            log.warning("alertmanager alert %d invalid: %s", i, exc)
            return {"index": i, "status": "invalid", "error": str(exc)}
        entry: dict[str, Any] = {"index": i, "alertname": alert.name, "fingerprint": alert.fingerprint()}
        try:
            out = self.writer.on_notification(alert, alert.raw(), alert.message_id())
            entry.update(status=out.outcome, incident=out.incident)
        except ApiException as exc:
            message = _api_message(exc)
            entry.update(status="invalid" if exc.status in PERMANENT_API else "error",
                         error=f"Kubernetes API {exc.status}: {message}")
        except Exception as exc:  # noqa: BLE001 - reported; Alertmanager retries on 503
            entry.update(status="error", error=redact(f"{type(exc).__name__}: {exc}")[:500])
        log.info("alertmanager alert %s %s: %s %s", alert.name, alert.status, entry["status"], entry.get("incident") or "")
        return entry


def _counts(results: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _api_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message"))[:500]
    except Exception:  # noqa: BLE001
        return str(exc.reason)


async def _answer(send: Send, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    hdrs = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(data)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": code, "headers": hdrs})
    await send({"type": "http.response.body", "body": data})


class _TooLarge(Exception):
    pass


class WebhookApp:
    """The ASGI app: routing, the token, the body limit, and admission of notifications."""

    def __init__(self, receiver: Receiver, token: str | None, max_body: int, max_requests: int = 2,
                 body_timeout: float = 30.0):
        self.receiver, self.token, self.max_body = receiver, token, max_body
        self.max_requests, self.body_timeout = max(1, max_requests), body_timeout
        # notifications being applied, by body hash: a retry of the same body joins the run under way
        self._running: dict[str, Future[tuple[int, dict[str, Any]]]] = {}
        self._batches = ThreadPoolExecutor(self.max_requests, thread_name_prefix="webhook-batch")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD"):
            if path in ("/healthz", "/readyz"):
                return await _answer(send, 200, {"status": "ok"})
            return await _answer(send, 404, {"error": "not found; Alertmanager posts to /"})
        if method != "POST":
            return await _answer(send, 405, {"error": "only POST (Alertmanager) and GET /healthz"}, {"Allow": "GET, POST"})
        headers: dict[bytes, bytes] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.lower(), v)
        if self.token is not None:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {self.token}".encode()):
                return await _answer(send, 401, {"error": "missing or wrong bearer token"},
                                     {"WWW-Authenticate": 'Bearer realm="incident-operator"', "Connection": "close"})
        declared = headers.get(b"content-length")
        if declared is not None:  # HTTP/1.1's parser refuses a bad one before this (400); HTTP/2 is checked here
            if not declared.isdigit():
                return await _answer(send, 400, {"error": "bad Content-Length"}, {"Connection": "close"})
            if int(declared) > self.max_body:
                return await _answer(send, 413, {"error": f"body over {self.max_body} bytes"}, {"Connection": "close"})
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._body(receive)
        except _TooLarge:
            return await _answer(send, 413, {"error": f"body over {self.max_body} bytes"}, {"Connection": "close"})
        except TimeoutError:
            return await _answer(send, 408, {"error": f"body not received within {self.body_timeout:g} s"},
                                 {"Connection": "close"})
        if body is None:
            return  # the client went away
        key = hashlib.sha256(body).hexdigest()
        run = self._running.get(key)
        if run is None:
            if len(self._running) >= self.max_requests:
                return await _answer(send, 503, {"status": "retry", "error": "busy: too many notifications being "
                                                 "applied; retry"}, {"Retry-After": "5"})
            run = self._batches.submit(self.receiver.apply, body)
            self._running[key] = run
            loop = asyncio.get_running_loop()
            run.add_done_callback(lambda _f: _soon(loop, self._running.pop, key, None))
        # shielded: a client that gives up does not stop the run (its retry finds the work done or joins it)
        code, out = await asyncio.shield(asyncio.wrap_future(run))
        await _answer(send, code, out)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def close(self) -> None:
        self._batches.shutdown(wait=False, cancel_futures=True)


def _soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: the server stopped
        pass


class WebhookServer:
    def __init__(self, settings: Settings, receiver: Receiver, host: str = "0.0.0.0", port: int | None = None):
        token = settings.webhook_token.get_secret_value() if settings.webhook_token else None
        if not token and not settings.webhook_tls_client_ca:
            raise ValueError("the webhook receiver needs INCIDENT_WEBHOOK_TOKEN and/or mutual TLS "
                             "(INCIDENT_WEBHOOK_TLS_CERT, _KEY, _CLIENT_CA); it does not run unauthenticated")
        if settings.webhook_tls_client_ca and not (settings.webhook_tls_cert and settings.webhook_tls_key):
            raise ValueError("INCIDENT_WEBHOOK_TLS_CLIENT_CA needs INCIDENT_WEBHOOK_TLS_CERT and INCIDENT_WEBHOOK_TLS_KEY")
        ctx = None
        if settings.webhook_tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(settings.webhook_tls_cert, settings.webhook_tls_key)
            ctx.set_alpn_protocols(["http/1.1"])
            if settings.webhook_tls_client_ca:
                ctx.load_verify_locations(settings.webhook_tls_client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
        self.receiver = receiver
        self.app = WebhookApp(receiver, token, settings.webhook_max_body_bytes, settings.webhook_max_requests,
                              settings.webhook_body_timeout_seconds)
        sock = bind(host, settings.webhook_port if port is None else port)
        self.served = Served(self.app, sock, ctx, idle_timeout=settings.webhook_idle_timeout_seconds,
                             handshake_timeout=settings.webhook_handshake_timeout_seconds,
                             graceful_timeout=settings.webhook_graceful_timeout_seconds, name="webhook")
        self.tls = ctx is not None

    @property
    def port(self) -> int:
        return self.served.port

    def serve_forever(self, signals: bool = False) -> None:
        try:
            self.served.serve_forever(signals)
        finally:
            self.app.close()

    def shutdown(self) -> None:
        self.served.shutdown()


def make_writer(settings: Settings, api_client: Any = None) -> Any:
    from kubernetes import client

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.incidents import IncidentWriter

    from .kube.client import load_config
    if api_client is None:
        load_config()
        conf = client.Configuration.get_default_copy()
        conf.connection_pool_maxsize = max(conf.connection_pool_maxsize or 1, settings.webhook_workers)  # one per writer
        api_client = client.ApiClient(conf)
    cfg = BridgeConfig(namespace=webhook_namespace(settings), remediation=settings.webhook_remediation)
    return IncidentWriter(api_client, cfg)
