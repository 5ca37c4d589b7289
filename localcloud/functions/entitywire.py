"""Durable entity messages in the shapes Azure's Durable Functions extension puts on the wire, for the Python SDK.

Pure: JSON in, JSON out; no I/O, no clock reads (times are arguments). Every shape is the extension's (sources
are Azure/azure-functions-durable-extension at a7c6d69, branch dev, v2.13.7, under
src/WebJobs.Extensions.DurableTask/, and DTFx = Azure/durabletask at 5217032):

- **Request** (orchestration or client -> entity): EntityScheduler/RequestMessage.cs. Json.NET names ``op``,
  ``signal`` (left out when false), ``input`` (left out when null), ``id`` (a GUID), ``parent``, ``parentExecution``
  (left out when null), ``due``, ``lockset``, ``pos`` (left out when unset), and ``Timestamp`` / ``Predecessor``
  (no JsonProperty: always written, .NET names). It travels as an event named ``op``
  (EntityScheduler/EntityMessageEventNames.cs); the sending orchestration's history keeps it as an EventSent whose
  EventId is the action's number (DTFx TaskOrchestrationDispatcher.ProcessSendEventDecision).
- **Input** is JSON text *of* JSON text: ``RequestMessage.SetInput`` serializes the orchestration action's input
  (already JSON text, a .NET string) once more, and the SDK's ``DurableEntityContext.get_input`` undoes both
  (``json.loads`` then ``df_loads``).
- **Response** (entity -> orchestration): EntityScheduler/ResponseMessage.cs ``{"result", "exceptionType"}``, as an
  event named by the request id; TaskEntityShim.ExecuteOutOfProcBatch sets ``exceptionType`` to ``"Error"`` when the
  operation failed, and leaves it out otherwise (the SDK's ResponseMessage.from_dict tests for the key).
- **Batch in** (host -> worker): Bindings/EntityTriggerAttributeBindingProvider.cs ``EntityContextToString``:
  ``{"self": {"name", "key"}, "exists", "state", "batch": [{"name", "input", "isSignal"}]}``.
- **Batch out** (worker -> host): Listener/TaskEntityShim.cs ``OutOfProcResult``: ``entityExists``, ``entityState``,
  ``results`` (one per operation: ``result``, ``isError``, ``duration``), ``signals`` (``target {name, key}``,
  ``name``, ``input``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.functions.history import Action

REQUEST_EVENT = "op"  # EntityMessageEventNames.RequestMessageEventName
DOTNET_MIN = "0001-01-01T00:00:00"  # Json.NET's DateTime.MinValue: a RequestMessage time nobody set
# DurableClient.IsInvalidCharacter (ContextImplementations/DurableClient.cs), checked on client signals.
INVALID_KEY = "Entity keys must not contain /, \\, #, ?, or control characters."


class BatchError(ValueError):
    """The worker answered a batch with something that is not an OutOfProcResult for it."""


@dataclass(frozen=True)
class Request:
    """One RequestMessage, as stored in the entity's inbox."""

    id: str
    op: str
    input: str | None  # JSON text of JSON text (see the module docstring)
    signal: bool
    parent: str | None  # the calling orchestration; None from a client
    parent_execution: str | None


@dataclass(frozen=True)
class Outcome:
    """One operation's entry in ``results``."""

    result: str | None  # JSON text (the SDK's df_dumps of the result, or of str(exception))
    is_error: bool


@dataclass(frozen=True)
class Signal:
    """One entry of ``signals``: a one-way operation the entity sends."""

    target: str  # scheduler id
    op: str
    input: str | None


@dataclass(frozen=True)
class BatchResult:
    exists: bool
    state: str | None  # JSON text
    outcomes: list[Outcome]
    signals: list[Signal]


# --- ids ------------------------------------------------------------------------------------------------------


def scheduler_id(name: str, key: str) -> str:
    """``@name@key`` with the name lowercased: EntityScheduler/EntityId.cs (its constructor lowercases the name)
    and the SDK's ``EntityId.get_scheduler_id``."""
    return f"@{name.lower()}@{key}"


def split_scheduler_id(sid: str) -> tuple[str, str]:
    """(name, key): the name ends at the second ``@``, the key may hold more (EntityId.GetEntityIdFromSchedulerId)."""
    pos = sid.index("@", 1)
    return sid[1:pos], sid[pos + 1 :]


