"""The in-VM agent's start-up checks and its failure log, without a network."""

from __future__ import annotations

import argparse
import http.client
from typing import Any

import pytest

from agent import respot_agent
from orchestrator.domain import scope

VM_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/worker"
GOOD = ["--respot-url", "http://127.0.0.1:7071/api/alerts?code=k", "--resource-id", VM_ID]


def rejected(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The agent refuses to start: exit 2, and the last stderr line is argparse's error."""
    with pytest.raises(SystemExit) as exited:
        respot_agent.parse_args([*GOOD, *argv])
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("value", ["0", "-1", "0.01", "nan", "inf", "26", "abc"])
def test_interval_out_of_range_is_refused(capsys: pytest.CaptureFixture[str], value: str) -> None:
    error = rejected(capsys, "--interval", value)
    assert "error: argument --interval:" in error


@pytest.mark.parametrize(("value", "seconds"), [("1", 1.0), ("2.5", 2.5), ("25", 25.0)])
def test_interval_in_range_is_taken(value: str, seconds: float) -> None:
    assert respot_agent.parse_args([*GOOD, "--interval", value]).interval == seconds


def test_interval_error_names_the_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert "between 1 and 25 seconds" in rejected(capsys, "--interval", "0")


@pytest.mark.parametrize(
    "value",
    ["notaurl", "ftp://host/x", "http://", "http:///api", "http://host:abc/", "http://host:99999/", "http://a b/", ""],
)
@pytest.mark.parametrize("flag", ["--respot-url", "--imds"])
def test_a_url_that_is_not_http_with_a_host_is_refused(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    assert f"error: argument {flag}:" in rejected(capsys, flag, value)


@pytest.mark.parametrize("value", ["https://app.azurewebsites.net/api/alerts?code=k", "HTTP://127.0.0.1:7071/api"])
def test_an_http_url_is_taken(value: str) -> None:
    assert respot_agent.parse_args([*GOOD, "--respot-url", value, "--imds", value]).respot_url == value


def test_the_imds_default_is_azures() -> None:
    assert respot_agent.parse_args(GOOD).imds == "http://169.254.169.254"


def test_values_from_the_environment_are_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPOT_URL", "notaurl")
    monkeypatch.setenv("RESPOT_RESOURCE_ID", VM_ID)
    with pytest.raises(SystemExit) as exited:
        respot_agent.parse_args([])
    assert exited.value.code == 2
    assert "error: argument --respot-url:" in capsys.readouterr().err


SS_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3"
NOT_VMS = [
    "not an id",
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/worker",  # not a GUID
    VM_ID.replace("virtualMachines", "disks"),
    VM_ID + "/extensions/x",
    SS_ID.replace("/virtualMachines/3", ""),  # the scale set, not an instance
    VM_ID.replace("worker", "worker."),  # ARM would drop the trailing period
]


@pytest.mark.parametrize("value", NOT_VMS)
def test_a_resource_id_that_is_not_a_vms_is_refused(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert "error: argument --resource-id: not a VM resource id" in rejected(capsys, "--resource-id", value)


@pytest.mark.parametrize("value", [VM_ID, SS_ID, VM_ID.lower(), VM_ID + "\n", VM_ID + "/"])
def test_a_vm_or_scale_set_instance_id_is_taken(value: str) -> None:
    assert respot_agent.parse_args([*GOOD, "--resource-id", value]).resource_id == value.strip().rstrip("/")


@pytest.mark.parametrize("value", [VM_ID, SS_ID, *NOT_VMS])
def test_the_agent_takes_the_ids_respot_takes(value: str) -> None:
    """The agent cannot import respot's parser (it runs alone on the VM): its copy must agree with it."""
    try:
        scope.parse_vm_id(value)
        respot_takes = True
    except scope.InvalidResourceId:
        respot_takes = False
    try:
        respot_agent.vm_resource_id(value)
        agent_takes = True
    except argparse.ArgumentTypeError:
        agent_takes = False
    assert agent_takes == respot_takes


@pytest.mark.parametrize(
    "failure",
    [http.client.BadStatusLine("SSH-2.0-OpenSSH_9.6"), http.client.IncompleteRead(b"{"), http.client.InvalidURL("x")],
)
def test_an_http_client_error_is_a_failed_poll_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, failure: http.client.HTTPException
) -> None:
    agent = respot_agent.Agent("http://127.0.0.1:9", "http://127.0.0.1:9/api", VM_ID)

    def request(*_: Any, **__: Any) -> Any:
        raise failure

    monkeypatch.setattr(agent, "_request", request)
    assert agent.poll_once() == []


@pytest.mark.parametrize("document", [[], "x", None, {"Events": {}}, {}])
def test_a_document_that_is_not_scheduled_events_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="not a Scheduled Events document"):
        respot_agent.new_preempts(document, set())


def test_only_new_well_formed_preempts_are_taken() -> None:
    preempt = {"EventId": "a", "EventType": "Preempt"}
    events = [
        preempt,
        {"EventId": "b", "EventType": "Preempt"},
        {"EventType": "Preempt"},
        "x",
        {"EventId": "c", "EventType": "Reboot"},
    ]
    assert respot_agent.new_preempts({"Events": events}, {"b"}) == [preempt]


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "respot-agent"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def failures(clock: Clock, caplog: pytest.LogCaptureFixture) -> respot_agent.FailureLog:
    caplog.set_level("INFO", logger="respot-agent")
    return respot_agent.FailureLog("scheduled events", "look at --imds", clock, period=60, hint_after=10)


def test_a_repeated_error_is_logged_once_a_period_with_a_count(
    failures: respot_agent.FailureLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(5):
        failures.failed("closed")
        clock.now += 1
    assert lines(caplog) == ["scheduled events unavailable: closed"]
    clock.now += 55  # 60 s after the first line
    failures.failed("closed")
    assert lines(caplog)[-1] == "scheduled events unavailable: closed (4 more like it in the last 60 s)"


def test_a_different_error_is_logged_at_once_after_the_count_of_the_last(
    failures: respot_agent.FailureLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        failures.failed("closed")
        clock.now += 1
    failures.failed("refused")
    assert lines(caplog) == [
        "scheduled events unavailable: closed",
        "scheduled events unavailable: closed (2 more like it in the last 3 s)",
        "scheduled events unavailable: refused",
    ]


def test_the_hint_comes_once_after_enough_failures_in_a_row(
    failures: respot_agent.FailureLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(9):
        failures.failed("closed")
    assert not any("look at --imds" in line for line in lines(caplog))
    for _ in range(100):
        failures.failed("closed")
    assert [line for line in lines(caplog) if "look at --imds" in line] == [
        "scheduled events failed 10 times in a row: look at --imds"
    ]


def test_success_ends_the_streak(failures: respot_agent.FailureLog, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        failures.failed("closed")
    failures.succeeded()
    failures.succeeded()
    failures.failed("closed")  # a new streak: its first failure is news
    assert lines(caplog) == [
        "scheduled events unavailable: closed",
        "scheduled events unavailable: closed (2 more like it in the last 0 s)",
        "scheduled events available again after 3 failures",
        "scheduled events unavailable: closed",
    ]


def fail_polls(monkeypatch: pytest.MonkeyPatch, agent: respot_agent.Agent, polls: int) -> None:
    def request(*_: Any, **__: Any) -> Any:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")

    monkeypatch.setattr(agent, "_request", request)
    for _ in range(polls):
        assert agent.poll_once() == []


def test_a_mistyped_emulator_vm_is_logged_once_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level("INFO", logger="respot-agent")
    imds = "http://127.0.0.1:7070/_imds" + VM_ID.replace("worker", "wrokre")
    fail_polls(monkeypatch, respot_agent.Agent(imds, "http://127.0.0.1:9/api", VM_ID, clock=clock), 50)
    [first, hint] = lines(caplog)
    assert first == "scheduled events unavailable: Remote end closed connection without response"
    assert f"{imds}/metadata/scheduledevents" in hint and "does not exist (a mistyped name" in hint


def test_on_azure_the_hint_names_imds(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level("INFO", logger="respot-agent")
    agent = respot_agent.Agent(respot_agent.DEFAULT_IMDS, "http://127.0.0.1:9/api", VM_ID, clock=clock)
    fail_polls(monkeypatch, agent, 10)
    assert "http://169.254.169.254/metadata/scheduledevents" in lines(caplog)[-1]
    assert "only inside an Azure VM" in lines(caplog)[-1]
