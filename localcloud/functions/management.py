"""The Durable Functions HTTP management API, with Azure's paths and JSON shapes.

Two doors to the same handlers (the entity endpoints are in :mod:`localcloud.functions.entityapi`):
- ``/runtime/webhooks/durabletask/...``: the public API (docs: durable-functions-http-api), system key required;
- ``/durabletask/...``: the host's RPC endpoint that ``DurableOrchestrationClient`` calls (``rpcBaseUrl``),
  answered only to loopback callers, as it is only reachable from the worker in Azure.
The Python client posts inputs already JSON-encoded and then encoded again (``json.dumps`` then aiohttp
``json=``); on the RPC door a string body is therefore the input's JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from localcloud.functions.engine import Conflict, Engine
from localcloud.functions.entityapi import EntityApi, query_int, query_time
from localcloud.functions.history import Kind
from localcloud.functions.store import Instance
from localcloud.httpserver import Request, Response

RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}  # answered 202 with Location (HttpApiHandler)
PAGE = 100  # OrchestrationStatusQueryCondition.PageSize: a list without `top` answers 100 and a continuation token
MAX_PAGE = 1000


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _iso(text: str) -> str:
    return text.replace(".000000Z", "Z")


def status_body(
    engine: Engine, inst: Instance, *, history: bool, history_output: bool, show_input: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.id,
        "runtimeStatus": inst.status,
        "input": _loads(inst.input) if show_input else None,
        "customStatus": _loads(inst.custom_status),
        "output": _loads(inst.output),
        "createdTime": _iso(inst.created),
        "lastUpdatedTime": _iso(inst.updated),
    }
    if history:
        body["historyEvents"] = history_events(engine, inst, with_output=history_output)
    return body


def history_events(engine: Engine, inst: Instance, *, with_output: bool) -> list[dict[str, Any]]:
    """The readable history of the HTTP API: event names, function names, results when asked."""
    out = []
    scheduled: dict[int, str] = {}
    for e in engine.store.history(inst.id):
        kind = Kind(e["EventType"]) if e["EventType"] in Kind._value2member_map_ else None
        if kind in (None, Kind.ORCHESTRATOR_STARTED, Kind.ORCHESTRATOR_COMPLETED):
            continue
        item: dict[str, Any] = {"EventType": _pascal(kind.name), "Timestamp": e["Timestamp"]}
        if e.get("Name"):
            item["Name" if kind in (Kind.EVENT_RAISED, Kind.EVENT_SENT) else "FunctionName"] = e["Name"]
        if kind == Kind.EVENT_SENT:
            item["InstanceId"] = e.get("InstanceId")
        if kind in (Kind.TASK_SCHEDULED, Kind.SUB_ORCHESTRATION_CREATED):
            scheduled[e["EventId"]] = e.get("Name", "")
            item["ScheduledId"] = e["EventId"]
        if kind in (
            Kind.TASK_COMPLETED,
            Kind.TASK_FAILED,
            Kind.SUB_ORCHESTRATION_COMPLETED,
            Kind.SUB_ORCHESTRATION_FAILED,
        ):
            item["FunctionName"], item["ScheduledId"] = scheduled.get(e["TaskScheduledId"], ""), e["TaskScheduledId"]
        if kind == Kind.TIMER_FIRED or kind == Kind.TIMER_CREATED:
            item["FireAt"] = e.get("FireAt")
        if e.get("Reason"):
            item["Reason"] = e["Reason"]
        if with_output and e.get("Result") is not None:
            item["Result"] = _loads(e["Result"])
        out.append(item)
    return out


def _pascal(name: str) -> str:
    words = {
        "SUB_ORCHESTRATION_CREATED": "SubOrchestrationInstanceCreated",
        "SUB_ORCHESTRATION_COMPLETED": "SubOrchestrationInstanceCompleted",
        "SUB_ORCHESTRATION_FAILED": "SubOrchestrationInstanceFailed",
    }
    return words.get(name) or "".join(w.capitalize() for w in name.split("_"))


class Management:
    def __init__(self, engine: Engine, *, base_url: str, hub: str, system_key: str) -> None:
        self.engine, self.base_url, self.hub, self.system_key = engine, base_url, hub, system_key
        self.entities = EntityApi(engine.entities)

    # --- links (creationUrls / managementUrls of the durable client binding) --------------------------------

    def links(self, instance_id: str) -> dict[str, str]:
        base = f"{self.base_url}/runtime/webhooks/durabletask/instances/{quote(instance_id, safe='')}"
        q = f"taskHub={self.hub}&connection=Storage&code={self.system_key}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{base}?{q}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{base}?{q}",
            "restartPostUri": f"{base}/restart?{q}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{q}",
        }

    def client_binding(self) -> str:
        """The durable client binding's JSON, as the Functions host hands it to the worker."""
        hooks = f"{self.base_url}/runtime/webhooks/durabletask"
        return json.dumps(
            {
                "taskHubName": self.hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{hooks}/orchestrators/{{functionName}}[/{{instanceId}}]?code={self.system_key}",
                    "createAndWaitOnNewInstancePostUri": f"{hooks}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={self.system_key}",
                },
                "managementUrls": self.links("INSTANCEID"),
                "rpcBaseUrl": f"{self.base_url}/durabletask/",
                "httpBaseUrl": hooks,
                "requiredQueryStringParameters": f"code={self.system_key}",
            }
        )

    # --- handlers -------------------------------------------------------------------------------------------

    def start(self, req: Request, name: str, instance_id: str | None, *, rpc: bool) -> Response:
        try:
            input_json = _input(req.body, rpc=rpc)
        except ValueError as exc:
            return Response.json(400, {"error": f"the request body is not JSON: {exc}"})
        try:
            inst = self.engine.start_new(name, instance_id, input_json)
        except KeyError:
            known = "', '".join(sorted(self.engine.app.orchestrators))
            return _error(
                400,
                "One or more of the arguments submitted is incorrect",
                "System.ArgumentException",
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: The following are the known orchestrator functions: '{known}'.",
            )
        except ValueError as exc:  # an id starting with @ (HttpApiHandler's catch of ArgumentException)
            return _error(
                400, "One or more of the arguments submitted is incorrect", "System.ArgumentException", str(exc)
            )
        except Conflict as exc:
            # HttpApiHandler has no case for OrchestrationAlreadyExistsException: its catch-all answers 500.
            return _error(
                500,
                "Something went wrong while processing your request",
                "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
                str(exc),
            )
        links = self.links(inst.id)
        return Response.json(202, links, {"Location": links["statusQueryGetUri"], "Retry-After": "10"})

    def get(self, req: Request, instance_id: str) -> Response:
        inst = self.engine.store.instance(instance_id)
        if inst is None:
            return Response.json(404, f"No instance with ID '{instance_id}' found.")
        flag = _flags(req)
        body = status_body(
            self.engine,
            inst,
            history=flag("showHistory"),
            history_output=flag("showHistoryOutput"),
            show_input=req.query.get("showInput", "true").lower() != "false",
        )
        if inst.status in RUNNING:
            return Response.json(202, body, {"Location": self.links(inst.id)["statusQueryGetUri"], "Retry-After": "5"})
        # Ended: 200, a failure too unless the caller asks for a 500 (returnInternalServerErrorOnFailure).
        failed_500 = inst.status == "Failed" and flag("returnInternalServerErrorOnFailure")
        return Response.json(500 if failed_500 else 200, body)

    def query(self, req: Request) -> Response:
        try:
            statuses, created_from, created_to = _filters(req)
            top = min(query_int("top", req.query.get("top"), PAGE), MAX_PAGE)
            if top < 1:  # SQLite reads a negative LIMIT as no limit at all
                raise ValueError(f"top: {top} is not a positive number of instances")
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        after = req.header("x-ms-continuation-token") or None
        found = self.engine.store.query(
            statuses=statuses,
            created_from=created_from,
            created_to=created_to,
            prefix=req.query.get("instanceIdPrefix"),
            limit=top + 1,
            after=after,
        )
        page, more = found[:top], len(found) > top
        show_input = req.query.get("showInput", "true").lower() != "false"  # the condition's ShowInput defaults true
        bodies = [status_body(self.engine, i, history=False, history_output=False, show_input=show_input) for i in page]
        headers = {"x-ms-continuation-token": page[-1].id} if more and page else {}
        return Response.json(200, bodies, headers)

    def purge(self, instance_id: str) -> Response:
        inst = self.engine.store.instance(instance_id)
        if inst is None or inst.status not in ("Completed", "Failed", "Terminated"):
            return Response.json(404, {"instancesDeleted": 0})
        self.engine.store.delete_instance(instance_id)
        return Response.json(200, {"instancesDeleted": 1})

    def purge_by(self, req: Request) -> Response:
        try:
            statuses, created_from, created_to = _filters(req)
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        if not created_from:
            return Response.json(400, {"error": "createdTimeFrom is required to purge by filter"})
        allowed = set(statuses or ["Completed", "Failed", "Terminated"]) & {"Completed", "Failed", "Terminated"}
        victims = self.engine.store.query(
            statuses=sorted(allowed),
            created_from=created_from,
            created_to=created_to,
            prefix=None,
            limit=1_000_000,
            after=None,
        )
        for inst in victims:
            self.engine.store.delete_instance(inst.id)
        return Response.json(200 if victims else 404, {"instancesDeleted": len(victims)})

    def raise_event(self, req: Request, instance_id: str, name: str, *, rpc: bool) -> Response:
        try:
            data = _input(req.body, rpc=rpc)
        except ValueError as exc:
            return Response.json(400, {"error": f"the event data is not JSON: {exc}"})
        outcome = self.engine.raise_event(instance_id, name, data)
        return Response.json({"ok": 202, "notfound": 404, "gone": 410}[outcome], {"outcome": outcome})

    def terminate(self, req: Request, instance_id: str) -> Response:
        outcome = self.engine.terminate(instance_id, req.query.get("reason", ""))
        return Response.json({"ok": 202, "notfound": 404, "gone": 410}[outcome], {"outcome": outcome})


