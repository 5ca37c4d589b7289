"""Request bodies in the shared HTTP server (both local emulators): a declared length past the limit, a length that
is no number, a body shorter than declared, and chunked bodies. Raw sockets, since HTTP clients refuse to send most
of these."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.httpserver import LocalHTTPServer, Request, Response
from tests.integration.helpers import wait_until

LIMIT = 1000


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    def echo(req: Request) -> Response:
        return Response.json(200, {"length": len(req.body), "body": req.body.decode(errors="replace")})

    srv = LocalHTTPServer("127.0.0.1", 0, echo, max_body=LIMIT, read_timeout=0.2)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def exchange(server: LocalHTTPServer, head: str, body: bytes = b"") -> tuple[int, Any]:
    """Send ``head`` (request line and headers) then ``body`` as they are; the status and JSON of the answer."""
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head_bytes, _, payload = reply.partition(b"\r\n\r\n")
    return int(head_bytes.split()[1]), json.loads(payload) if payload else None


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_declared_length_past_the_limit_is_413_at_once(server: LocalHTTPServer) -> None:
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nContent-Length: 99999999\n", b"x")
    assert (
        status == 413
        and "Content-Length 99999999" in body["error"]["message"]
        and str(LIMIT) in body["error"]["message"]
    )


def test_a_body_shorter_than_declared_times_out_with_408(server: LocalHTTPServer) -> None:
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nContent-Length: 500\n", b"x")
    assert status == 408 and body["error"]["code"] == "RequestTimeout"
    # The handler leaves in_flight after its answer is sent: the client can read it first (a race, not a bug).
    wait_until(lambda: server.in_flight == 0, what="the stalled request's thread to end")


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "5_0", "1, 2"])
def test_a_content_length_that_is_no_number_is_400_naming_it(server: LocalHTTPServer, value: str) -> None:
    status, body = exchange(server, f"POST /x HTTP/1.1\nHost: h\nContent-Length: {value}\n", b"{}")
    assert status == 400 and "Content-Length" in body["error"]["message"], body


def test_a_chunked_body_is_decoded(server: LocalHTTPServer) -> None:
    chunks = b'2\r\n{"\r\n9;ext=1\r\na": [1, 2\r\n2\r\n]}\r\n0\r\nX-Trailer: t\r\n\r\n'
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n", chunks)
    assert (status, body["body"]) == (200, '{"a": [1, 2]}')


def test_a_chunked_body_past_the_limit_is_413(server: LocalHTTPServer) -> None:
    chunks = f"{LIMIT + 1:x}\r\n".encode() + b"x" * (LIMIT + 1) + b"\r\n0\r\n\r\n"
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n", chunks)
    assert status == 413 and body["error"]["code"] == "PayloadTooLarge"


@pytest.mark.parametrize(
    ("chunks", "status"),
    [(b"zz\r\nxx\r\n0\r\n\r\n", 400), (b"2\r\nxxx\r\n0\r\n\r\n", 400), (b"5\r\nxx", 408)],
    ids=["bad size", "chunk longer than its size", "stalls"],
)
def test_a_malformed_chunked_body_is_refused(server: LocalHTTPServer, chunks: bytes, status: int) -> None:
    got, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n", chunks)
    assert got == status and body["error"]["message"], body


def test_another_transfer_coding_is_400(server: LocalHTTPServer) -> None:
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nTransfer-Encoding: gzip, chunked\n", b"0\r\n\r\n")
    assert status == 400 and "Transfer-Encoding gzip" in body["error"]["message"]


def test_a_well_framed_body_is_served_as_before(server: LocalHTTPServer) -> None:
    status, body = exchange(server, "POST /x HTTP/1.1\nHost: h\nContent-Length: 2\n", b"{}")
    assert (status, body) == (200, {"length": 2, "body": "{}"})
