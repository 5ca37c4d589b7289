"""The entity endpoints of the Durable Functions HTTP API: ``entities/{name}[/{key}]``, as HttpApiHandler answers them.

Both doors (``/runtime/webhooks/durabletask/`` and the RPC endpoint ``/durabletask/`` the Python client calls) reach
these handlers with the same rules, as in Azure (the local RPC listener hands its requests to HttpApiHandler):

| call | answers |
|---|---|
| ``GET entities/{name}/{key}`` (key ``$`` is the empty key) | 200 with the state's JSON; 404, no body, when it does not exist |
| ``POST entities/{name}/{key}?op=`` (``DELETE`` is op ``delete``) | 202, no body; 400 ``{"Message"}`` for an unknown entity or a bad key |
| ``GET entities/{name}?fetchState&top&lastOperationTimeFrom&lastOperationTimeTo`` | 200, a page of ``{"entityId": {"name", "key"}, "lastOperationTime", "state"}`` |

Sources: src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs (HandleGetEntityRequestAsync,
HandlePostEntityOperationRequestAsync, HandleListEntitiesRequestAsync), DurableEntityStatus.cs, EntityQuery.cs
(page size 100, state not fetched by default), in Azure/azure-functions-durable-extension at a7c6d69.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from localcloud.functions import entitywire as wire
from localcloud.functions.entities import EntityScheduler
from localcloud.functions.history import stamp
from localcloud.functions.store import EntityRow
from localcloud.httpserver import Request, Response

PAGE = 100  # EntityQuery.PageSize
MAX_PAGE = 1000  # as the instances query: a page is bounded whatever top says
EMPTY_KEY = "$"  # HttpApiHandler.EmptyEntityKeySymbol


class EntityApi:
    def __init__(self, entities: EntityScheduler) -> None:
        self.entities = entities

    def handle(self, req: Request, parts: list[str]) -> Response:
        """``parts``: the path after ``entities/``, decoded (at most name and key)."""
        if len(parts) > 2:
            return Response.json(404, {"error": f"no durable API at {req.method} {req.path}"})
        name = parts[0] if parts else ""
        key = parts[1] if len(parts) == 2 else ""
        if req.method == "GET":
            return self.get(name, key) if key else self.list(req, name)
        if req.method in ("POST", "DELETE"):
            return self.signal(req, name, key)
        return Response.empty(404)  # the route matched, the method did not: HttpApiHandler answers NotFound

    def get(self, name: str, key: str) -> Response:
        row = self.entities.read(name, "" if key == EMPTY_KEY else key)
        if row is None:
            return Response.empty(404)
        return Response.json(200, _state(row))

    def signal(self, req: Request, name: str, key: str) -> Response:
        if not name:  # new EntityId("", key) throws ArgumentNullException (an ArgumentException)
            return _bad("Invalid entity id: entity name must not be a null or empty string. (Parameter 'entityName')")
        op = "delete" if req.method == "DELETE" else req.query_ci("op")
        try:
            input_json = wire.http_input(req.body, req.header("content-type"))
        except ValueError as exc:
            return _bad(f"Could not parse JSON content: {exc}")
        try:
            self.entities.signal(name, key, op, input_json)
        except ValueError as exc:  # UnknownEntity too
            return _bad(str(exc))
        return Response.empty(202)

    def list(self, req: Request, name: str) -> Response:
        try:
            top = min(query_int("top", req.query_ci("top"), PAGE), MAX_PAGE)
            updated_from, updated_to = (
                query_time("lastOperationTimeFrom", req.query_ci("lastOperationTimeFrom")),
                query_time("lastOperationTimeTo", req.query_ci("lastOperationTimeTo")),
            )
        except ValueError as exc:
            return _bad(str(exc))
        fetch_state = req.query_ci("fetchState").lower() == "true"
        found = self.entities.store.query_entities(
            name=name.lower() or None,
            updated_from=updated_from,
            updated_to=updated_to,
            after=req.header("x-ms-continuation-token") or None,
            limit=max(top, 1) + 1,
        )
        page, more = found[: max(top, 1)], len(found) > max(top, 1)
        body = [_status(row, fetch_state) for row in page]
        return Response.json(200, body, {"x-ms-continuation-token": page[-1].id} if more else {})


def _state(row: EntityRow) -> Any:
    return json.loads(row.state) if row.state is not None else None


def _status(row: EntityRow, fetch_state: bool) -> dict[str, Any]:
    """DurableEntityStatus: the state as JSON when asked for, else null."""
    when = datetime.strptime(row.updated, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return {
        "entityId": {"name": row.name, "key": row.key},
        "lastOperationTime": wire.dotnet_time(when),
        "state": _state(row) if fetch_state else None,
    }


def _bad(message: str) -> Response:
    """HttpRequestMessageExtensions.CreateErrorResponse(BadRequest, message): ``{"Message": ...}``."""
    return Response.json(400, {"Message": message})


def query_time(name: str, text: str | None) -> str | None:
    """A time query parameter as a stamp; ValueError naming the parameter (the management API's too)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: '{text}' is not an ISO 8601 time") from None
    return stamp(when.astimezone(UTC) if when.tzinfo else when)


def query_int(name: str, text: str | None, default: int) -> int:
    """A whole-number query parameter; ValueError naming the parameter rather than int()'s "invalid literal"."""
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: '{text}' is not a whole number") from None
