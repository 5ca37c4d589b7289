"""A small threaded HTTP/1.1 server with a regex router, shared by the local emulators.

The standard library's ThreadingHTTPServer is enough on loopback once Nagle is off: without TCP_NODELAY every
keep-alive request waits about 40 ms for a delayed ACK (measured; see ../shared/design.md).

Given an SSL context, the same port also speaks https: a connection whose first byte is 0x16 (a TLS handshake
record, RFC 8446 section 5.1) is wrapped before the request is read, any other is served as plain http.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)
    client: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def query_ci(self, name: str, default: str = "") -> str:
        """Query parameter by case-insensitive name (ARM treats `$expand` and `$Expand` alike)."""
        lname = name.lower()
        for key, value in self.query.items():
            if key.lower() == lname:
                return value
        return default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Set by fault injection: close the socket without answering.
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), hdrs)

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


class Router:
    """Routes by method and a path regex with named groups; first match wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler, *, ignore_case: bool = True) -> None:
        flags = re.IGNORECASE if ignore_case else 0
        self._routes.append((method.upper(), re.compile(f"^{pattern}$", flags), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | str | None:
        """The handler and path params; the string ``"method"`` when only the method is wrong; else None."""
        path_matched = False
        for route_method, regex, handler in self._routes:
            m = regex.match(path)
            if m is None:
                continue
            path_matched = True
            if route_method == method.upper():
                return handler, m.groupdict()
        return "method" if path_matched else None


def parse_request(method: str, raw_path: str, headers: Mapping[str, str], body: bytes, client: str) -> Request:
    parts = urlsplit(raw_path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return Request(method.upper(), parts.path, query, {k.lower(): v for k, v in headers.items()}, body, {}, client)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)

    def _serve(self) -> None:
        with self.server.serving():
            self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = parse_request(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
        resp = self.server.app(req)
        if resp.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.tls = tls
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._count_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection, over TLS when it opens with a handshake (and this server has a certificate)."""
        if self.tls is None or not _opens_with_tls(request):
            super().finish_request(request, client_address)
            return
        try:
            secure = self.tls.wrap_socket(request, server_side=True)  # detaches ``request``
        except (ssl.SSLError, OSError) as exc:  # e.g. a client that does not trust the certificate hangs up
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(secure, client_address)
        finally:
            self.shutdown_request(secure)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a test dropping connections on purpose) is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s closed the connection", client_address)
            return
        super().handle_error(request, client_address)

    @property
    def in_flight(self) -> int:
        """Requests read and not yet answered (a stepped test waits for none before it moves the clock)."""
        with self._count_lock:
            return self._in_flight

    @contextmanager
    def serving(self) -> Iterator[None]:
        with self._count_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._in_flight -= 1

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def tls_url(self) -> str:
        """The same port over https (only when the server was given an SSL context)."""
        if self.tls is None:
            raise RuntimeError("this server has no TLS certificate")
        host, port = self.server_address[:2]
        return f"https://{host!s}:{port}"

    def start(self) -> None:
        """Serve on a daemon thread (in-process use from tests and the CLI)."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="localcloud-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _opens_with_tls(sock: socket.socket) -> bool:
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return False
    return first == b"\x16"
