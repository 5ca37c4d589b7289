"""host.json ``overridableExistingInstanceStates``, seen through the real DurableOrchestrationClient.

What the extension does (azure-functions-durable-extension): DurableClient.StartNewAsync passes dedupe statuses
(NonRunningStates: Running, ContinuedAsNew, Pending, Suspended; AnyState: none) to DTFx, which throws
OrchestrationAlreadyExistsException; HttpApiHandler has no case for it, so its catch-all answers 500 with
``{"Message", "ExceptionMessage", "ExceptionType", "StackTrace"}``, and the Python client's start_new raises a bare
``Exception`` whose text is that body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.functions.conftest import Stepped, stepped_host

pytestmark = pytest.mark.integration

API = "/runtime/webhooks/durabletask"


@pytest.fixture
def any_state(tmp_path: Path) -> Iterator[Stepped]:
    with stepped_host(tmp_path, "host.anystate.json") as running:
        yield Stepped(running)


def test_non_running_states_refuses_to_start_over_a_running_or_pending_instance(stepped: Stepped) -> None:
    assert stepped.app("start/gate/g1", {"n": 1}) == {"value": "g1"}
    assert stepped.settled("g1")["runtimeStatus"] == "Running"
    refused = stepped.app("start/gate/g1", {"n": 2})
    assert refused["raised"] == "Exception"
    assert "OrchestrationAlreadyExistsException" in refused["message"]
    assert "An Orchestration instance with the status Running already exists." in refused["message"]
    with stepped.host.engine.hold("g2"):
        stepped.app("start/gate/g2", {"n": 1})
        assert "status Pending already exists" in stepped.app("start/gate/g2", {"n": 2})["message"]
    assert stepped.settled("g1")["input"] == {"n": 1}  # the running one is untouched


def test_non_running_states_replaces_an_ended_instance(stepped: Stepped) -> None:
    stepped.app("start/gate/g1", {"n": 1})
    stepped.app("raise/g1/go", "ok")
    assert stepped.settled("g1")["runtimeStatus"] == "Completed"
    assert stepped.app("start/gate/g1", {"n": 2}) == {"value": "g1"}
    again = stepped.settled("g1")
    assert (again["runtimeStatus"], again["input"], again["output"]) == ("Running", {"n": 2}, None)
    assert [e["EventType"] for e in again["historyEvents"]] == ["ExecutionStarted"]  # a fresh history
    stepped.call("POST", f"{API}/instances/g1/terminate?reason=stop", key="system")
    assert stepped.settled("g1")["runtimeStatus"] == "Terminated"
    assert stepped.app("start/gate/g1", {"n": 3}) == {"value": "g1"}
    assert stepped.settled("g1")["input"] == {"n": 3}


def test_any_state_terminates_a_running_instance_and_starts_the_new_one(any_state: Stepped) -> None:
    any_state.app("start/gate/g1", {"n": 1})
    assert any_state.settled("g1")["runtimeStatus"] == "Running"
    assert any_state.app("start/gate/g1", {"n": 2}) == {"value": "g1"}
    replaced = any_state.settled("g1")
    assert (replaced["runtimeStatus"], replaced["input"]) == ("Running", {"n": 2})
    any_state.app("raise/g1/go", "ok")
    assert any_state.settled("g1")["output"] == {"input": {"n": 2}, "go": "ok"}


def test_the_public_api_answers_a_conflict_as_the_extension_does(stepped: Stepped) -> None:
    stepped.app("start/gate/g1")
    status, _, body = stepped.call("POST", f"{API}/orchestrators/gate/g1", {"n": 9}, key="system")
    assert status == 500
    assert body["Message"] == "Something went wrong while processing your request"
    assert body["ExceptionType"] == "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    status, _, body = stepped.call("POST", f"{API}/orchestrators/nope/x", None, key="system")
    assert (status, body["ExceptionType"]) == (400, "System.ArgumentException")
    assert body["ExceptionMessage"].startswith(
        "The function 'nope' doesn't exist, is disabled, or is not an orchestrator"
    )
    assert "'gate'" in body["ExceptionMessage"]  # the known orchestrators are listed
    assert "doesn't exist" in stepped.app("start/nope/x")["message"]  # the client raises that message
