"""Durable orchestrations through the real azure-functions-durable replay engine on the local host."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from localcloud.functions.host import FunctionsHost
from tests.integration.functions.conftest import Client

pytestmark = pytest.mark.integration


def test_check_status_response_links_point_at_this_host(client: Client, host: FunctionsHost) -> None:
    status, headers, body = client.call("POST", "/api/orchestrators/sequence/my-id", ["a"])
    assert status == 202 and body["id"] == "my-id"
    assert headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith(f"{host.url}/runtime/webhooks/durabletask/instances/my-id?")
    assert f"code={host.keys.system}" in body["statusQueryGetUri"]
    done = client.wait("my-id")
    assert (done["runtimeStatus"], done["output"], done["name"]) == ("Completed", ["hello a"], "sequence")


def test_chained_activities_leave_their_history(client: Client) -> None:
    done = client.wait(client.start("sequence"))
    assert done["output"] == [f"hello {c}" for c in "abcde"]
    kinds = [e["EventType"] for e in done["historyEvents"]]
    assert kinds.count("TaskScheduled") == 5 and kinds.count("TaskCompleted") == 5
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert next(e["Result"] for e in done["historyEvents"] if e["EventType"] == "TaskCompleted") == "hello a"


def test_fan_out_fan_in_with_task_all(client: Client) -> None:
    assert client.wait(client.start("fanout", 8))["output"] == sorted(f"hello {i}" for i in range(8))


def test_activity_exceptions_reach_the_orchestrator_with_message_and_type(client: Client) -> None:
    assert client.wait(client.start("failing"))["output"] == "Activity function 'explode' failed: ValueError: kaboom "
    failed = client.wait(client.start("unhandled"))
    assert failed["runtimeStatus"] == "Failed"
    assert "ValueError: not caught" in failed["output"]


def test_call_activity_with_retry_retries_on_the_durable_timer(client: Client) -> None:
    done = client.wait(client.start("retrying", 3))
    assert done["output"] == "ok after 3"
    kinds = [e["EventType"] for e in done["historyEvents"]]
    assert (kinds.count("TaskFailed"), kinds.count("TimerFired"), kinds.count("TaskCompleted")) == (2, 2, 1)
    gave_up = client.wait(client.start("retrying", 2))
    assert gave_up["output"] == "gave up: Activity function 'flaky' failed: ConnectionError: attempt 2 failed "


def test_sub_orchestrations_and_sub_orchestration_retry(client: Client) -> None:
    parent = client.start("parent")
    done = client.wait(parent)
    assert done["output"]["child"] == ["hello x", "hello y"]
    assert done["output"]["failed_child"].startswith("Orchestrator function 'unhandled' failed")
    children = client.call("GET", f"/runtime/webhooks/durabletask/instances?instanceIdPrefix={parent}:", key="system")[
        2
    ]
    assert sorted(c["name"] for c in children) == ["sequence", "unhandled", "unhandled"]  # the failing child ran twice


def test_external_events_win_the_race_against_a_timer(client: Client) -> None:
    iid = client.start("waiter")
    client.wait(iid, until=("Running",))
    status, _, _ = client.call("POST", f"/api/manage/{iid}/raise", {"by": "ops"})
    assert status == 200
    assert client.wait(iid)["output"] == {"approved": {"by": "ops"}}
    gone = client.call(
        "POST", f"/runtime/webhooks/durabletask/instances/{iid}/raiseEvent/approve", {"late": True}, key="system"
    )
    assert gone[0] == 410


def test_an_episode_replays_without_holding_the_task_hub(client: Client, host: FunctionsHost) -> None:
    """Replay is an episode's costly part, so it runs with no lock of the task hub held: a mass eviction's
    activities, entities and HTTP calls are not kept waiting behind it. An event raised while the waiter's first
    episode replays is written at once, and the next episode delivers it."""
    spec = host.engine.app.orchestrators["waiter"]
    written: list[bool] = []

    def replay(context: str) -> object:
        if not written:
            raiser = threading.Thread(
                target=host.engine.raise_event, args=("unlocked", "approve", json.dumps({"by": "replay"}))
            )
            raiser.start()
            raiser.join(timeout=10)  # with the hub locked by this episode it could not finish
            written.append(not raiser.is_alive())
        return spec.fn(context)

    host.engine.app.orchestrators["waiter"] = dataclasses.replace(spec, fn=replay)
    try:
        iid = client.start("waiter", instance_id="unlocked")
        assert client.wait(iid)["output"] == {"approved": {"by": "replay"}}
    finally:
        host.engine.app.orchestrators["waiter"] = spec
    assert written == [True]


def test_the_timer_wins_when_no_event_comes(client: Client) -> None:
    done = client.wait(client.start("waiter"), timeout=30)
    assert done["output"]["approved"] is None


def test_durable_timers_run_on_the_fast_clock(client: Client) -> None:
    waited = client.wait(client.start("sleeper"))["output"]
    assert 7200 <= waited < 7200 + 60  # two simulated hours, in a few real seconds


def test_continue_as_new_keeps_history_short(client: Client) -> None:
    done = client.wait(client.start("counter", 0), timeout=60)
    assert done["output"] == 20 and done["customStatus"] == {"n": 20}
    assert len(done["historyEvents"]) <= 3  # the last execution only: started, completed


def test_custom_status_and_new_uuid_are_deterministic_across_replays(client: Client) -> None:
    done = client.wait(client.start("determinism"))
    assert done["output"]["uuid"] == done["customStatus"]["uuid"]
    assert done["output"]["again"] is True


def test_terminate_purge_and_not_found(client: Client) -> None:
    iid = client.start("waiter")
    client.wait(iid, until=("Running",))
    assert client.call("POST", f"/api/manage/{iid}/terminate")[0] == 200
    assert client.wait(iid)["runtimeStatus"] == "Terminated"
    assert (
        client.call("POST", f"/runtime/webhooks/durabletask/instances/{iid}/terminate?reason=again", key="system")[0]
        == 410
    )
    assert client.call("POST", f"/api/manage/{iid}/purge")[2] == {"deleted": 1}
    status, _, body = client.call("GET", f"/runtime/webhooks/durabletask/instances/{iid}", key="system")
    assert status == 404 and iid in body


def test_starting_a_running_instance_again_answers_as_the_extension_does(client: Client) -> None:
    client.start("waiter", instance_id="once")
    client.wait("once", until=("Running",))  # a second start while it is still Pending would name that status
    status, _, body = client.call("POST", "/runtime/webhooks/durabletask/orchestrators/waiter/once", None, key="system")
    # HttpApiHandler's catch-all: a 500 carrying DTFx's OrchestrationAlreadyExistsException.
    assert status == 500 and body["ExceptionType"].endswith("OrchestrationAlreadyExistsException")
    assert body["ExceptionMessage"] == "An Orchestration instance with the status Running already exists."
    status, _, body = client.call("POST", "/runtime/webhooks/durabletask/orchestrators/nope", None, key="system")
    assert status == 400 and body["ExceptionMessage"].startswith("The function 'nope' doesn't exist")


def test_management_api_query_pages_and_purge_by_filter(client: Client) -> None:
    ids = [client.start("sequence", ["q"], instance_id=f"q{i}") for i in range(5)]
    for iid in ids:
        client.wait(iid)
    status, headers, page = client.call(
        "GET",
        "/runtime/webhooks/durabletask/instances?runtimeStatus=Completed&top=2&instanceIdPrefix=q&showInput=true",
        key="system",
    )
    assert status == 200 and [p["instanceId"] for p in page] == ["q0", "q1"] and page[0]["input"] == ["q"]
    token = headers["x-ms-continuation-token"]
    _, _, rest = client.call(
        "GET",
        "/runtime/webhooks/durabletask/instances?runtimeStatus=Completed&instanceIdPrefix=q",
        key="system",
        headers={"x-ms-continuation-token": token},
    )
    assert [p["instanceId"] for p in rest] == ["q2", "q3", "q4"]
    assert client.call("GET", "/runtime/webhooks/durabletask/instances?runtimeStatus=Sideways", key="system")[0] == 400
    deleted = client.call(
        "DELETE",
        "/runtime/webhooks/durabletask/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed",
        key="system",
    )
    assert deleted[0] == 200 and deleted[2]["instancesDeleted"] == 5
    assert client.call("GET", "/runtime/webhooks/durabletask/instances/q0", key=None)[0] == 401  # system key required


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("top=abc", "top"),
        ("top=0", "top"),
        ("top=-5", "top"),
        ("createdTimeFrom=yesterday", "createdTimeFrom"),
        ("createdTimeTo=soon", "createdTimeTo"),
        ("runtimeStatus=Sideways", "runtimeStatus"),
    ],
)
def test_management_api_query_names_the_bad_parameter(client: Client, query: str, named: str) -> None:
    status, _, body = client.call("GET", f"/runtime/webhooks/durabletask/instances?{query}", key="system")
    assert status == 400 and body["error"].startswith(f"{named}: "), body


def test_entity_query_names_the_bad_parameter(client: Client) -> None:
    for query, named in (("top=abc", "top"), ("lastOperationTimeFrom=x", "lastOperationTimeFrom")):
        status, _, body = client.call("GET", f"/runtime/webhooks/durabletask/entities/tally?{query}", key="system")
        assert status == 400 and body["Message"].startswith(f"{named}: "), body
    huge = "/runtime/webhooks/durabletask/entities/tally?top=99999999999999999999"
    status, _, _ = client.call("GET", huge, key="system")
    assert status == 200  # bounded to a page, not an overflow in SQLite's LIMIT


def test_a_slow_activity_does_not_stall_other_orchestrations(client: Client) -> None:
    slow = client.start("slow_then_fast", 3.0)
    fast = client.wait(client.start("sequence"), timeout=10)
    assert fast["runtimeStatus"] == "Completed"
    assert client.status(slow)["runtimeStatus"] == "Running"  # still napping
    assert client.wait(slow)["output"] == 3.0


def test_activities_respect_the_host_json_concurrency_limit(client: Client) -> None:
    assert client.wait(client.start("many_naps", [9, 0.2]))["output"] == [0.2] * 9
    assert client.call("GET", "/api/naps", key=None)[2]["peak"] == 3  # maxConcurrentActivityFunctions


def test_every_invocation_logs_one_structured_line(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    import json
    import logging

    caplog.set_level(logging.INFO, logger="localcloud.functions")
    iid = client.start("sequence", ["log"])
    client.wait(iid)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    mine = [line for line in lines if line["instanceId"] == iid]
    assert {line["function"] for line in mine} == {"sequence", "say"}
    assert all(set(line) >= {"function", "instanceId", "durationMs", "outcome"} for line in lines)


def test_the_apps_durable_client_reads_status_with_history(client: Client) -> None:
    iid = client.start("sequence", ["s"])
    client.wait(iid)
    status, _, body = client.call("GET", f"/api/status/{iid}")
    assert status == 200 and body["runtimeStatus"] == "Completed" and body["output"] == ["hello s"]


def test_query_by_creation_time(client: Client, host: FunctionsHost) -> None:
    iid = client.start("sequence", ["t"], instance_id="timed")
    client.wait(iid)
    created = client.status(iid)["createdTime"]
    base = "/runtime/webhooks/durabletask/instances?instanceIdPrefix=timed"
    assert [i["instanceId"] for i in client.call("GET", f"{base}&createdTimeFrom={created}", key="system")[2]] == [
        "timed"
    ]
    assert client.call("GET", f"{base}&createdTimeTo=2000-01-01T00:00:00Z", key="system")[2] == []
    assert client.call("GET", f"{base}&createdTimeFrom=yesterday", key="system")[0] == 400


def test_a_result_that_arrives_after_termination_is_retired(client: Client, host: FunctionsHost) -> None:
    iid = client.start("slow_then_fast", 0.5)
    client.wait(iid, until=("Running",))
    assert client.call("POST", f"/api/manage/{iid}/terminate")[0] == 200
    from tests.integration.helpers import wait_until

    wait_until(lambda: host.store.pending_activities() == 0, what="the nap to finish")
    assert host.store.pending_activities() == 0  # the nap finished and its result was dropped
    assert host.store.ready_instances("9999") == []  # nothing left in any inbox
    assert client.status(iid)["runtimeStatus"] == "Terminated"
