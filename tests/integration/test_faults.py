"""Faults respot's recovery must live through: long 429s, answers lost after the work was done, unknown codes.

The clock stands still in these tests; the SDK clients that must wait advance it themselves
(``advance_on_sleep``), so every wait is the one the emulator asked for.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, power_state, raw, vm_body

pytestmark = pytest.mark.integration

API = "api-version=2026-04-01"


@pytest.fixture
def vm1(arm: ArmEmulator, compute: Any) -> str:
    """vm1, deallocated; then the clock stops. Returns the VM's path."""
    rg = arm.resource_group
    compute.virtual_machines.begin_create_or_update(rg, "vm1", vm_body(arm)).result()
    compute.virtual_machines.begin_deallocate(rg, "vm1").result()
    control(arm, "/clock", {"speed": 0})
    control(arm, "/requests", method="DELETE")
    return f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/vm1"


def test_an_injected_429_asks_for_its_retry_after_on_the_first_n_matching_requests(
    arm: ArmEmulator, compute: Any, vm1: str
) -> None:
    control(
        arm,
        "/faults",
        {"error429": 1.0, "retryAfter": 1200, "path": "/virtualMachines/vm1", "method": "POST", "count": 2},
    )
    assert raw(arm, "GET", f"{vm1}?{API}")[0] == 200  # another method: not affected
    status, headers, body = raw(arm, "POST", f"{vm1}/start?{API}")
    assert (status, headers["Retry-After"]) == (429, "1200")  # the official CRP sample's wait
    assert body["error"]["code"] == "OperationNotAllowed" and body["error"]["details"][0]["code"] == "TooManyRequests"
    client = arm.compute_client(advance_on_sleep=True)  # azure-core's retry honours Retry-After
    began = arm.clock.elapsed()
    # The 2nd match: 429, then a retry. No poller thread: its first poll would move the clock on as well.
    client.virtual_machines.begin_start(arm.resource_group, "vm1", polling=False)
    assert arm.clock.elapsed() - began == 1200  # the SDK waited exactly what it was told
    control(arm, "/clock", {"advance": 600})  # the start runs its course
    assert power_state(compute, arm.resource_group, "vm1") == "PowerState/running"
    counts = control(arm, "/requests")["counts"]
    assert (counts["VirtualMachines_Start 429"], counts["VirtualMachines_Start 202"]) == (2, 1)


def test_drop_after_applies_the_request_and_loses_the_answer(arm: ArmEmulator, compute: Any, vm1: str) -> None:
    control(arm, "/faults", {"dropAfter": 1.0, "path": "/virtualMachines/vm1/start$", "count": 1})
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        compute.virtual_machines.begin_start(arm.resource_group, "vm1")  # the client cannot know what happened
    [entry] = [e for e in control(arm, "/requests")["entries"] if e["operation"] == "VirtualMachines_Start"]
    assert (entry["status"], entry["dropped"]) == (202, "after")  # ... but the start was accepted
    started = [r for r in control(arm, "/activity-log")["value"] if r["operation_name"].endswith("/start/action")]
    assert [r["status"] for r in started] == ["Started"]
    control(arm, "/clock", {"advance": 25})
    assert power_state(compute, arm.resource_group, "vm1") == "PowerState/running"  # and it ran
    compute.virtual_machines.begin_deallocate(arm.resource_group, "vm1")  # count 1: the next answers arrive


def test_drop_before_serving_leaves_nothing_done(arm: ArmEmulator, compute: Any, vm1: str) -> None:
    control(arm, "/faults", {"drop": 1.0, "path": "/virtualMachines/vm1/start$", "count": 1})
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        compute.virtual_machines.begin_start(arm.resource_group, "vm1")
    assert [e["dropped"] for e in control(arm, "/requests")["entries"]] == ["before"]
    assert not [r for r in control(arm, "/activity-log")["value"] if r["operation_name"].endswith("/start/action")]


def test_unknown_allocation_codes_queued_for_one_vm_fail_its_lros_in_turn(
    arm: ArmEmulator, compute: Any, vm1: str
) -> None:
    vm_id = compute.virtual_machines.get(arm.resource_group, "vm1").id
    other = vm_id.replace("/vm1", "/vm2")
    control(arm, "/faults", {"allocation": {"code": "SomethingNew", "count": 2, "id": vm_id.upper()}})
    control(arm, "/faults", {"allocation": [{"code": "AllocationFailed", "id": vm_id}, {"code": "X", "id": other}]})
    seen = []
    for _ in range(3):
        status, headers, _ = raw(arm, "POST", f"{vm1}/start?{API}")
        assert status == 202
        control(arm, "/clock", {"advance": 8})  # an allocation failure takes 8 simulated seconds
        path = headers["Azure-AsyncOperation"].split(arm.url, 1)[1]
        status, _, body = raw(arm, "GET", path)
        assert (status, body["status"]) == (200, "Failed")  # the status body: 200, status Failed, the error
        seen.append(body["error"]["code"])
        monitor = headers["Location"].split(arm.url, 1)[1]
        assert raw(arm, "GET", monitor)[2]["error"]["code"] == body["error"]["code"]
    assert seen == ["SomethingNew", "SomethingNew", "AllocationFailed"]
    assert compute.virtual_machines.get(arm.resource_group, "vm1").provisioning_state == "Failed"
    compute.virtual_machines.begin_start(arm.resource_group, "vm1")  # vm2's fault is not vm1's
    control(arm, "/clock", {"advance": 25})
    assert power_state(compute, arm.resource_group, "vm1") == "PowerState/running"


def test_an_unknown_code_reaches_the_sdk_as_the_lro_error(arm: ArmEmulator, vm1: str) -> None:
    control(arm, "/faults", {"allocation": {"code": "SomethingNew", "message": "A new way to fail."}})
    client = arm.compute_client(advance_on_sleep=True, retry_total=0)
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.begin_start(arm.resource_group, "vm1").result()
    assert (err.value.error.code, err.value.error.message) == ("SomethingNew", "A new way to fail.")


def test_faults_come_as_rules_from_a_scenario_and_bad_ones_are_refused(arm: ArmEmulator, compute: Any) -> None:
    rules = [
        {"error503": 1.0, "path": "/virtualMachines/a$", "method": "GET"},
        {"error429": 1.0, "retryAfter": 30, "path": "/virtualMachines/b$"},
    ]
    control(arm, "/scenario", {"faults": {"rules": rules}})
    for name, status in (("a", 503), ("b", 429), ("c", 404)):
        with pytest.raises(HttpResponseError) as err:
            compute.virtual_machines.get(arm.resource_group, name)
        assert err.value.status_code == status
    for bad in ({"error429": 1, "retryAfter": 0}, {"rules": [{"drop": 1}], "drop": 1}, {"nope": 1}, {"count": "x"}):
        assert raw(arm, "POST", "/_localcloud/faults", bad, token=None)[0] == 400, bad
    control(arm, "/faults", {})  # no rules: no faults
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.get(arm.resource_group, "a")
    assert err.value.status_code == 404
