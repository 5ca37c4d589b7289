"""Durable entities through the real azure-functions-durable SDK on the local host (entities_app, stopped clock).

The entity, the orchestrations and the client are the SDK's own code; the host plays the extension's part: the
batch JSON, the EventSent / EventRaised history, the entity scheduler and the HTTP API (docs/localcloud-functions.md).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.functions.conftest import T0, Stepped, entities_host

pytestmark = pytest.mark.integration

API = "/runtime/webhooks/durabletask"


def ops(tmp_path: Path, key: str) -> list[str]:
    """The operations the entity ran for ``key``, in order (the app's DEMO_LOG)."""
    log = tmp_path / "ops.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split(" ", 2)[2] for line in lines if line.split(" ")[1] == key]


def start(tally: Stepped, name: str, instance_id: str, payload: object = None) -> None:
    assert tally.app(f"start/{name}/{instance_id}", payload) == {"value": instance_id}


def read(tally: Stepped, key: str) -> dict[str, object]:
    return dict(tally.app(f"read/Tally/{key}", method="GET")["value"])


def batches(caplog: pytest.LogCaptureFixture, sid: str) -> list[str]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    return [line["outcome"] for line in lines if line["instanceId"] == sid]


def test_a_counter_called_from_several_orchestrations_at_once_counts_exactly(
    tally: Stepped, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="localcloud.functions")
    for i in range(8):
        start(tally, "count_up", f"c{i}", ["shared", 5])
    for _ in range(10):
        assert tally.app("signal/Tally/shared/add", 1) == {"value": "signalled"}
    tally.step.settle()
    outputs = [tally.status(f"c{i}") for i in range(8)]
    assert {o["runtimeStatus"] for o in outputs} == {"Completed"}
    assert read(tally, "shared") == {"exists": True, "state": 8 * 5 + 10}
    assert all(5 <= o["output"] <= 50 for o in outputs)  # each saw at least its own adds
    # Every batch holds at most maxEntityOperationBatchSize (5, the app's host.json) operations.
    sizes = [int(b.split("(")[1].split()[0]) for b in batches(caplog, "@tally@shared")]
    assert sum(sizes) == 8 * 6 + 10 and max(sizes) <= 5


def test_operations_run_in_arrival_order_in_batches_bounded_by_host_json(
    tally: Stepped, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="localcloud.functions")
    sequence = ["add"] * 4 + ["reset"] + ["add"] * 7
    with tally.host.engine.hold("@tally@order"):
        for op in sequence:
            tally.app(f"signal/Tally/order/{op}", 2)
    tally.step.settle()
    assert ops(tmp_path, "order") == sequence
    assert read(tally, "order")["state"] == 7 * 2  # the reset came fifth
    assert batches(caplog, "@tally@order") == [f"succeeded ({n} operations, 0 failed)" for n in (5, 5, 2)]


def test_call_entity_returns_the_result_and_an_entity_exception_fails_the_task(tally: Stepped) -> None:
    start(tally, "count_up", "up", ["k", 2])
    assert tally.settled("up")["output"] == 2
    start(tally, "call_failing", "fails", "k")
    done = tally.settled("fails")
    assert done["output"] == {"caught": "Exception", "message": "tally k says no"}
    assert read(tally, "k") == {"exists": True, "state": 2}  # the failed operation changed nothing
    response = [e for e in tally.host.store.history("fails") if e["EventType"] == 15]
    # TaskEntityShim.ExecuteOutOfProcBatch: exceptionType "Error", result the SDK's df_dumps(str(exception)).
    assert json.loads(response[0]["Input"]) == {"result": '"tally k says no"', "exceptionType": "Error"}


def test_a_failing_operation_keeps_the_state_it_set_before_it_raised(tally: Stepped) -> None:
    # The SDK's Entity.handle catches the exception and goes on; the out-of-proc batch keeps the state it answers
    # (rollbackEntityOperationsOnExceptions concerns in-process .NET entities: TaskEntityShim.ProcessOperationRequestAsync).
    start(tally, "call_op", "bump", ["b", "bump_then_fail", None])
    done = tally.settled("bump")
    assert done["runtimeStatus"] == "Failed" and "bumped, then failed" in done["output"]
    assert read(tally, "b") == {"exists": True, "state": 1}


def test_history_holds_event_sent_with_the_task_number_and_the_response_named_by_its_guid(tally: Stepped) -> None:
    start(tally, "count_up", "shape", ["s", 2])
    assert tally.settled("shape")["output"] == 2
    history = tally.host.store.history("shape")
    sent = [e for e in history if e["EventType"] == 14]
    assert [e["EventId"] for e in sent] == [0, 1, 2]  # the SDK's task numbers: add, add, get
    assert {(e["Name"], e["InstanceId"]) for e in sent} == {("op", "@tally@s")}
    request = json.loads(sent[0]["Input"])
    execution = tally.host.store.instance("shape")
    assert execution is not None
    assert list(request) == ["op", "input", "id", "parent", "parentExecution", "Timestamp", "Predecessor"]
    assert request["op"] == "add" and request["input"] == json.dumps("1")  # JSON text of the action's JSON text
    assert (request["parent"], request["parentExecution"]) == ("shape", execution.execution_id)
    raised = [e for e in history if e["EventType"] == 15]
    assert [e["Name"] for e in raised] == [json.loads(e["Input"])["id"] for e in sent]
    assert [json.loads(e["Input"]) for e in raised] == [{"result": "1"}, {"result": "2"}, {"result": "2"}]


def test_signal_entity_from_a_client_and_from_an_orchestration(tally: Stepped) -> None:
    tally.app("signal/Tally/sig/add", 5)
    tally.step.settle()
    assert read(tally, "sig") == {"exists": True, "state": 5}
    start(tally, "signal_then_get", "sg", ["sig", 3])
    done = tally.settled("sg")
    assert done["output"] == 8  # the signal was sent first and ran first
    kinds = [e["EventType"] for e in done["historyEvents"]]
    assert kinds.count("EventSent") == 2 and kinds.count("EventRaised") == 1  # a signal gets no response


def test_read_entity_state_of_missing_and_deleted_entities(tally: Stepped) -> None:
    assert read(tally, "never") == {"exists": False, "state": None}
    tally.app("signal/Tally/gone/add", 4)
    tally.step.settle()
    assert read(tally, "gone") == {"exists": True, "state": 4}
    tally.app("signal/Tally/gone/delete")  # destruct_on_exit
    tally.step.settle()
    assert read(tally, "gone") == {"exists": False, "state": None}
    assert tally.call("GET", f"{API}/entities/tally/gone", key="system")[0] == 404


def test_an_operation_that_only_sets_a_result_creates_the_entity_with_a_null_state(tally: Stepped) -> None:
    # The SDK's set_result() marks the entity as existing; its state is then df_dumps(None), "null".
    start(tally, "call_op", "peek", ["fresh", "peek", 0])
    assert tally.settled("peek")["output"] == 0  # an orchestration's 0 arrives: it is JSON text "0"
    status, _, body = tally.call("GET", f"{API}/entities/tally/fresh", key="system")
    assert (status, body) == (200, None)  # the body is JSON null
    # read_entity_state turns a null body into "" (http_utils.get_async_request: `if data is None: data = ""`).
    assert read(tally, "fresh") == {"exists": True, "state": ""}


def test_a_client_signal_with_a_falsy_input_arrives_with_no_input(tally: Stepped, tmp_path: Path) -> None:
    # DurableOrchestrationClient.signal_entity posts `json.dumps(input) if input else None`: 0 is no input, and the
    # SDK's get_input() then fails on json.loads(None). The operation fails; the state stays.
    tally.app("signal/Tally/zero/add", 3)
    tally.app("signal/Tally/zero/add", 0)
    tally.step.settle()
    assert ops(tmp_path, "zero") == ["add", "add"]
    assert read(tally, "zero")["state"] == 3


def test_the_http_api_entity_endpoints_answer_as_the_extension_does(tally: Stepped) -> None:
    json_body = {"Content-Type": "application/json"}

    def api(method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        status, _, answer = tally.call(method, f"{API}/entities/{path}", body, key="system", headers=json_body, raw=raw)
        return status, answer

    assert api("POST", "Tally/h?op=add", "2") == (202, None)  # a JSON string of JSON, as the Python client posts
    tally.step.settle()
    assert api("GET", "tally/h") == (200, 2)
    # A JSON number posted straight is input "5": the Python SDK's get_input() cannot read it (only JSON of JSON).
    assert api("POST", "tally/h?op=add", 5)[0] == 202
    tally.step.settle()
    assert api("GET", "tally/h") == (200, 2)
    status, answer = api("POST", "nobody/x?op=add")
    assert status == 400 and answer["Message"].startswith("The function 'nobody' doesn't exist")
    assert api("POST", "tally/a%23b?op=add")[0] == 400  # DurableClient: keys must not contain #
    status, answer = api("POST", "tally/j?op=add", raw=b"{")
    assert status == 400 and answer["Message"].startswith("Could not parse JSON content: ")
    assert api("GET", "tally/nothing") == (404, None)
    tally.app("signal/Tally/i/add", 1)
    tally.step.settle()
    status, page = api("GET", "tally?fetchState=true&top=1")
    assert status == 200
    assert page == [
        {"entityId": {"name": "tally", "key": "h"}, "lastOperationTime": "2026-06-01T12:00:00Z", "state": 2}
    ]
    assert [e["state"] for e in api("GET", "tally")[1]] == [None, None]  # fetchState defaults to false
    assert api("DELETE", "tally/h") == (202, None)  # op "delete": destruct_on_exit
    tally.step.settle()
    assert api("GET", "tally/h") == (404, None)
    assert tally.call("GET", f"{API}/entities/tally/i", key=None)[0] == 401


def test_a_replayed_orchestration_does_not_resend_its_entity_calls_on_a_stepped_clock(
    tally: Stepped, tmp_path: Path
) -> None:
    start(tally, "call_then_wait", "w", "r")
    done_at = tally.step.run_until(
        lambda: tally.status("w")["runtimeStatus"] == "Completed", max_seconds=7200, what="w"
    )
    assert done_at == T0 + timedelta(hours=1)  # the durable timer, not a moment later
    done = tally.status("w", showHistory="true")
    assert done["output"] == [1, 1, 11, (T0 + timedelta(hours=1)).isoformat()]
    assert [e["EventType"] for e in done["historyEvents"]].count("EventSent") == 2
    assert ops(tmp_path, "r") == ["add", "add"]  # five episodes replayed the first call; it ran once
    listed = tally.call("GET", f"{API}/entities/tally", key="system")[2]
    assert listed[0]["lastOperationTime"] == "2026-06-01T13:00:00Z"


def test_entity_work_keeps_the_host_busy_for_the_stepper(tally: Stepped) -> None:
    tally.step.settle()
    with tally.host.engine.hold("@tally@busy"):
        tally.app("signal/Tally/busy/add", 1)
        assert not tally.host.quiescent()  # an operation is queued for the entity
    tally.step.settle()
    assert tally.host.quiescent() and read(tally, "busy")["state"] == 1


def test_calls_to_an_unknown_entity_fail_the_orchestration_with_the_extensions_message(tally: Stepped) -> None:
    start(tally, "call_unknown", "u")
    done = tally.settled("u")
    assert done["runtimeStatus"] == "Failed"
    assert done["output"] == (
        "The function 'nobody' doesn't exist, is disabled, or is not an entity function. "
        "Additional info: The following are the known entity functions: 'Tally'."
    )


def test_instance_ids_starting_with_at_belong_to_entities(tally: Stepped) -> None:
    status, _, body = tally.call("POST", f"{API}/orchestrators/count_up/@tally@x", ["x", 1], key="system")
    assert status == 400 and body["ExceptionMessage"].endswith("must not start with @.')")


def test_entity_state_survives_a_host_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_LOG", str(tmp_path / "ops.log"))
    with entities_host(tmp_path / "hub.sqlite") as host:
        first = Stepped(host)
        first.app("signal/Tally/kept/add", 7)
        with host.engine.hold("@tally@kept"):
            first.app("signal/Tally/kept/add", 1)  # queued, not run, when the host stops
    with entities_host(tmp_path / "hub.sqlite") as host:
        again = Stepped(host)
        again.step.settle()
        assert read(again, "kept") == {"exists": True, "state": 8}
        start(again, "count_up", "after", ["kept", 1])
        assert again.settled("after")["output"] == 9
