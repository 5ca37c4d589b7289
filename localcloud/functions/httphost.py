"""HTTP for the local host: ``/api/<route>`` triggers with Azure's auth levels, and the durable management API.

Keys: a request names a key with the ``code`` query parameter or the ``x-functions-key`` header. ``function``
level accepts a function key, the host key or the master key; ``admin`` only the master key; the durable API the
system key (``durabletask_extension``) or the master key. A missing or wrong key is a 401 with a JSON body.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

import azure.functions as func

from localcloud.functions import aio
from localcloud.functions.appmodel import FunctionSpec, LoadedApp
from localcloud.functions.management import Management
from localcloud.httpserver import Request, Response

log = logging.getLogger("localcloud.functions")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Keys:
    function: str  # the "default" function key
    host: str
    master: str
    system: str  # durabletask_extension

    def accepts(self, level: str, given: str) -> bool:
        if not given:
            return False
        allowed = {
            "function": [self.function, self.host, self.master],
            "admin": [self.master],
            "system": [self.system, self.master],
        }[level]
        return any(hmac.compare_digest(given, key) for key in allowed)


@dataclass(frozen=True)
class Route:
    spec: FunctionSpec
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    auth: str  # anonymous | function | admin


def compile_route(template: str) -> re.Pattern[str]:
    """Functions route templates: {name}, {name:int}, {name?}, {*rest}, matched case-insensitively."""
    out = ""
    for part in re.split(r"(\{[^}]+\})", template.strip("/")):
        if not part.startswith("{"):
            out += re.escape(part)
            continue
        inner = part[1:-1]
        catch_all, optional = inner.startswith("*"), inner.endswith("?")
        name, _, constraint = inner.lstrip("*").rstrip("?").partition(":")
        body = ".*" if catch_all else (r"-?\d+" if constraint == "int" else "[^/]+")
        if optional and out.endswith("/"):  # "orders/{id?}" also matches "orders"
            out = out[:-1] + f"(?:/(?P<{name}>{body}))?"
        else:
            out += f"(?P<{name}>{body})" + ("?" if optional else "")
    return re.compile(f"^{out}/?$", re.IGNORECASE)


class HttpHost:
    def __init__(
        self,
        app: LoadedApp,
        management: Management | None,
        keys: Keys,
        *,
        route_prefix: str,
        durable_client: Callable[[], str] | None,
    ) -> None:
        self.keys, self.management, self.durable_client = keys, management, durable_client
        self.prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.routes = [self._route(spec) for spec in app.of_type("httpTrigger")]

    @staticmethod
    def _route(spec: FunctionSpec) -> Route:
        methods = spec.trigger.get("methods")
        auth = str(spec.trigger.get("authLevel") or "FUNCTION").lower()
        return Route(
            spec,
            compile_route(spec.trigger.get("route") or spec.name),
            frozenset(m.upper() for m in methods) if methods else None,
            auth,
        )

    def __call__(self, req: Request) -> Response:
        try:
            if req.path.startswith("/runtime/webhooks/durabletask/") and self.management is not None:
                return self._durable(req, req.path[len("/runtime/webhooks/durabletask/") :], rpc=False)
            if req.path.startswith("/durabletask/") and self.management is not None:
                if req.client not in LOOPBACK:
                    return Response.json(403, {"error": "the durable RPC endpoint answers loopback callers only"})
                return self._durable(req, req.path[len("/durabletask/") :], rpc=True)
            if req.path == "/admin/host/status":
                if not self.keys.accepts("admin", _key(req)):
                    return Response.json(
                        401, {"error": "the master key is required (code query parameter or x-functions-key header)"}
                    )
                return Response.json(200, {"state": "Running", "version": "localcloud"})
            return self._function(req)
        except Exception as exc:  # a bug in the host: answer, log, never drop the connection
            log.exception("host error on %s %s", req.method, req.path)
            return Response.json(500, {"error": f"host error: {type(exc).__name__}: {exc}"})

    # --- functions ------------------------------------------------------------------------------------------

    def _function(self, req: Request) -> Response:
        if not req.path.lower().startswith(self.prefix.lower() + "/") and self.prefix:
            return Response.json(404, {"error": f"no function at {req.path}"})
        rel = req.path[len(self.prefix) :].strip("/")
        matches = [(r, m) for r in self.routes if (m := r.pattern.match(rel))]
        if not matches:
            return Response.json(404, {"error": f"no function at {req.path}"})
        allowed = [(r, m) for r, m in matches if r.methods is None or req.method in r.methods]
        if not allowed:
            return Response.json(405, {"error": f"{req.method} is not allowed for {req.path}"})
        route, match = allowed[0]
        if route.auth != "anonymous" and not self.keys.accepts(route.auth, _key(req)):
            return Response.json(
                401,
                {
                    "error": f"function '{route.spec.name}' needs a valid {route.auth} key (code query parameter or x-functions-key header)"
                },
            )
        params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
        return self.invoke(route.spec, req, params)

    def invoke(self, spec: FunctionSpec, req: Request, route_params: dict[str, str]) -> Response:
        started = time.perf_counter()
        http_req = func.HttpRequest(
            method=req.method,
            url=f"http://{req.header('host') or 'localhost'}{req.path}"
            + (f"?{urlencode(req.query)}" if req.query else ""),
            headers=dict(req.headers),
            params=dict(req.query),
            route_params=route_params,
            body=req.body,
        )
        kwargs: dict[str, Any] = {spec.trigger["name"]: http_req}
        if spec.client_param and self.durable_client is not None:
            kwargs[spec.client_param] = self.durable_client()
        if "context" in spec.params:
            kwargs["context"] = InvocationContext(spec.name)
        try:
            result = aio.call(spec.fn(**kwargs))
            resp, outcome = _to_response(result), "succeeded"
        except Exception as exc:
            log.exception("function %s failed", spec.name)
            resp, outcome = (
                Response.json(500, {"error": f"function '{spec.name}' failed: {type(exc).__name__}: {exc}"}),
                f"failed: {type(exc).__name__}",
            )
        log.info(
            json.dumps(
                {
                    "function": spec.name,
                    "instanceId": None,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "outcome": outcome,
                    "status": resp.status,
                }
            )
        )
        return resp

    # --- durable management ---------------------------------------------------------------------------------

    def _durable(self, req: Request, rest: str, *, rpc: bool) -> Response:
        assert self.management is not None
        if not rpc and not self.keys.accepts("system", _key(req)):
            return Response.json(401, {"error": "the durable task API needs the system key (code query parameter)"})
        mgmt, parts = self.management, [unquote(p) for p in rest.strip("/").split("/") if p]
        method = req.method
        if parts[:1] == ["orchestrators"] and method == "POST" and len(parts) in (2, 3):
            return mgmt.start(req, parts[1], parts[2] if len(parts) == 3 else None, rpc=rpc)
        if parts[:1] == ["entities"]:
            return mgmt.entities.handle(req, parts[1:])
        if parts[:1] == ["instances"]:
            if len(parts) == 1:
                return {"GET": mgmt.query, "DELETE": mgmt.purge_by}.get(method, _not_allowed)(req)
            if len(parts) == 2 and method in ("GET", "DELETE"):
                return mgmt.get(req, parts[1]) if method == "GET" else mgmt.purge(parts[1])
            if len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
                return mgmt.raise_event(req, parts[1], parts[3], rpc=rpc)
            if len(parts) == 3 and parts[2] == "terminate" and method == "POST":
                return mgmt.terminate(req, parts[1])
        return Response.json(404, {"error": f"no durable API at {req.method} {req.path}"})


def _not_allowed(req: Request) -> Response:
    return Response.json(405, {"error": f"{req.method} is not allowed for {req.path}"})


def _key(req: Request) -> str:
    return req.query.get("code") or req.header("x-functions-key")


def _to_response(result: Any) -> Response:
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers.items())
        if result.mimetype and "content-type" not in {k.lower() for k in headers}:
            headers["Content-Type"] = (
                f"{result.mimetype}; charset={result.charset}" if result.charset else result.mimetype
            )
        return Response(result.status_code, result.get_body() or b"", headers)
    if isinstance(result, str | bytes):
        return Response(200, result.encode() if isinstance(result, str) else result, {"Content-Type": "text/plain"})
    if result is None:
        return Response.empty(204)
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not an HttpResponse")


class InvocationContext:
    """The ``context`` argument the worker passes to functions that declare one."""

    def __init__(self, function_name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = "."
        self.trace_context = None
        self.retry_context = None
