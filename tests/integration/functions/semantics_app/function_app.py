"""Orchestrations that pin down Durable Functions semantics respot relies on (tests only, not the product).

The HTTP functions call the real ``DurableOrchestrationClient`` and answer what it returned or raised, so a test
sees exactly what an app sees: ``{"value": ...}`` or ``{"raised": "<type>", "message": "<str(exc)>"}``.
"""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _answer(value: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"value": value}, default=str), mimetype="application/json")


def _raised(exc: Exception) -> func.HttpResponse:
    body = {"raised": type(exc).__name__, "message": str(exc)}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


def _body(req: func.HttpRequest) -> object:
    raw = req.get_body()
    return json.loads(raw) if raw else None


# --- the durable client, as an app uses it -------------------------------------------------------------------


@app.route(route="client/start/{name}/{instance_id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        return _answer(await client.start_new(req.route_params["name"], req.route_params["instance_id"], _body(req)))
    except Exception as exc:
        return _raised(exc)


@app.route(route="client/raise/{instance_id}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def raise_event(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        await client.raise_event(req.route_params["instance_id"], req.route_params["event"], _body(req))
        return _answer("raised")
    except Exception as exc:
        return _raised(exc)


@app.route(route="client/status-by/{prefix}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status_by(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await client.get_status_by(instance_id_prefix=req.route_params["prefix"])
    return _answer(
        [
            {
                "instanceId": s.instance_id,
                "name": s.name,
                "runtimeStatus": s.runtime_status.value if s.runtime_status else None,
                "input": s.input_,
                "output": s.output,
                "customStatus": s.custom_status,
            }
            for s in found
        ]
    )


# --- orchestrators ------------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def gate(context: df.DurableOrchestrationContext):
    context.set_custom_status({"waiting": "go"})
    go = yield context.wait_for_external_event("go")
    return {"input": context.get_input(), "go": go}


@app.orchestration_trigger(context_name="context")
def two_signals(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("signal")
    second = yield context.wait_for_external_event("signal")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def work_then_two_signals(context: df.DurableOrchestrationContext):
    yield context.call_activity("echo", "work")
    first = yield context.wait_for_external_event("signal")
    second = yield context.wait_for_external_event("signal")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def watcher(context: df.DurableOrchestrationContext):
    """One child task, re-used by every task_any, and a fresh wait for each signal."""
    child = context.call_sub_orchestrator("worker", context.get_input(), instance_id=f"{context.instance_id}:worker")
    signals = []
    while True:
        signal = context.wait_for_external_event("signal")
        winner = yield context.task_any([child, signal])
        if winner == child:
            return {"signals": signals, "child": child.result}
        signals.append(signal.result)
        context.set_custom_status({"signals": len(signals)})


@app.orchestration_trigger(context_name="context")
def worker(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=context.get_input()))
    return "worked"


@app.orchestration_trigger(context_name="context")
def loop_parent(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("looper", 0, instance_id=f"{context.instance_id}:looper"))


@app.orchestration_trigger(context_name="context")
def looper(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n >= 3:
        return {"generations": n, "instance": context.instance_id}
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=10))
    context.continue_as_new(n + 1)
    return None


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    """task_any of a timer and an event; then one more wait for the same event name."""
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    go = context.wait_for_external_event("go")
    first = yield context.task_any([timer, go])
    again = context.wait_for_external_event("go")
    later = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    second = yield context.task_any([again, later])
    return {
        "first": "timer" if first == timer else "event",
        "second": "event" if second == again else "timer",
        "go": go.result,
        "again": again.result,
    }


@app.orchestration_trigger(context_name="context")
def one_signal(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("signal"))


@app.orchestration_trigger(context_name="context")
def cycle(context: df.DurableOrchestrationContext):
    """Generation 0 waits 10 s then continues as new; generation 1 waits for one signal."""
    if context.get_input() == 1:
        return (yield context.wait_for_external_event("signal"))
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=10))
    context.continue_as_new(1)
    return None


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("echo", "before failing")
    raise ValueError("this orchestration fails")


@app.orchestration_trigger(context_name="context")
def long_sleep(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(days=context.get_input()))
    return (context.current_utc_datetime - start).total_seconds() / 86400


@app.orchestration_trigger(context_name="context")
def labelled(context: df.DurableOrchestrationContext):
    label = context.get_input()
    context.set_custom_status({"label": label})
    yield context.call_activity("echo", label)
    return {"done": label}


# --- activities ---------------------------------------------------------------------------------------------


@app.activity_trigger(input_name="value")
def echo(value: str) -> str:
    return value
