"""A small durable app that exercises every feature of the local Functions host (tests only, not the product).

Activities append a line to the file named by DEMO_LOG (when set), so tests can count how often each ran.
"""

import json
import os
import threading
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


# --- HTTP ---------------------------------------------------------------------------------------------------


@app.route(route="orchestrators/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], req.route_params.get("instance_id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    st = await client.get_status(req.route_params["instance_id"], show_history=True, show_history_output=True)
    body = {
        "runtimeStatus": st.runtime_status.value if st.runtime_status else None,
        "output": st.output,
        "customStatus": st.custom_status,
        "history": st.historyEvents if hasattr(st, "historyEvents") else None,
    }
    return func.HttpResponse(json.dumps(body, default=str), mimetype="application/json")


@app.route(route="manage/{instance_id}/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def manage(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    iid, op = req.route_params["instance_id"], req.route_params["op"]
    if op == "raise":
        await client.raise_event(iid, "approve", json.loads(req.get_body() or b"null"))
    elif op == "terminate":
        await client.terminate(iid, "enough")
    elif op == "purge":
        result = await client.purge_instance_history(iid)
        return func.HttpResponse(json.dumps({"deleted": result.instances_deleted}))
    return func.HttpResponse(json.dumps({"done": op}))


@app.route(route="hello/{name:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']} {req.params.get('x', '')}")


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the app failed")


# --- timer --------------------------------------------------------------------------------------------------


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    _log(f"tick past_due={timer.past_due}")


# --- orchestrators ------------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["a", "b", "c", "d", "e"]
    out = []
    for name in names:
        out.append((yield context.call_activity("say", name)))
    return out


@app.orchestration_trigger(context_name="context")
def fanout(context: df.DurableOrchestrationContext):
    count = context.get_input() or 5
    results = yield context.task_all([context.call_activity("say", str(i)) for i in range(count)])
    return sorted(results)


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=context.get_input() or 3
    )
    try:
        return (yield context.call_activity_with_retry("flaky", options, context.instance_id))
    except Exception as exc:
        return f"gave up: {exc}".split("\n")[0]


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "kaboom")
    except Exception as exc:
        return str(exc).split("\n")[0]
    return "no error?"


@app.orchestration_trigger(context_name="context")
def unhandled(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "not caught")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=1)
    approval = context.wait_for_external_event("approve")
    timeout = context.create_timer(deadline)
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return {"approved": approval.result}
    return {"approved": None, "timed_out_at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(hours=2))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    context.set_custom_status({"n": n})
    if n >= 20:
        return n
    yield context.call_activity("say", str(n))
    context.continue_as_new(n + 1)
    return None


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("sequence", ["x", "y"])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("unhandled", options)
    except Exception as exc:
        return {"child": child, "failed_child": str(exc).split("\n")[0]}
    return {"child": child}


@app.orchestration_trigger(context_name="context")
def determinism(context: df.DurableOrchestrationContext):
    first = context.new_uuid()
    when = context.current_utc_datetime.isoformat()
    context.set_custom_status({"phase": "working", "uuid": first})
    yield context.call_activity("say", "x")
    return {"uuid": first, "again": context.new_uuid() != first, "when": when}


@app.orchestration_trigger(context_name="context")
def slow_then_fast(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    return (yield context.call_activity("nap", seconds))


@app.orchestration_trigger(context_name="context")
def crashy(context: df.DurableOrchestrationContext):
    results = []
    for i in range(4):
        results.append((yield context.call_activity("step", i)))
    return results


# --- activities ---------------------------------------------------------------------------------------------

_attempts: dict[str, int] = {}


@app.activity_trigger(input_name="name")
def say(name: str) -> str:
    _log(f"say {name}")
    return f"hello {name}"


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise ConnectionError(f"attempt {_attempts[key]} failed")
    return f"ok after {_attempts[key]}"


@app.activity_trigger(input_name="message")
def explode(message: str) -> str:
    raise ValueError(message)


_naps = {"active": 0, "peak": 0}
_naps_lock = threading.Lock()


@app.activity_trigger(input_name="seconds")
def nap(seconds: float) -> float:
    with _naps_lock:
        _naps["active"] += 1
        _naps["peak"] = max(_naps["peak"], _naps["active"])
    time.sleep(seconds)  # a slow activity: the point of the tests is that it runs long
    with _naps_lock:
        _naps["active"] -= 1
    return seconds


@app.route(route="naps", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def naps(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(_naps))


@app.orchestration_trigger(context_name="context")
def many_naps(context: df.DurableOrchestrationContext):
    count, seconds = context.get_input()
    return (yield context.task_all([context.call_activity("nap", seconds) for _ in range(count)]))


@app.activity_trigger(input_name="i")
def step(i: int) -> int:
    _log(f"step {i} start")
    if i == 2:
        time.sleep(float(os.environ.get("DEMO_STEP_SECONDS", "0")))
    _log(f"step {i} done")
    return i * 10
