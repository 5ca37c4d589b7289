"""The respot CLI against the local stack (emulator + host on a stepped clock): every command, ``--json``, the errors
an operator meets (a wrong key, an unknown VM, an app that is not there), ``replay`` writing nothing and starting
nothing, ``drill`` refusing what it must not evict and following a real one to its end."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.e2e.conftest import Stack
from tests.e2e.test_restart import _annotated
from tests.integration.helpers import control, vm_body

pytestmark = pytest.mark.e2e
WIDE = {"COLUMNS": "220"}  # rich folds table cells at 80 columns when there is no terminal


def respot(stack: Stack, *args: str, target: bool = True) -> Any:
    where = ("--app", stack.host.url, "--key", stack.host.keys.system) if target else ()
    return CliRunner().invoke(app, [*args, *where], env=WIDE, catch_exceptions=False)


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def evicted_and_back(stack: Stack, name: str = "a") -> str:
    """One VM evicted for capacity, two tries refused, then back: its recovery completed."""
    stack.alert_group("eventGrid", delay=30)
    [vm_id] = stack.fleet([name])
    stack.capacity(0)
    stack.wait(lambda: stack.strategy_status(vm_id).get("attempt", 0) >= 2, what="two failed tries")
    stack.capacity(1)
    stack.finished(vm_id)
    return vm_id


def test_recoveries_history_and_status_tell_a_restart_as_table_and_json(stepped: Stack) -> None:
    vm_id = evicted_and_back(stepped)
    [row] = as_json(respot(stepped, "recoveries", "--json"))
    assert (row["vmName"], row["outcome"], row["reason"], row["running"]) == ("a", "recovered", "evicted", False)
    assert row["instanceId"] == stepped.recovery(vm_id) and row["signals"] >= 1 and row["attempts"] >= 3
    assert as_json(respot(stepped, "recoveries", "--running", "--json")) == []
    assert as_json(respot(stepped, "recoveries", "--failed", "--json")) == []
    assert len(as_json(respot(stepped, "recoveries", "--vm", "a", "--json"))) == 1
    assert len(as_json(respot(stepped, "recoveries", "--vm", vm_id, "--json"))) == 1
    assert as_json(respot(stepped, "recoveries", "--vm", "b", "--json")) == []
    assert len(as_json(respot(stepped, "recoveries", "--since", "3650d", "--json"))) == 1
    table = respot(stepped, "recoveries")
    assert table.exit_code == 0 and "recovered / evicted" in table.stdout and stepped.recovery(vm_id) in table.stdout

    story = as_json(respot(stepped, "history", "a", "--json"))
    kinds = [r["kind"] for r in story["rows"]]
    assert {"signal", "look", "decision", "attempt", "timer", "outcome"} <= set(kinds)
    assert kinds.index("signal") < kinds.index("decision") < kinds.index("attempt") < kinds.index("outcome")
    assert any("ZonalAllocationFailed" in r["text"] for r in story["rows"] if r["kind"] == "attempt")
    assert story["decision"]["reason"] == "evicted" and story["recovery"]["outcome"] == "recovered"
    same = [as_json(respot(stepped, "history", ref, "--json")) for ref in (vm_id, stepped.recovery(vm_id))]
    assert all(s["rows"] == story["rows"] for s in same)  # a name, a resource id, an instance id: one recovery
    text = respot(stepped, "history", "a").stdout
    assert "ZonalAllocationFailed" in text and "recovered / evicted" in text and "restart waits until" in text

    status = as_json(respot(stepped, "status", "--json"))
    [vm] = [v for v in status["vms"] if v["name"] == "a"]
    assert status["armRead"] and (vm["priority"], vm["status"], vm["recoveries"]) == ("Spot", "running", 1)
    assert vm["lastOutcome"] == "recovered/evicted" and status["recoveriesRunning"] == 0
    assert "protected VMs" in respot(stepped, "status").stdout


def test_a_second_eviction_links_to_the_first(stepped: Stack) -> None:
    vm_id = evicted_and_back(stepped)
    stepped.capacity(0)
    stepped.wait(lambda: len(stepped.recoveries(vm_id)) == 2, what="the second recovery")
    stepped.capacity(1)
    stepped.finished(vm_id, seq=2)
    story = as_json(respot(stepped, "history", "a", "--json"))
    first = stepped.recovery(vm_id, 1)
    assert story["recovery"]["seq"] == 2 and story["previous"]["instanceId"] == first
    assert [o["instanceId"] for o in story["others"]] == [first]
    assert as_json(respot(stepped, "history", "a", "--seq", "1", "--json"))["recovery"]["instanceId"] == first
    assert "previous: " + first in respot(stepped, "history", "a").stdout


def test_errors_name_what_is_missing_without_a_traceback(stepped: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPOT_SYSTEM_KEY", raising=False)
    monkeypatch.delenv("RESPOT_APP_URL", raising=False)
    runner = CliRunner()
    wrong = runner.invoke(app, ["recoveries", "--app", stepped.host.url, "--key", "nope"], env=WIDE)
    assert wrong.exit_code == 1 and "refused the system key" in wrong.stderr and "--key" in wrong.stderr
    unknown = respot(stepped, "history", "ghost")
    assert unknown.exit_code == 1 and "no recovery of a VM named ghost" in unknown.stderr
    remote = runner.invoke(app, ["recoveries", "--app", "https://respot-x.azurewebsites.net"], env=WIDE)
    assert remote.exit_code == 1 and "no system key" in remote.stderr and "RESPOT_SYSTEM_KEY" in remote.stderr
    gone = runner.invoke(app, ["status", "--app", "http://127.0.0.1:9", "--key", "k"], env=WIDE)
    assert gone.exit_code == 1 and "cannot reach the app at http://127.0.0.1:9" in gone.stderr
    since = respot(stepped, "recoveries", "--since", "soon")
    assert since.exit_code == 1 and "not a duration" in since.stderr
    ages = respot(stepped, "recoveries", "--since", "99999999999d")
    assert ages.exit_code == 1 and "longer than 3650d" in ages.stderr
    empty = respot(stepped, "history", " ")
    assert empty.exit_code == 1 and "an empty one was given" in empty.stderr
    zero = respot(stepped, "history", "a", "--seq", "0")
    assert zero.exit_code == 2 and "--seq" in zero.stderr
    for result in (wrong, unknown, remote, gone, since, ages, empty, zero):
        assert "Traceback" not in result.output and result.stdout == ""


def test_replay_decides_with_the_vm_facts_and_writes_nothing_starts_nothing(stepped: Stack, tmp_path: Path) -> None:
    [vm_id] = stepped.fleet(["r"])  # no action group: the eviction reaches nobody
    stepped.capacity(0)
    stepped.wait(lambda: stepped.power("r") == "PowerState/deallocated", what="the eviction")
    other = f"/subscriptions/{stepped.arm.subscription}/resourceGroups/not-ours/providers/Microsoft.Compute/virtualMachines/x"
    payload = tmp_path / "event.json"
    payload.write_text(
        json.dumps([_annotated(vm_id, "e-1", "2026-12-01T12:10:00Z"), _annotated(other, "e-2", "2026-12-01T12:10:00Z")])
    )
    control(stepped.arm, "/requests", method="DELETE")
    before = stepped.instances()
    data = as_json(respot(stepped, "replay", str(payload), "--json"))
    mine, theirs = data["signals"]
    assert (mine["route"], mine["instanceId"]) == ("start", stepped.recovery(vm_id))
    assert mine["facts"]["status"] == "deallocated" and mine["decision"]["action"] == "restart"
    assert mine["decision"]["reason"] == "evicted" and data["status"] == 202
    assert theirs["route"] == "ignored" and "outside" in theirs["scope"]
    assert [i["reason"] for i in data["ignored"]] == ["out_of_scope"]
    table = respot(stepped, "replay", str(payload))
    assert table.exit_code == 0 and "decision: restart (evicted)" in table.stdout
    entries = control(stepped.arm, "/requests")["entries"]
    assert entries and {e["method"] for e in entries} == {"GET"}  # it read the VM, and wrote nothing
    assert stepped.instances() == before == []  # and started nothing
    assert stepped.power("r") == "PowerState/deallocated"
    payload.write_text("{nope")
    bad = respot(stepped, "replay", str(payload))
    assert bad.exit_code == 1 and "would answer 400" in bad.stdout and "not JSON" in bad.stdout
    missing = respot(stepped, "replay", str(tmp_path / "absent.json"))
    assert missing.exit_code == 1 and "absent.json" in missing.stderr and "Traceback" not in missing.output


def test_drill_refuses_a_regular_vm_an_unknown_one_and_one_out_of_scope(stepped: Stack) -> None:
    body = vm_body(stepped.arm, priority=None, policy=None, max_price=None, zones=["1"])
    stepped.compute.virtual_machines.begin_create_or_update(stepped.arm.resource_group, "plain", body, polling=False)
    stepped.wait(lambda: stepped.power("plain") == "PowerState/running", what="the Regular VM")
    control(stepped.arm, "/requests", method="DELETE")
    regular = respot(stepped, "drill", "plain")
    assert regular.exit_code == 1 and "plain is not a Spot VM (priority Regular)" in regular.stderr
    unknown = respot(stepped, "drill", "nobody")
    assert unknown.exit_code == 1 and "unknown VM" in unknown.stderr and "nobody" in unknown.stderr
    elsewhere = f"/subscriptions/{stepped.arm.subscription}/resourceGroups/not-ours/providers/Microsoft.Compute/virtualMachines/x"
    outside = respot(stepped, "drill", elsewhere)
    assert outside.exit_code == 1 and "outside respot's scope" in outside.stderr
    posts = [e for e in control(stepped.arm, "/requests")["entries"] if e["method"] != "GET"]
    assert posts == [] and stepped.instances() == []


def test_drill_evicts_a_spot_vm_and_follows_its_recovery_to_the_end(stepped: Stack) -> None:
    stepped.alert_group("eventGrid", delay=30)
    [vm_id] = stepped.fleet(["d"])
    recovery = stepped.recovery(vm_id)

    def concluded() -> bool:
        return (stepped.instance(recovery).get("customStatus") or {}).get("concludedAt") is not None

    failures: list[BaseException] = []

    def step() -> None:  # the clock moves while the drill watches, as time passes in Azure
        try:
            stepped.wait(concluded, what="the drill's recovery", within=6 * 3600)
        except BaseException as exc:
            failures.append(exc)

    stepper = threading.Thread(target=step)
    stepper.start()
    result = respot(stepped, "drill", "d", "--poll", "0.05", "--timeout", "120")
    stepper.join(timeout=120)
    assert not failures and result.exit_code == 0, result.output
    assert "signal" in result.stdout and "outcome" in result.stdout
    assert result.stdout.count("recovered / evicted") == 1  # each row printed once, as it appeared
    assert f"respot history {recovery}" in result.stdout
    records = control(stepped.arm, "/activity-log")["value"]
    assert any(r["operation_name"].lower().endswith("/simulateeviction/action") for r in records)
    assert stepped.power("d") == "PowerState/running"
