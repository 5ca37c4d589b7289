"""Durable semantics respot relies on, through the real azure-functions-durable replay engine and client.

Every test runs the semantics app on a stopped clock; ``Engine.hold`` lands several messages in one episode, as
when DTFx fetches a batch. docs/localcloud-functions.md ("What the real SDK does") records the findings.
"""

from __future__ import annotations

import pytest

from tests.integration.functions.conftest import Stepped

pytestmark = pytest.mark.integration

API = "/runtime/webhooks/durabletask"


def test_events_raised_to_a_pending_instance_are_delivered_once_it_runs(stepped: Stepped) -> None:
    with stepped.host.engine.hold("p"):
        stepped.app("start/two_signals/p")
        assert stepped.app("raise/p/signal", 1) == {"value": "raised"}
        assert stepped.app("raise/p/signal", 2) == {"value": "raised"}
        assert stepped.status("p")["runtimeStatus"] == "Pending"
    assert stepped.settled("p")["output"] == [1, 2]


@pytest.mark.parametrize(
    ("name", "end", "status"),
    [("one_signal", "signal", "Completed"), ("fails", None, "Failed"), ("gate", "terminate", "Terminated")],
)
def test_an_event_to_an_ended_instance_is_a_410_and_the_client_raises(
    stepped: Stepped, name: str, end: str | None, status: str
) -> None:
    stepped.app(f"start/{name}/e")
    if end == "signal":
        stepped.app("raise/e/signal", "only")
    elif end == "terminate":
        stepped.call("POST", f"{API}/instances/e/terminate?reason=done", key="system")
    assert stepped.settled("e")["runtimeStatus"] == status
    assert stepped.call("POST", f"{API}/instances/e/raiseEvent/signal", "late", key="system")[0] == 410
    assert stepped.app("raise/e/signal", "late") == {
        "raised": "Exception",
        "message": "Instance with ID e is gone: either completed or failed",
    }
    assert stepped.app("raise/nobody/signal", "x")["message"] == "No instance with ID nobody found."


@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion:UserWarning")  # the SDK's own words
def test_sdk_issue_507_an_event_that_arrives_before_its_wait_answers_every_later_wait(stepped: Stepped) -> None:
    # Azure/azure-functions-durable-python#507: an EventRaised replayed while nobody waits for its name is parked in
    # a dict keyed by name (the last one wins) and never removed, so every later wait of that name gets it.
    with stepped.host.engine.hold("one"):
        stepped.app("start/work_then_two_signals/one")
        stepped.app("raise/one/signal", 1)
    assert stepped.settled("one")["output"] == [1, 1]  # completed on one event
    with stepped.host.engine.hold("two"):
        stepped.app("start/work_then_two_signals/two")
        stepped.app("raise/two/signal", 1)
        stepped.app("raise/two/signal", 2)
    assert stepped.settled("two")["output"] == [2, 2]  # the first event lost, the second twice


def test_task_any_over_a_running_sub_orchestration_and_fresh_waits_gets_every_signal_then_the_result(
    stepped: Stepped,
) -> None:
    stepped.app("start/watcher/w", 60)
    for n in range(3):
        stepped.app("raise/w/signal", n)
        assert stepped.settled("w")["customStatus"] == {"signals": n + 1}
    assert stepped.status("w:worker")["runtimeStatus"] == "Running"
    stepped.step.advance(60)
    done = stepped.settled("w")
    assert done["output"] == {"signals": [0, 1, 2], "child": "worked"}
    created = [e for e in done["historyEvents"] if e["EventType"] == "SubOrchestrationInstanceCreated"]
    assert len(created) == 1  # the re-used task is scheduled once


def test_a_sub_orchestration_with_an_id_that_continues_as_new_delivers_its_last_result(stepped: Stepped) -> None:
    stepped.app("start/loop_parent/lp")
    stepped.step.run_until(
        lambda: stepped.status("lp")["runtimeStatus"] == "Completed", max_seconds=60, what="the parent to complete"
    )
    assert stepped.status("lp")["output"] == {"generations": 3, "instance": "lp:looper"}
    child = stepped.status("lp:looper", showHistory="true")
    assert child["runtimeStatus"] == "Completed" and child["input"] == 3
    assert [e["EventType"] for e in child["historyEvents"]] == ["ExecutionStarted", "ExecutionCompleted"]


def test_task_any_of_a_timer_and_an_event_both_ready_in_one_episode_takes_the_first_in_history(
    stepped: Stepped,
) -> None:
    # The event arrived before the timer was due: it is first in the episode's history, and wins.
    stepped.app("start/race/early")
    stepped.step.settle()  # waiting on both
    with stepped.host.engine.hold("early"):
        stepped.app("raise/early/go", "G")
        stepped.host.clock.advance(60)
    stepped.step.advance(60)
    early = stepped.settled("early")
    assert early["output"] == {"first": "event", "second": "timer", "go": "G", "again": None}
    kinds = [e["EventType"] for e in early["historyEvents"]]
    assert kinds.index("EventRaised") < kinds.index("TimerFired")
    # The timer was due before the event arrived: the timer wins; the event then goes to the newest wait of its
    # name (the SDK keeps waiters per name in a list and pops the last), here the one made after the timer fired.
    stepped.app("start/race/late")
    stepped.step.settle()
    with stepped.host.engine.hold("late"):
        stepped.host.clock.advance(60)
        stepped.app("raise/late/go", "G")
    stepped.step.advance(60)
    late = stepped.settled("late")
    assert late["output"] == {"first": "timer", "second": "event", "go": None, "again": "G"}
    kinds = [e["EventType"] for e in late["historyEvents"]]
    assert kinds.index("TimerFired") < kinds.index("EventRaised")


