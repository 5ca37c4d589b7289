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

# The Azure Functions host's default request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT): 100 MB.
DEFAULT_MAX_BODY = 104_857_600
# How long a body may stall between two reads: a client that declares more than it sends holds a thread no longer.
DEFAULT_READ_TIMEOUT = 15.0
DIGITS = re.compile(r"[0-9]+")  # int() would also take " 5", "+5" and "5_0"
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
LINE_LIMIT = 8192


class BodyError(Exception):
    """A request body that cannot be read; answered with ``status`` and the connection closed (the stream is out
    of step with the framing)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return Response.json(self.status, {"error": {"code": self.code, "message": self.message}})


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

    def handle_expect_100(self) -> bool:
        """No ``100 Continue`` for a body that will be refused: the client then need not send it."""
        try:
            _declared_length(self.headers, self.server.max_body)
        except BodyError:
            return True
        return super().handle_expect_100()

    def _answer(self) -> None:
        try:
            body = self._body()
        except BodyError as exc:
            self.close_connection = True
            self._send(exc.response())
            return
        req = parse_request(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
        resp = self.server.app(req)
        if resp.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(resp)

    def _body(self) -> bytes:
        """The body as framed by Content-Length or chunked, at most ``max_body`` bytes, each read bounded by
        ``read_timeout`` (the connection's idle keep-alive wait is not)."""
        chunked = _chunked(self.headers)
        length = None if chunked else _declared_length(self.headers, self.server.max_body)
        if not chunked and not length:
            return b""
        self.connection.settimeout(self.server.read_timeout)
        try:
            return (
                _read_chunked(self.rfile, self.server.max_body) if chunked else _read_exactly(self.rfile, length or 0)
            )
        except TimeoutError:
            raise BodyError(
                408, "RequestTimeout", f"the request body stalled for {self.server.read_timeout:g} s before it ended"
            ) from None
        finally:
            self.connection.settimeout(self.timeout)

    def _send(self, resp: Response) -> None:
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

    def __init__(
        self,
        host: str,
        port: int,
        app: Handler,
        *,
        tls: ssl.SSLContext | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.app = app
        self.tls = tls
        self.max_body, self.read_timeout = max_body, read_timeout
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


def _chunked(headers: Any) -> bool:
    """Transfer-Encoding: chunked (RFC 9112 section 6.1); any other coding is refused, since its length is unknown."""
    codings = [c.strip().lower() for v in headers.get_all("Transfer-Encoding") or [] for c in v.split(",")]
    codings = [c for c in codings if c]
    if not codings:
        return False
    if codings != ["chunked"]:
        raise BodyError(
            400, "UnsupportedTransferEncoding", f"Transfer-Encoding {', '.join(codings)}: only chunked is supported"
        )
    return True


def _declared_length(headers: Any, limit: int) -> int:
    values = {v.strip() for v in headers.get_all("Content-Length") or []}
    if not values:
        return 0
    text = values.pop() if len(values) == 1 else ""
    if not DIGITS.fullmatch(text):
        shown = ", ".join(sorted(headers.get_all("Content-Length")))
        raise BodyError(400, "InvalidContentLength", f"Content-Length {shown!r} is not a number of bytes")
    if int(text) > limit:
        raise BodyError(413, "PayloadTooLarge", f"Content-Length {text} exceeds the limit of {limit} bytes")
    return int(text)


def _read_exactly(rfile: Any, length: int) -> bytes:
    body = bytes(rfile.read(length))
    if len(body) < length:
        raise BodyError(400, "IncompleteBody", f"the body ended after {len(body)} of its Content-Length {length} bytes")
    return body


def _read_chunked(rfile: Any, limit: int) -> bytes:
    """Decode a chunked body (sizes, data, CRLF, then a 0 chunk and trailers), refusing it past ``limit``."""
    parts: list[bytes] = []
    total = 0
    while size := _chunk_size(rfile.readline(LINE_LIMIT)):
        total += size
        if total > limit:
            raise BodyError(413, "PayloadTooLarge", f"the chunked body exceeds the limit of {limit} bytes")
        parts.append(_read_exactly(rfile, size))
        if rfile.readline(LINE_LIMIT) not in (b"\r\n", b"\n"):
            raise BodyError(400, "InvalidChunkedBody", "a chunk of the chunked body is longer than its size says")
    while (line := rfile.readline(LINE_LIMIT)) not in (b"\r\n", b"\n"):  # trailer fields: read and dropped
        if not line.endswith(b"\n"):
            raise BodyError(400, "InvalidChunkedBody", "the chunked body ended before its last chunk")
    return b"".join(parts)


def _chunk_size(line: bytes) -> int:
    m = CHUNK_SIZE.fullmatch(line)
    if m is None:
        what = "ended before its last chunk" if not line.endswith(b"\n") else f"has a bad chunk size line {line[:40]!r}"
        raise BodyError(400, "InvalidChunkedBody", f"the chunked body {what}")
    return int(m.group(1), 16)
