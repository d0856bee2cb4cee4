"""`incident-operator webhook`: Alertmanager as a second alarm source.

A small threaded HTTP(S) server (stdlib) taking Alertmanager's webhook notifications (payload version
"4") on `POST /` (any path but /healthz). Each alert goes through the bridge's Incident writer
(bridge_lambda/incidents.py): the same per-alarm state record, episode naming and de-duplication as
CloudWatch alarms — firing opens an episode (or is a duplicate: Alertmanager repeats a group every
repeat_interval with the same startsAt), resolved recovers it.

Authentication: a bearer token (INCIDENT_WEBHOOK_TOKEN, compared in constant time) and/or mutual TLS
(INCIDENT_WEBHOOK_TLS_CERT / _KEY / _CLIENT_CA: a client certificate signed by that CA is required at
the handshake). With neither, the receiver does not start. Answers:

- 200: every alert applied (`results[]`: created / duplicate / recovered / stale / …, with the Incident);
- 400: the body is not a version-4 notification (reason in `error`), or some alerts are malformed —
  those are reported in `results[]` as `invalid`, every good alert of the batch is applied all the same;
  Alertmanager does not retry a 4xx;
- 401: no or wrong token; 413: body too large;
- 503: the Kubernetes API failed for some alert (Alertmanager retries 5xx; what landed is a duplicate then).
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .redact import redact
from .settings import Settings

log = logging.getLogger("incident_operator.webhook")
PERMANENT_API = (400, 403, 404, 422)


def webhook_namespace(settings: Settings) -> str:
    """Where Incidents go: INCIDENT_WEBHOOK_NAMESPACE, else the first incident namespace that is a name."""
    if settings.webhook_namespace:
        return settings.webhook_namespace
    return next((n for n in settings.incident_namespaces if not any(c in n for c in "*?[")), "incident-operator")


class Receiver:
    """Applies one notification body; knows nothing of HTTP."""

    def __init__(self, writer: Any):
        self.writer = writer

    def apply(self, body: bytes) -> tuple[int, dict[str, Any]]:
        from kubernetes.client import ApiException

        from bridge_lambda.alarm import InvalidRecord
        from bridge_lambda.alertmanager import parse_alert, parse_payload

        try:
            payload = parse_payload(body)
        except InvalidRecord as exc:
            return 400, {"error": str(exc)}
        results: list[dict[str, Any]] = []
        for i, item in enumerate(payload.alerts):
            try:
                alert = parse_alert(payload, item)
            except InvalidRecord as exc:
                results.append({"index": i, "status": "invalid", "error": str(exc)})
                log.warning("alertmanager alert %d invalid: %s", i, exc)
                continue
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
            results.append(entry)
        statuses = {r["status"] for r in results}
        code = 503 if "error" in statuses else 400 if "invalid" in statuses else 200
        out: dict[str, Any] = {"status": {200: "ok", 400: "partly-invalid", 503: "retry"}[code], "results": results}
        if payload.truncated_alerts:
            out["truncatedAlerts"] = payload.truncated_alerts  # Alertmanager's max_alerts cut these off: not seen here
        return code, out


def _api_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message"))[:500]
    except Exception:  # noqa: BLE001
        return str(exc.reason)


class WebhookServer:
    def __init__(self, settings: Settings, receiver: Receiver, host: str = "0.0.0.0", port: int | None = None):
        token = settings.webhook_token.get_secret_value() if settings.webhook_token else None
        if not token and not settings.webhook_tls_client_ca:
            raise ValueError("the webhook receiver needs INCIDENT_WEBHOOK_TOKEN and/or mutual TLS "
                             "(INCIDENT_WEBHOOK_TLS_CERT, _KEY, _CLIENT_CA); it does not run unauthenticated")
        if settings.webhook_tls_client_ca and not (settings.webhook_tls_cert and settings.webhook_tls_key):
            raise ValueError("INCIDENT_WEBHOOK_TLS_CLIENT_CA needs INCIDENT_WEBHOOK_TLS_CERT and INCIDENT_WEBHOOK_TLS_KEY")
        max_body = settings.webhook_max_body_bytes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "incident-operator-webhook"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] in ("/healthz", "/readyz"):
                    return self._send(200, {"status": "ok"})
                self._send(404, {"error": "not found; Alertmanager posts to /"})

            def do_POST(self) -> None:  # noqa: N802
                if token is not None:
                    given = self.headers.get("Authorization", "")
                    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                        self._drain()
                        return self._send(401, {"error": "missing or wrong bearer token"},
                                          {"WWW-Authenticate": 'Bearer realm="incident-operator"'})
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    return self._send(400, {"error": "bad Content-Length"})
                if length > max_body:
                    self.close_connection = True
                    return self._send(413, {"error": f"body over {max_body} bytes"})
                body = self.rfile.read(length) if length else b""
                code, out = receiver.apply(body)
                self._send(code, out)

            def _drain(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = 0
                if 0 < length <= max_body:
                    self.rfile.read(length)
                else:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer((host, settings.webhook_port if port is None else port), Handler)
        self.httpd.daemon_threads = True
        self.tls = bool(settings.webhook_tls_cert)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(settings.webhook_tls_cert, settings.webhook_tls_key)
            if settings.webhook_tls_client_ca:
                ctx.load_verify_locations(settings.webhook_tls_client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_writer(settings: Settings, api_client: Any = None) -> Any:
    from kubernetes import client

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.incidents import IncidentWriter

    from .kube.client import load_config
    if api_client is None:
        load_config()
        api_client = client.ApiClient()
    cfg = BridgeConfig(namespace=webhook_namespace(settings), remediation=settings.webhook_remediation)
    return IncidentWriter(api_client, cfg)
