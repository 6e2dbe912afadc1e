"""Serve a WSGI app over HTTPS on loopback in a background thread, for the sandbox emulators.

The emulators must be reachable by unmodified client libraries, so they get a real TLS
certificate from a throwaway CA (`make_tls`) that clients trust through a CA bundle file.
Werkzeug closes the connection after every answer; a real API server keeps it open, so a
server started with `keep_alive` does too (for a request whose body's length is given, read
whole before the app, so nothing of it is left to be taken for the next request), and each
page of a read or batch of a write does not pay a new connection (a TLS handshake and a new
SSL context in the client, and a server thread) on top of the server's latency.
"""

from __future__ import annotations

import contextlib
import io
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import trustme
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_POLL_SECONDS = 0.05  # how quickly close() is noticed by the serving loop


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_bundle: Path  # what clients trust: requests' `verify=`, httpx's `verify=`
    cert_chain: Path
    private_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_chain, self.private_key)
        return context


def make_tls(directory: Path) -> TlsFiles:
    """Create the CA and server certificate in `directory`, or reuse the ones already there,
    so a persisted sandbox keeps the CA its clients were configured with."""
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if all(path.exists() for path in (files.ca_bundle, files.cert_chain, files.private_key)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    files.cert_chain.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    files.private_key.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(files.private_key))
    return files


class DropConnection(ConnectionAbortedError):
    """Raise from an app served here to close the connection without sending any response.

    Werkzeug treats a connection error raised by the app as a client that went away and
    writes nothing; the handler here then closes the socket, so the client sees the
    connection drop instead of an HTTP status.
    """


RequestHook = Callable[[str, str, str], None]
"""Hears (service, method, path) once a sandbox service has handled a request — its writes
done — and before the answer goes back: the moment a test stalls it (sleep), loses it (raise
`DropConnection`) or crashes the client (kill the process)."""


def after_handling(app: WSGIApplication, service: str, hook: RequestHook) -> WSGIApplication:
    """`app`, calling `hook` after each request it handled (or dropped itself)."""

    def hooked(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        finally:
            hook(service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))

    return hooked


class _QuietHandler(WSGIRequestHandler):
    """Serves like werkzeug's handler, without an access-log line per request."""

    keep_alive = False  # keep a connection open after answering (see `run_wsgi`)
    open_connections: set[socket.socket]  # each server's own (`_handler`), closed with it
    _kept = False  # this request's connection stays open

    def setup(self) -> None:
        super().setup()
        self.open_connections.add(self.connection)

    def finish(self) -> None:
        self.open_connections.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def run_wsgi(self) -> None:
        """Werkzeug, once it answered, reads whatever the client sent since (the body the
        app left unread), which on a kept connection would be the next request: the app
        reads the body from memory instead, read off the connection before it, and what
        werkzeug drains is empty."""
        body = _body(self) if self.keep_alive else None
        self._kept = body is not None
        if body is None:
            super().run_wsgi()
            return
        connection, self.rfile = self.rfile, io.BytesIO(body)
        try:
            super().run_wsgi()
        finally:
            self.rfile = connection

    def send_header(self, keyword: str, value: str) -> None:
        """Werkzeug says `Connection: close` on every answer; a kept request's answer leaves
        the connection open (unless the client closes it)."""
        closing = keyword.lower() == "connection" and value.lower() == "close"
        if closing and self._kept:
            return
        super().send_header(keyword, value)

    def connection_dropped(
        self, error: BaseException, environ: WSGIEnvironment | None = None
    ) -> None:
        """Close the socket: a keep-alive client would otherwise wait for its response while
        the handler waits for the client's next request."""
        self.close_connection = True


def _body(handler: WSGIRequestHandler) -> bytes | None:
    """The request's body, read whole; None if its length is not given (chunked, or a
    malformed Content-Length), and werkzeug then reads it and closes the connection."""
    length = handler.headers.get("Content-Length", "0").strip() or "0"
    if "Transfer-Encoding" in handler.headers or not length.isdigit():
        return None
    return handler.rfile.read(int(length))


def _handler(clock: Callable[[], datetime] | None, keep_alive: bool) -> type[_QuietHandler]:
    """A handler class of one server's own: its clock, keep-alive and open connections."""

    class _Handler(_QuietHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            """The Date header by the service's clock, the one its records are stamped by:
            a client may take it as the server's time."""
            if clock is None:
                return super().date_time_string(timestamp)
            moment = clock().timestamp() if timestamp is None else timestamp
            return formatdate(moment, usegmt=True)

    _Handler.keep_alive, _Handler.open_connections = keep_alive, set()
    return _Handler


class RunningServer:
    """A server answering on `url` until `close()` (or the end of a `with` block)."""

    def __init__(
        self, server: BaseWSGIServer, scheme: str, connections: set[socket.socket]
    ) -> None:
        self._server, self._connections = server, connections
        self.url = f"{scheme}://{server.host}:{server.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"wsgi {self.url}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop answering: no new connection, and the ones kept alive shut."""
        self._server.shutdown()
        self._thread.join()
        for connection in self._connections.copy():
            with contextlib.suppress(OSError):  # the client closed it first
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve_wsgi(
    app: WSGIApplication,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsFiles | None,
    clock: Callable[[], datetime] | None = None,
    keep_alive: bool = True,
) -> RunningServer:
    """Start a threaded server for `app`; port 0 picks a free port (see `RunningServer.url`).
    `clock`: the service's time, sent as each answer's Date header; `keep_alive`: connections
    stay open between requests, as a real API server's do (False: werkzeug's own, closed
    after every answer)."""
    context = tls.server_context() if tls is not None else None
    handler = _handler(clock, keep_alive)
    server = make_server(
        host, port, app, threaded=True, request_handler=handler, ssl_context=context
    )
    scheme = "https" if tls is not None else "http"
    return RunningServer(server, scheme, handler.open_connections)
