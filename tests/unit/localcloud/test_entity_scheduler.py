"""The entity scheduler on an in-memory task hub, with entity functions that answer what a test needs.

The Python SDK's entities never send signals (its DurableEntityContext has no signal_entity and Entity.handle
answers ``"signals": []``), so a hand-written answer shows the host delivers them as the extension does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localcloud.clock import Clock
from localcloud.functions import appmodel
from localcloud.functions import entitywire as wire
from localcloud.functions.appmodel import AppLoadError, FunctionSpec, LoadedApp
from localcloud.functions.entities import ABORT_RETRY, EntityScheduler, UnknownEntity
from localcloud.functions.history import stamp
from localcloud.functions.store import Store

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def state(*, results: int, signals: list[dict[str, Any]] | None = None, value: str = "1") -> str:
    ok = {"isError": False, "duration": 0, "startTime": 0, "result": "null"}
    return json.dumps({"entityExists": True, "entityState": value, "results": [ok] * results, "signals": signals or []})


class Hub:
    def __init__(self, answer: Callable[[dict[str, Any]], str]) -> None:
        self.contexts: list[dict[str, Any]] = []

        def relay(context: Any) -> str:
            self.contexts.append(json.loads(context.body))
            return answer(self.contexts[-1])

        spec = FunctionSpec("relay", "entityTrigger", {"name": "context", "entityName": "Relay"}, [], relay)
        app = LoadedApp(Path("app.py"), {"relay": spec}, {}, {}, {"relay": spec})
        self.store, self.clock = Store(":memory:"), Clock(speed=0, start=T0)
        self.scheduler = EntityScheduler(
            app, self.store, self.clock, batch_size=3, kick=lambda: None, on_timed=lambda: None
        )

    def inbox(self, sid: str) -> list[wire.Request]:
        return [wire.parse_request(e["Input"]) for _, e in self.store.peek_inbox(sid, "9999", 100)]


@pytest.fixture
def hub() -> Iterator[Hub]:
    created = Hub(lambda ctx: state(results=len(ctx["batch"])))
    yield created
    created.store.close()


def test_a_batch_sees_the_extensions_context_and_its_state_is_committed(hub: Hub) -> None:
    for op in ("a", "b", "c", "d"):
        hub.scheduler.signal("Relay", "k", op, None)
    hub.scheduler.run_batch("@relay@k")
    assert hub.contexts == [
        {
            "self": {"name": "relay", "key": "k"},
            "exists": False,
            "state": None,
            "batch": [{"name": op, "input": None, "isSignal": True} for op in "abc"],  # at most batch_size
        }
    ]
    assert [r.op for r in hub.inbox("@relay@k")] == ["d"]
    row = hub.store.entity("@relay@k")
    assert row is not None and (row.state, row.updated) == ("1", stamp(T0))
    hub.scheduler.run_batch("@relay@k")
    assert hub.contexts[-1]["exists"] is True and hub.contexts[-1]["state"] == "1"


def test_signals_an_entity_sends_are_delivered_with_the_sender_as_parent() -> None:
    sent = [{"target": {"name": "Relay", "key": "b"}, "name": "ping", "input": '"x"'}]
    hub = Hub(lambda ctx: state(results=len(ctx["batch"]), signals=sent if ctx["self"]["key"] == "a" else []))
    hub.scheduler.signal("relay", "a", "go", None)
    hub.scheduler.run_batch("@relay@a")
    [request] = hub.inbox("@relay@b")
    assert (request.op, request.input, request.signal, request.parent) == ("ping", '"x"', True, "@relay@a")
    assert request.parent_execution is None  # TaskEntityShim: "for entities, message sorter persists across executions"


def test_a_signal_to_an_entity_without_a_function_is_dropped() -> None:
    sent = [{"target": {"name": "nobody", "key": "b"}, "name": "ping", "input": None}]
    hub = Hub(lambda ctx: state(results=1, signals=sent))
    hub.scheduler.signal("relay", "a", "go", None)
    hub.scheduler.run_batch("@relay@a")
    assert hub.inbox("@nobody@b") == []


@pytest.mark.parametrize("answer", [lambda ctx: state(results=5), lambda ctx: "{", lambda ctx: 1 / 0])
def test_a_batch_the_function_cannot_answer_is_aborted_and_retried_later(answer: Callable[[Any], str]) -> None:
    hub = Hub(answer)
    hub.scheduler.signal("relay", "k", "go", None)
    hub.scheduler.run_batch("@relay@k")
    assert hub.store.entity("@relay@k") is None and [r.op for r in hub.inbox("@relay@k")] == ["go"]
    assert hub.store.ready_instances(stamp(T0)) == []
    assert hub.store.next_visible() == stamp(T0 + ABORT_RETRY)  # the stepper's next_due sees the retry


def test_operations_that_arrive_behind_an_aborted_batch_wait_for_its_retry() -> None:
    failing = {"first": True}

    def answer(ctx: dict[str, Any]) -> str:
        if failing.pop("first", False):
            raise RuntimeError("the SDK could not serialize the state")
        return state(results=len(ctx["batch"]))

    hub = Hub(answer)
    hub.scheduler.signal("relay", "k", "first", None)
    hub.scheduler.run_batch("@relay@k")
    hub.scheduler.signal("relay", "k", "second", None)
    assert hub.store.ready_instances(stamp(T0)) == []  # the second is visible, but the first goes first
    hub.scheduler.run_batch("@relay@k")
    assert len(hub.contexts) == 1
    hub.clock.advance(ABORT_RETRY.total_seconds())
    assert hub.store.ready_instances(stamp(hub.clock.now())) == ["@relay@k"]
    hub.scheduler.run_batch("@relay@k")
    assert [b["name"] for b in hub.contexts[-1]["batch"]] == ["first", "second"]


def test_a_response_to_a_caller_that_is_gone_is_dropped(hub: Hub) -> None:
    request = wire.Request("id-1", "get", None, False, "orch", "e1")
    hub.scheduler.send("@relay@k", wire.request_json(request), T0)
    hub.scheduler.run_batch("@relay@k")
    assert hub.store.ready_instances("9999") == []  # no instance "orch": nobody to answer


def test_client_signals_check_the_entity_and_the_key(hub: Hub) -> None:
    with pytest.raises(UnknownEntity, match="'nobody' doesn't exist"):
        hub.scheduler.signal("Nobody", "k", "go", None)
    with pytest.raises(ValueError, match="must not contain"):
        hub.scheduler.signal("relay", "a/b", "go", None)


def test_an_entity_trigger_bound_to_another_name_than_context_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "function_app.py"
    app.write_text(
        "import azure.durable_functions as df\n"
        "app = df.DFApp()\n"
        "@app.entity_trigger(context_name='ctx')\n"
        "def counter(ctx):\n"
        "    pass\n"
    )
    with pytest.raises(AppLoadError, match="context_name='ctx'"):
        appmodel.load(app)
