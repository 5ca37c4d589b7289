"""Durable entities through the real azure-functions-durable SDK (tests only, not the product).

``Tally`` is a counter entity; the orchestrations call and signal it, the HTTP functions use the app's own
``DurableOrchestrationClient`` and answer what it returned or raised. Each operation appends a line to the file
named by DEMO_LOG (when set), so tests can count how often an operation ran.
"""

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _log(line: str) -> None:
    path = os.environ.get("DEMO_LOG")
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")


def _answer(value: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"value": value}, default=str), mimetype="application/json")


def _raised(exc: Exception) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"raised": type(exc).__name__, "message": str(exc)}), mimetype="application/json"
    )


# --- the entity ---------------------------------------------------------------------------------------------


@app.entity_trigger(context_name="context", entity_name="Tally")
def tally(context: df.DurableEntityContext) -> None:
    op = context.operation_name
    _log(f"tally {context.entity_key} {op}")
    value = context.get_state(lambda: 0)
    if op == "add":
        value += context.get_input()
    elif op == "slow":
        _log(f"tally {context.entity_key} slow start")
        time.sleep(float(os.environ.get("TALLY_SLOW_SECONDS", "0")))
        value += 1
        _log(f"tally {context.entity_key} slow done")
    elif op == "reset":
        value = 0
    elif op == "fail":
        raise ValueError(f"tally {context.entity_key} says no")
    elif op == "bump_then_fail":
        context.set_state(value + 1)
        raise RuntimeError("bumped, then failed")
    elif op == "delete":
        context.destruct_on_exit()
        return
    elif op == "peek":  # reads the input without setting any state
        context.set_result(context.get_input())
        return
    context.set_state(value)
    context.set_result(value)


# --- orchestrations -----------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def count_up(context: df.DurableOrchestrationContext):
    key, times = context.get_input()
    counter = df.EntityId("Tally", key)
    for _ in range(times):
        yield context.call_entity(counter, "add", 1)
    return (yield context.call_entity(counter, "get"))


@app.orchestration_trigger(context_name="context")
def call_failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_entity(df.EntityId("Tally", context.get_input()), "fail")
    except Exception as exc:
        return {"caught": type(exc).__name__, "message": str(exc)}
    return "no error?"


@app.orchestration_trigger(context_name="context")
def signal_then_get(context: df.DurableOrchestrationContext):
    key, amount = context.get_input()
    counter = df.EntityId("Tally", key)
    context.signal_entity(counter, "add", amount)
    return (yield context.call_entity(counter, "get"))


@app.orchestration_trigger(context_name="context")
def call_then_wait(context: df.DurableOrchestrationContext):
    counter = df.EntityId("tally", context.get_input())
    first = yield context.call_entity(counter, "add", 1)
    echoed = yield context.call_activity("echo", first)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    last = yield context.call_entity(counter, "add", 10)
    return [first, echoed, last, context.current_utc_datetime.isoformat()]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    keys = context.get_input()
    calls = [context.call_entity(df.EntityId("Tally", key), "add", i + 1) for i, key in enumerate(keys)]
    return (yield context.task_all(calls))


@app.orchestration_trigger(context_name="context")
def call_op(context: df.DurableOrchestrationContext):
    key, op, value = context.get_input()
    return (yield context.call_entity(df.EntityId("Tally", key), op, value))


@app.orchestration_trigger(context_name="context")
def call_slow(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("Tally", context.get_input()), "slow"))


@app.orchestration_trigger(context_name="context")
def call_unknown(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("Nobody", "x"), "get"))


@app.activity_trigger(input_name="value")
def echo(value: object) -> object:
    return value


# --- the durable client, as an app uses it -------------------------------------------------------------------


@app.route(route="client/start/{name}/{instance_id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    return _answer(await client.start_new(req.route_params["name"], req.route_params["instance_id"], payload))


@app.route(route="client/signal/{name}/{key}/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    entity = df.EntityId(req.route_params["name"], req.route_params["key"])
    try:
        await client.signal_entity(entity, req.route_params["op"], json.loads(body) if body else None)
        return _answer("signalled")
    except Exception as exc:
        return _raised(exc)


@app.route(route="client/read/{name}/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    entity = df.EntityId(req.route_params["name"], req.route_params["key"])
    try:
        state = await client.read_entity_state(entity)
        return _answer({"exists": state.entity_exists, "state": state.entity_state})
    except Exception as exc:
        return _raised(exc)


@app.route(route="hello", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")
