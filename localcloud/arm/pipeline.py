"""The request pipeline in front of every handler: routing, auth, api-version, faults, throttling, request log.

Control-plane routes (``/_localcloud``), Scheduled Events (``/_imds``) and the Retail Prices API take no bearer
token, as in Azure (prices.azure.com is anonymous; IMDS needs only ``Metadata: true``). Everything else needs
``Authorization: Bearer <token>``; the token's text after ``localcloud:`` names the caller in the Activity Log.
Whatever goes wrong inside, the answer is an ARM error envelope: never a bare 500 or a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from localcloud.arm import errors
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.faults import Faults
from localcloud.arm.throttling import Throttler
from localcloud.arm.views import iso
from localcloud.httpserver import Request, Response, Router

log = logging.getLogger(__name__)

DEFAULT_CALLER = "respot@localcloud"


@dataclass(frozen=True)
class Ctx:
    """What a handler gets: the backend, the request, path params and who is calling."""

    backend: Backend
    req: Request
    params: dict[str, str]
    caller: str
    base_url: str

    @property
    def api_version(self) -> str:
        return self.req.query_ci("api-version")

    def body(self) -> Any:
        from localcloud.arm.validation import parse_json

        return parse_json(self.req.body)


Handler = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    op_id: str
    handler: Handler
    kind: str = "reads"  # ARM bucket: reads | writes | deletes
    policy: str | None = None  # Compute throttling policy
    auth: bool = True
    api_version: bool = True


@dataclass
class RequestLog:
    """Every request the emulator saw, and counts per operation id (control API ``/_localcloud/requests``).

    ``listeners`` (in-process, for tests) see each entry once it is served and before its answer leaves, on the
    serving thread: a test can act at an exact request (the chaos suite kills the host right after a write)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    limit: int = 20000
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.counts[f"{entry['operation']} {entry['status']}"] += 1
            self.entries.append(entry)
            if len(self.entries) > self.limit:
                del self.entries[: len(self.entries) - self.limit]
        for listener in list(self.listeners):
            listener(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"counts": dict(self.counts), "entries": list(self.entries)}

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.counts.clear()


class Pipeline:
    """Route, check and serve one request; counts the requests in flight (``quiescent`` for a stepped clock)."""

    def __init__(
        self,
        backend: Backend,
        routes: list[Route],
        throttler: Throttler,
        faults: Faults,
        requests: RequestLog,
    ) -> None:
        self.backend = backend
        self.throttler = throttler
        self.faults = faults
        self.requests = requests
        self._router = Router()
        self._in_flight = 0
        self._count_lock = threading.Lock()
        for route in routes:
            self._router.add(route.method, route.pattern, self._bind(route))

    @property
    def in_flight(self) -> int:
        """Requests being served right now (from arrival to the answer leaving the pipeline)."""
        with self._count_lock:
            return self._in_flight

    def _bind(self, route: Route) -> Callable[[Request], Response]:
        def call(req: Request) -> Response:
            return self._serve(route, req)

        return call

    def __call__(self, req: Request) -> Response:
        with self._count_lock:
            self._in_flight += 1
        try:
            return self._handle(req)
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def _handle(self, req: Request) -> Response:
        started, arrived = time.perf_counter(), self.backend.clock.now()
        self.backend.tick()
        match = self._router.match(req.method, req.path)
        if match is None:
            resp = _render(errors.no_route(req.method, req.path))
        elif match == "method":
            resp = _render(errors.method_not_allowed(req.method, req.path))
        else:
            assert not isinstance(match, str)
            handler, params = match
            # Route on the raw path, then decode each segment: a name cannot smuggle a '/' into another route.
            decoded = {k: unquote(v) for k, v in params.items()}
            req = Request(req.method, req.path, req.query, req.headers, req.body, decoded, req.client)
            resp = handler(req)
        op = resp.headers.pop("x-localcloud-operation", "Unknown")
        dropped = resp.headers.pop("x-localcloud-drop-after", None) is not None
        request_id = str(uuid.uuid4())
        resp.headers.setdefault("x-ms-request-id", request_id)
        resp.headers.setdefault("x-ms-correlation-request-id", req.header("x-ms-correlation-request-id") or request_id)
        if not req.path.startswith("/_localcloud"):
            entry: dict[str, Any] = {
                "time": iso(arrived),  # simulated time of arrival, to the microsecond
                "method": req.method,
                "path": req.path,
                "operation": op,
                "status": resp.status,
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }
            if dropped or resp.drop:
                entry["dropped"] = "after" if dropped else "before"
            self.requests.add(entry)
        if dropped:
            resp.drop = True  # served, then the connection closes before the answer (fault dropAfter)
        return resp

    def _serve(self, route: Route, req: Request) -> Response:
        headers = {"x-localcloud-operation": route.op_id}
        drop_after = False
        try:
            resp, drop_after = self._guarded(route, req)
        except ArmError as err:
            resp = _render(err)
        except Exception:  # a bug in the emulator still answers in Azure's envelope
            log.exception("handler %s failed", route.op_id)
            resp = _render(errors.internal_error())
        resp.headers.update(headers)
        if drop_after:
            resp.headers["x-localcloud-drop-after"] = "1"
        return resp

    def _guarded(self, route: Route, req: Request) -> tuple[Response, bool]:
        """The answer, and whether to hang up after serving it (an injected ``dropAfter``)."""
        caller = DEFAULT_CALLER
        if route.auth:
            caller = _caller(req)
        if route.api_version and not req.query_ci("api-version"):
            raise errors.missing_api_version()
        fault = self.faults.decide(req.method, req.path) if route.auth else None
        if fault == "drop":
            return Response(0, drop=True), False
        if isinstance(fault, ArmError):
            raise fault
        limit_headers: dict[str, str] = {}
        try:
            limit_headers = self._throttle(route, req, caller)
            host = req.header("host") or "127.0.0.1"
            ctx = Ctx(self.backend, req, dict(req.params), caller, f"http://{host}")
            with self.backend.lock:
                resp = route.handler(ctx)
        except ArmError as err:
            if fault != "dropAfter":
                raise
            resp = _render(err)  # the network loses a refusal as readily as an acceptance
        resp.headers.update(limit_headers)
        return resp, fault == "dropAfter"

    def _throttle(self, route: Route, req: Request, caller: str) -> dict[str, str]:
        """The x-ms-ratelimit-remaining-* headers; raises the 429 when a bucket is empty."""
        if not (route.auth and route.pattern.startswith("/subscriptions")):
            return {}
        decision = self.throttler.check(
            sub=req.params.get("sub", "").lower(),
            kind=route.kind,
            policy=route.policy,
            resource=req.path.lower(),
            caller=caller,
        )
        if decision.error is not None:
            raise decision.error
        return decision.headers


def _caller(req: Request) -> str:
    auth = req.header("authorization")
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        raise errors.unauthorized()
    token = auth[7:].strip()
    return token.split(":", 1)[1] if token.startswith("localcloud:") and ":" in token else DEFAULT_CALLER


def _render(err: ArmError) -> Response:
    return Response.json(err.status, err.body(), err.headers)
