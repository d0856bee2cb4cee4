"""HTTP servers of the operator's processes (the webhook receiver, /metrics): an ASGI app on Hypercorn.

Hypercorn, not a hand-written server: the TLS handshake is asynchronous and bounded
(`handshake_timeout`), a connection that sends no complete request head — from its start, or between
requests — is closed after `idle_timeout`, and HTTP/1.1 framing (Content-Length, chunked) is parsed
by h11, which refuses a malformed length with 400. The socket is bound before the server starts, so a
busy port or a bad address fails at once, with the reason, and port 0 gives the port chosen.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
from typing import Any, Awaitable, Callable

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


async def lifespan(receive: Receive, send: Send) -> None:
    """Answers Hypercorn's start and stop (nothing to set up)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_lifespan(app: Any) -> Any:
    """An ASGI app that does not speak the lifespan protocol (prometheus_client's), made to."""
    async def wrapped(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        return await app(scope, receive, send)
    return wrapped


log = logging.getLogger(__name__)
BACKLOG = 1024


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening now: a busy port or a bad address fails here, with the
    reason, and a client that connects before the server's loop runs waits in the backlog."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


_ALERT_PATCHED = False


def send_handshake_alerts() -> None:
    """Make asyncio send the TLS alert that says why a server-side handshake failed.

    asyncio's SSL protocol (CPython 3.11) closes the connection on a failed handshake without writing the
    alert OpenSSL left in its outgoing buffer, so a client refused for having no certificate sees a bare
    EOF instead of "certificate required" (as the threaded server it replaced sent). This writes that
    buffer first; the handshake still fails and the connection is still closed."""
    global _ALERT_PATCHED
    from asyncio import sslproto

    proto = sslproto.SSLProtocol
    if _ALERT_PATCHED or not (hasattr(proto, "_do_handshake") and hasattr(proto, "_process_outgoing")
                              and hasattr(proto, "_on_handshake_complete") and hasattr(sslproto, "SSLAgainErrors")):
        return  # another asyncio: its own behaviour

    def _do_handshake(self: Any) -> None:  # CPython 3.11's, plus the one line marked
        try:
            self._sslobj.do_handshake()
        except sslproto.SSLAgainErrors:
            self._process_outgoing()
        except ssl.SSLError as exc:
            self._process_outgoing()  # added: the alert, before the connection is dropped
            self._on_handshake_complete(exc)
        else:
            self._on_handshake_complete(None)

    proto._do_handshake = _do_handshake
    _ALERT_PATCHED = True


class Served:
    """An ASGI app on Hypercorn over a socket bound beforehand, run on its own event loop
    (`serve_forever`, blocking; `start` in a daemon thread); `shutdown` from any thread."""

    def __init__(self, app: Any, sock: socket.socket, tls: ssl.SSLContext | None = None, *,
                 idle_timeout: float = 15.0, handshake_timeout: float = 10.0, graceful_timeout: float = 5.0,
                 name: str = "server"):
        from hypercorn.config import Config

        self.app, self.name = app, name
        self.port = sock.getsockname()[1]
        self.tls = tls is not None
        cfg = Config()
        cfg.bind = [f"fd://{sock.detach()}"]  # hypercorn owns the socket from here
        cfg.keep_alive_timeout = idle_timeout  # from the connection's start until a request head is complete, too
        cfg.ssl_handshake_timeout = handshake_timeout
        cfg.read_timeout = None  # a notification being applied must not cut its own connection; bodies: the app's timeout
        cfg.backlog = BACKLOG
        cfg.graceful_timeout = graceful_timeout
        cfg.include_server_header = False
        cfg.accesslog = None
        cfg.errorlog = logging.getLogger(f"incident_operator.{name}.server")
        if tls is not None:
            send_handshake_alerts()
            cfg.certfile = cfg.keyfile = "-"  # marks the sockets secure; the context is ours (create_ssl_context)
            cfg.create_ssl_context = lambda: tls  # type: ignore[method-assign]
        self.config = cfg
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopped = threading.Event()

    async def _serve(self, signals: bool) -> None:
        from hypercorn.asyncio import serve

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stop.set)
        if self._stopped.is_set():
            return
        serving = asyncio.create_task(serve(self.app, self.config, shutdown_trigger=self._stop.wait, mode="asgi"))
        stopping = asyncio.create_task(self._stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            # Hypercorn lets connections finish for graceful_timeout; a TLS connection whose peer was refused at
            # the handshake after another was served has been seen to keep its shutdown waiting for good: the
            # stop is bounded whatever a connection does (a pod's SIGTERM must end the process)
            done, _ = await asyncio.wait({serving}, timeout=self.config.graceful_timeout + 1)
            if not done:
                log.warning("%s: connections still open %.0f s after the stop, closing them", self.name,
                            self.config.graceful_timeout + 1)
                serving.cancel()
        stopping.cancel()
        if serving.done() and not serving.cancelled() and serving.exception():
            raise serving.exception()  # type: ignore[misc]

    def serve_forever(self, signals: bool = False) -> None:
        try:
            asyncio.run(self._serve(signals))
        finally:
            self._stopped.set()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name=self.name, daemon=True)
        t.start()
        return t

    def shutdown(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        self._stopped.set()