def request_guid(instance_id: str, execution_id: str, task_id: int) -> str:
    """A deterministic, unique request id. The extension draws it from the orchestration's replay-safe NewGuid
    (CallDurableTaskFunctionAsync); the host plans each action once, so any unique id per (execution, task) will do."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{instance_id}_{execution_id}_{task_id}"))


def dotnet_time(when: datetime) -> str:
    """A UTC DateTime as Json.NET writes it (ISO 8601, trailing zeros of the fraction dropped, ``Z``)."""
    fraction = f"{when.microsecond:06d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


# --- requests -------------------------------------------------------------------------------------------------


def request_json(request: Request, *, timestamp: str = DOTNET_MIN) -> str:
    """The RequestMessage as Json.NET serializes it (property order of RequestMessage.cs)."""
    body: dict[str, Any] = {"op": request.op}
    if request.signal:
        body["signal"] = True
    if request.input is not None:
        body["input"] = request.input
    body["id"] = request.id
    if request.parent is not None:
        body["parent"] = request.parent
    if request.parent_execution is not None:
        body["parentExecution"] = request.parent_execution
    # MessageSorter.LabelOutgoingMessage stamps messages from orchestrations and entities; the host's inbox is FIFO
    # per target, so it never reorders and leaves Predecessor at its default.
    body["Timestamp"] = timestamp
    body["Predecessor"] = DOTNET_MIN
    return json.dumps(body, separators=(",", ":"))


def from_action(action: dict[str, Any], *, parent: str, execution: str, task_id: int) -> Request:
    """The request a CallEntity (7) or SignalEntity (9) action sends (OutOfProcOrchestrationShim -> CallEntityAsync /
    SignalEntity -> CallDurableTaskFunctionAsync). The action's ``input`` is JSON text: SetInput serializes it again."""
    action_input = action.get("input")
    return Request(
        id=request_guid(parent, execution, task_id),
        op=str(action.get("operation") or ""),
        input=json.dumps(action_input) if action_input is not None else None,
        signal=action.get("actionType") == Action.SIGNAL_ENTITY,
        parent=parent,
        parent_execution=execution,
    )


def from_client(op: str, input_json: str | None) -> Request:
    """DurableClient.SignalEntityAsyncInternal: a signal with a fresh GUID and no parent."""
    return Request(id=str(uuid.uuid4()), op=op, input=input_json, signal=True, parent=None, parent_execution=None)


def from_entity(sender: str, signal: Signal) -> Request:
    """TaskEntityShim.ExecuteOutOfProcBatch: a fresh GUID, the sending entity as parent and no parent execution
    ("for entities, message sorter persists across executions")."""
    return Request(str(uuid.uuid4()), signal.op, signal.input, signal=True, parent=sender, parent_execution=None)


def parse_request(text: str) -> Request:
    body = json.loads(text)
    return Request(
        id=str(body["id"]),
        op=str(body.get("op") or ""),
        input=body.get("input"),
        signal=bool(body.get("signal", False)),
        parent=body.get("parent"),
        parent_execution=body.get("parentExecution"),
    )


def http_input(body: bytes, content_type: str) -> str | None:
    """The request input of ``POST .../entities/{name}/{key}`` (HttpApiHandler.HandlePostEntityOperationRequestAsync):
    no content is no input; ``application/json`` is parsed to a JToken and written back compactly (so the Python
    client's ``json=json.dumps(input)`` arrives as a JSON string of JSON); any other content is the text itself, as a
    JSON string. Raises ValueError for JSON content that does not parse."""
    if not body:
        return None
    text = body.decode("utf-8")
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            return json.dumps(json.loads(text), separators=(",", ":"))
        except RecursionError:
            raise ValueError("nested too deeply") from None
    return json.dumps(text)


# --- responses ------------------------------------------------------------------------------------------------


def response_json(outcome: Outcome) -> str:
    """The ResponseMessage TaskEntityShim.ExecuteOutOfProcBatch sends back for a call (not for a signal)."""
    body: dict[str, Any] = {"result": outcome.result}
    if outcome.is_error:
        body["exceptionType"] = "Error"
    return json.dumps(body, separators=(",", ":"))


# --- batches --------------------------------------------------------------------------------------------------


def batch_context(name: str, key: str, *, exists: bool, state: str | None, requests: list[Request]) -> str:
    """The entity trigger's input for one batch (EntityContextToString)."""
    return json.dumps(
        {
            "self": {"name": name, "key": key},
            "exists": exists,
            "state": state,
            "batch": [{"name": r.op, "input": r.input, "isSignal": r.signal} for r in requests],
        }
    )


def parse_batch_result(text: Any, count: int) -> BatchResult:
    """Read the worker's answer for a batch of ``count`` operations. Raises :class:`BatchError` (the extension throws
    "Out of proc orchestrators must return a valid JSON schema." and aborts the batch)."""
    try:
        body = json.loads(text) if isinstance(text, str | bytes) else text
        outcomes = [Outcome(_text(r.get("result")), bool(r.get("isError", False))) for r in body["results"]]
        signals = [_signal(s) for s in body.get("signals") or []]
        exists, state = bool(body["entityExists"]), _text(body.get("entityState"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BatchError(f"the entity function did not answer with an entity state: {exc}") from None
    if len(outcomes) != count:
        raise BatchError(f"the entity function answered {len(outcomes)} results for {count} operations")
    return BatchResult(exists, state, outcomes, signals)


def _signal(raw: dict[str, Any]) -> Signal:
    target = raw["target"]
    # The extension does not lowercase a deserialized EntityId; the SDK's scheduler ids always are.
    return Signal(scheduler_id(str(target["name"]), str(target["key"])), str(raw["name"]), _text(raw.get("input")))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
