"""Entity wire shapes against the real azure-functions-durable SDK: what the host writes, the SDK reads back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.entity import Entity
from azure.durable_functions.models.actions.CallEntityAction import CallEntityAction
from azure.durable_functions.models.actions.SignalEntityAction import SignalEntityAction
from azure.durable_functions.models.entities.ResponseMessage import ResponseMessage

from localcloud.functions import entitywire as wire


def run_batch(requests: list[wire.Request], *, state: str | None = None) -> tuple[list[Any], dict[str, Any]]:
    """Run ``requests`` through the SDK's own entity handle; what each operation read, and the SDK's answer."""
    seen: list[Any] = []

    def entity(context: df.DurableEntityContext) -> None:
        seen.append(context.get_input())
        context.set_state(context.get_state(lambda: 0) + 1)
        context.set_result({"op": context.operation_name, "key": context.entity_key})

    context = wire.batch_context("tally", "k", exists=state is not None, state=state, requests=requests)
    return seen, json.loads(Entity.create(entity)(context))


@pytest.mark.parametrize("value", [5, {"a": [1, "b"]}, "text", None, 0])
def test_an_orchestrations_input_reaches_the_entity_as_it_was_given(value: Any) -> None:
    action = CallEntityAction(df.EntityId("Tally", "k"), "add", value).to_json()
    request = wire.from_action(action, parent="orch", execution="e1", task_id=3)
    assert request.input == json.dumps(json.dumps(value))  # RequestMessage.SetInput of the action's JSON text
    assert run_batch([wire.parse_request(wire.request_json(request))])[0] == [value]


def test_a_signal_action_is_a_one_way_request_and_ids_are_deterministic_per_task() -> None:
    action = SignalEntityAction(df.EntityId("Tally", "k"), "add", 1).to_json()
    first = wire.from_action(action, parent="orch", execution="e1", task_id=0)
    assert first.signal and first.parent == "orch" and first.parent_execution == "e1"
    assert first.id == wire.from_action(action, parent="orch", execution="e1", task_id=0).id
    assert first.id != wire.from_action(action, parent="orch", execution="e1", task_id=1).id
    body = json.loads(wire.request_json(first, timestamp="2026-06-01T12:00:00Z"))
    assert body == {
        "op": "add",
        "signal": True,
        "input": '"1"',
        "id": first.id,
        "parent": "orch",
        "parentExecution": "e1",
        "Timestamp": "2026-06-01T12:00:00Z",
        "Predecessor": "0001-01-01T00:00:00",
    }


def test_a_client_request_has_no_parent_and_leaves_defaults_out() -> None:
    body = json.loads(wire.request_json(wire.from_client("reset", None)))
    assert list(body) == ["op", "signal", "id", "Timestamp", "Predecessor"]


@pytest.mark.parametrize(
    ("body", "content_type", "stored", "seen"),
    [
        (json.dumps(json.dumps(5)).encode(), "application/json", '"5"', 5),  # what the Python client posts
        (b'"{\\"a\\": 1}"', "application/json; charset=utf-8", '"{\\"a\\": 1}"', {"a": 1}),
        (b"", "application/json", None, "raises"),  # no input: get_input() fails on json.loads(None)
        (b"5", "application/json", "5", "raises"),  # JSON posted straight: df_loads(5) is not a string
        (b"plain", "text/plain", '"plain"', "raises"),
    ],
)
def test_http_inputs_are_stored_as_the_extension_stores_them_and_read_as_the_sdk_reads_them(
    body: bytes, content_type: str, stored: str | None, seen: Any
) -> None:
    input_json = wire.http_input(body, content_type)
    assert input_json == stored
    sdk_seen, answer = run_batch([wire.from_client("add", input_json)])
    if seen == "raises":
        assert sdk_seen == [] and answer["results"][0]["isError"] is True
    else:
        assert sdk_seen == [seen] and answer["results"][0]["isError"] is False


def test_bad_json_content_is_refused() -> None:
    with pytest.raises(ValueError):
        wire.http_input(b"{", "application/json")


def test_the_sdks_answer_parses_and_responses_read_back_through_the_sdk() -> None:
    requests = [wire.from_client("add", '"1"'), wire.from_client("add", None)]
    _, answer = run_batch(requests, state="41")
    result = wire.parse_batch_result(json.dumps(answer), len(requests))
    assert (result.exists, result.state, result.signals) == (True, "42", [])
    assert result.outcomes[0] == wire.Outcome('{"op": "add", "key": "k"}', False)
    assert result.outcomes[1].is_error  # the second had no input
    for outcome in result.outcomes:
        back = ResponseMessage.from_dict(json.loads(wire.response_json(outcome)))
        assert (back.result, back.is_exception) == (outcome.result, outcome.is_error)


@pytest.mark.parametrize(
    "answer",
    ["not json", json.dumps({"results": []}), json.dumps({"entityExists": True, "results": [], "signals": []}), 7],
)
def test_an_answer_that_is_no_entity_state_for_the_batch_is_a_batch_error(answer: Any) -> None:
    with pytest.raises(wire.BatchError):
        wire.parse_batch_result(answer, 1)


def test_scheduler_ids_lowercase_the_name_and_keep_every_at_of_the_key() -> None:
    assert (
        wire.scheduler_id("Tally", "K@1") == "@tally@K@1" == df.EntityId.get_scheduler_id(df.EntityId("Tally", "K@1"))
    )
    assert wire.split_scheduler_id("@tally@K@1") == ("tally", "K@1")


def test_times_are_written_as_json_net_writes_them() -> None:
    assert wire.dotnet_time(datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)) == "2026-06-01T12:00:00Z"
    assert wire.dotnet_time(datetime(2026, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)) == "2026-06-01T12:00:00.25Z"