def _error(status: int, message: str, exception_type: str, exception_message: str) -> Response:
    """The extension's HttpRequestMessageExtensions.CreateErrorResponse(status, message, exception) body."""
    return Response.json(
        status,
        {
            "Message": message,
            "ExceptionMessage": exception_message,
            "ExceptionType": exception_type,
            "StackTrace": "   at localcloud.functions (the local host)",
        },
    )


def _input(body: bytes, *, rpc: bool) -> str | None:
    """Raises ValueError for a body that is not JSON (or too deeply nested for Python's decoder)."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if rpc and isinstance(value, str):
        json.loads(value)  # must itself be JSON: the client's json.dumps(input)
        return value
    return json.dumps(value)


def _flags(req: Request) -> Any:
    return lambda name: req.query.get(name, "false").lower() == "true"


def _filters(req: Request) -> tuple[list[str] | None, str | None, str | None]:
    statuses = [s for s in (req.query.get("runtimeStatus") or "").split(",") if s] or None
    known = {"Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Terminated", "Suspended"}
    bad = [s for s in statuses or [] if s not in known]
    if bad:
        raise ValueError(f"runtimeStatus: unknown {', '.join(bad)} (known: {', '.join(sorted(known))})")
    created = [query_time(name, req.query.get(name)) for name in ("createdTimeFrom", "createdTimeTo")]
    return statuses, created[0], created[1]