def test_get_status_by_prefix_through_the_client_returns_output_and_custom_status(stepped: Stepped) -> None:
    for iid in ("vm-a:1", "vm-a:2", "vm-b:1"):
        stepped.app(f"start/labelled/{iid}", iid)
    stepped.step.settle()
    found = stepped.app("status-by/vm-a:", method="GET")["value"]
    assert sorted(found, key=lambda s: s["instanceId"]) == [
        {
            "instanceId": iid,
            "name": "labelled",
            "runtimeStatus": "Completed",
            "input": iid,  # the list API shows inputs unless showInput=false
            "output": {"done": iid},
            "customStatus": {"label": iid},
        }
        for iid in ("vm-a:1", "vm-a:2")
    ]


def test_get_status_by_returns_only_the_first_page_of_100(stepped: Stepped) -> None:
    # The extension's list API pages by 100 unless told `top`; the Python client never follows the continuation.
    for n in range(105):
        stepped.app(f"start/labelled/many-{n:03d}", n)
    stepped.step.settle()
    assert len(stepped.app("status-by/many-", method="GET")["value"]) == 100
    status, headers, page = stepped.call("GET", f"{API}/instances?instanceIdPrefix=many-", key="system")
    assert status == 200 and len(page) == 100 and headers["x-ms-continuation-token"]


def test_events_left_when_an_instance_completes_are_dropped(stepped: Stepped) -> None:
    # Two events in the episode in which the orchestration returns: the first is taken, the second stays in the
    # history, unread; nothing is carried anywhere, and a later event is a 410.
    stepped.app("start/one_signal/o")
    stepped.step.settle()
    with stepped.host.engine.hold("o"):
        stepped.app("raise/o/signal", "first")
        stepped.app("raise/o/signal", "second")
    done = stepped.settled("o")
    assert done["output"] == "first"
    raised = [e for e in done["historyEvents"] if e["EventType"] == "EventRaised"]
    assert [e["Name"] for e in raised] == ["signal", "signal"]
    assert stepped.app("raise/o/signal", "third")["raised"] == "Exception"


def test_an_event_in_the_episode_that_continues_as_new_is_lost_and_a_later_one_reaches_the_new_generation(
    stepped: Stepped,
) -> None:
    # Python's continue_as_new cannot preserve unprocessed events (the extension's out-of-proc shim calls
    # ContinueAsNew(input): preserveUnprocessedEvents=false); events that arrive after that episode go to the new one.
    stepped.app("start/cycle/c", 0)
    stepped.step.settle()
    with stepped.host.engine.hold("c"):
        stepped.host.clock.advance(10)
        stepped.app("raise/c/signal", "early")
    assert stepped.settled("c")["runtimeStatus"] == "Running"  # generation 1 waits: "early" went with generation 0
    stepped.app("raise/c/signal", "late")
    assert stepped.settled("c")["output"] == "late"


def test_status_codes_are_the_extensions(stepped: Stepped) -> None:
    # HttpApiHandler.HandleGetStatusRequestAsync: 202 (with Location) while running, 200 once ended, a failure too
    # unless returnInternalServerErrorOnFailure=true asks for a 500.
    stepped.app("start/gate/running")
    stepped.app("start/fails/failed")
    stepped.step.settle()
    status, headers, _ = stepped.call("GET", f"{API}/instances/running", key="system")
    assert status == 202 and "/instances/running?" in headers["Location"]
    assert stepped.call("GET", f"{API}/instances/failed", key="system")[0] == 200
    assert (
        stepped.call("GET", f"{API}/instances/failed?returnInternalServerErrorOnFailure=true", key="system")[0] == 500
    )
    stepped.call("POST", f"{API}/instances/running/terminate?reason=x", key="system")
    assert stepped.call("GET", f"{API}/instances/running", key="system")[0] == 200


def test_a_timer_longer_than_the_providers_limit_is_split_by_the_sdk(stepped: Stepped) -> None:
    # The context carries the Azure Storage provider's limits (6 days, then 3-day steps): the SDK's LongTimerTask.
    stepped.app("start/long_sleep/eight-days", 8)
    stepped.step.run_until(
        lambda: stepped.status("eight-days")["runtimeStatus"] == "Completed", max_seconds=9 * 86400, what="the sleep"
    )
    done = stepped.settled("eight-days")
    assert done["output"] == 8.0
    fired = [e["FireAt"] for e in done["historyEvents"] if e["EventType"] == "TimerFired"]
    assert fired == ["2026-06-04T12:00:00.000000Z", "2026-06-09T12:00:00.000000Z"]
