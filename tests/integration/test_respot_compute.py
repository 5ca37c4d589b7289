"""respot's Compute adapter and activities with the real azure-mgmt-compute client against the ARM emulator:
writes return at once with the operation to watch, reads map every 404 and error code, nothing waits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from orchestrator.activities import compute as activities
from orchestrator.adapters.compute import ArmCompute
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.models import Missing, Operation, StepResult, VmRef, VmStatus
from orchestrator.settings import Settings
from tests.integration.helpers import control, vm_body

pytestmark = pytest.mark.integration


def settings(arm: ArmEmulator, **extra: Any) -> Settings:
    return Settings(subscriptions=arm.subscription, arm_endpoint=arm.url, credential="localcloud", **extra)


def vm(arm: ArmEmulator, name: str = "vm1") -> VmRef:
    return VmRef(arm.subscription, arm.resource_group.lower(), name)


@pytest.fixture
def evicted(arm: ArmEmulator, compute: Any) -> VmRef:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    compute.virtual_machines.begin_deallocate(arm.resource_group, "vm1").result()
    control(arm, "/clock", {"speed": 0})  # from here, time moves only when the test says so
    return vm(arm)


def test_a_start_returns_its_operation_at_once_and_the_operation_is_read_by_one_get(
    arm: ArmEmulator, evicted: VmRef
) -> None:
    port = ArmCompute(settings(arm))
    began = time.monotonic()
    op = port.begin_start(evicted)
    assert op is not None and "/operations/" in op.url and time.monotonic() - began < 5  # clock stopped: no wait
    assert port.operation(op).status == "InProgress"
    assert port.facts(evicted).status in (VmStatus.STARTING, VmStatus.DEALLOCATED)
    control(arm, "/clock", {"advance": 120})
    assert port.operation(op).status == "Succeeded"
    assert port.facts(evicted).status == VmStatus.RUNNING


def test_a_failed_allocation_ends_the_operation_failed_with_its_code(arm: ArmEmulator, evicted: VmRef) -> None:
    control(arm, "/faults", {"allocation": {"code": "ZonalAllocationFailed", "count": 1}})
    port = ArmCompute(settings(arm))
    op = port.begin_start(evicted)
    assert op is not None
    control(arm, "/clock", {"advance": 120})
    state = port.operation(op)
    assert (state.status, state.code) == ("Failed", "ZonalAllocationFailed")
    result = StepResult.from_dict(activities.check_operation({"operation": op.to_dict()}, port, settings(arm)))
    assert result.failure is not None and result.failure.kind == Failure.CAPACITY.value


def test_every_404_says_what_is_missing(arm: ArmEmulator) -> None:
    port = ArmCompute(settings(arm))
    assert port.facts(vm(arm, "never-created")).missing == Missing.VM
    assert port.facts(VmRef(arm.subscription, "no-such-group", "vm")).missing == Missing.RESOURCE_GROUP


def test_a_429_on_a_start_carries_its_retry_after_and_is_not_retried_in_process(
    arm: ArmEmulator, evicted: VmRef
) -> None:
    control(arm, "/faults", {"error429": 1.0, "path": "/start$", "method": "POST", "seed": 1})
    control(arm, "/requests", method="DELETE")
    with pytest.raises(ArmFailure) as err:
        ArmCompute(settings(arm)).begin_start(evicted)
    assert err.value.kind == Failure.THROTTLED and err.value.retry_after is not None
    assert control(arm, "/requests")["counts"].get("VirtualMachines_Start 429") == 1


def test_try_start_reads_first_and_does_not_start_a_running_vm(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/requests", method="DELETE")
    answer = StepResult.from_dict(
        activities.try_start({"vm": vm(arm).to_dict()}, ArmCompute(settings(arm)), settings(arm).scope)
    )
    assert (answer.step.value, answer.reason) == ("skipped", "started_meanwhile")
    assert "VirtualMachines_Start 202" not in control(arm, "/requests")["counts"]


def test_an_operation_url_from_elsewhere_gets_no_token(arm: ArmEmulator) -> None:
    forged = Operation(
        f"http://127.0.0.2:1/subscriptions/{arm.subscription}/providers/Microsoft.Compute/locations/eastus/operations/x"
    )
    answer = activities.check_operation({"operation": forged.to_dict()}, ArmCompute(settings(arm)), settings(arm))
    assert answer["step"] == "out_of_scope"


def test_a_vm_outside_the_scope_gets_no_arm_call(arm: ArmEmulator) -> None:
    control(arm, "/requests", method="DELETE")
    outside = VmRef("99999999-9999-9999-9999-999999999999", "theirs", "vm")
    for activity in (activities.read_vm, activities.try_start):
        assert (
            activity({"vm": outside.to_dict()}, ArmCompute(settings(arm)), settings(arm).scope)["step"]
            == "out_of_scope"
        )
    assert control(arm, "/requests")["entries"] == []


def test_a_start_whose_answer_is_lost_is_no_answer_and_the_guard_read_sees_it_took(
    arm: ArmEmulator, evicted: VmRef
) -> None:
    control(arm, "/faults", {"dropAfter": 1.0, "path": "/start$", "method": "POST", "count": 1})
    port = ArmCompute(settings(arm))
    with pytest.raises(ArmFailure) as err:
        port.begin_start(evicted)
    assert err.value.kind == Failure.NO_ANSWER  # sent; the outcome is unknown
    answer = StepResult.from_dict(activities.try_start({"vm": evicted.to_dict()}, port, settings(arm).scope))
    assert (answer.step.value, answer.reason) == ("skipped", "started_meanwhile")  # it took: no second POST
    starts = [e for e in control(arm, "/requests")["entries"] if e["path"].endswith("/start")]
    assert len(starts) == 1


def test_after_a_failed_start_the_vm_reads_deallocated_with_the_failure_and_can_start_again(
    arm: ArmEmulator, evicted: VmRef
) -> None:
    control(arm, "/faults", {"allocation": {"code": "AllocationFailed", "count": 1}})
    port = ArmCompute(settings(arm))
    assert port.begin_start(evicted) is not None
    control(arm, "/clock", {"advance": 120})
    facts = port.facts(evicted)
    assert (facts.status, facts.provisioning_failed) == (VmStatus.DEALLOCATED, "AllocationFailed")
    answer = StepResult.from_dict(activities.try_start({"vm": evicted.to_dict()}, port, settings(arm).scope))
    assert answer.step.value == "accepted"


def test_uniform_instances_and_flexible_members_are_told_apart(arm: ArmEmulator, compute: Any) -> None:
    from orchestrator.domain.models import ScaleSetMode
    from tests.integration.helpers import vmss_body
    from tests.integration.test_flexible import flexible, member

    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "uni", vmss_body(arm, capacity=1)).result()
    [instance] = list(compute.virtual_machine_scale_set_vms.list(rg, "uni"))
    flex = compute.virtual_machine_scale_sets.begin_create_or_update(rg, "flex", flexible(arm)).result()
    compute.virtual_machines.begin_create_or_update(rg, "web1", member(arm, flex.id)).result()
    port = ArmCompute(settings(arm, price_policy="raise", max_price_ceiling=0.5))
    uniform = VmRef(arm.subscription, rg.lower(), f"uni_{instance.instance_id}", "uni", str(instance.instance_id))
    assert port.facts(uniform).scale_set_mode == ScaleSetMode.UNIFORM
    assert port.facts(vm(arm, "web1")).scale_set_mode == ScaleSetMode.FLEXIBLE
    compute.virtual_machine_scale_set_vms.begin_deallocate(rg, "uni", instance.instance_id).result()
    control(arm, "/requests", method="DELETE")
    answer = StepResult.from_dict(
        activities.raise_max_price(
            {"vm": uniform.to_dict()}, port, settings(arm, price_policy="raise", max_price_ceiling=0.5)
        )
    )
    assert answer.step.value == "skipped" and "whole set" in answer.reason
    assert not [e for e in control(arm, "/requests")["entries"] if e["method"] == "PATCH"]  # the model is untouched


def test_an_activity_hands_on_the_lowest_budget_readings_its_requests_saw(arm: ArmEmulator, evicted: VmRef) -> None:
    answer = activities.try_start({"vm": evicted.to_dict()}, ArmCompute(settings(arm)), settings(arm).scope)
    remaining = answer["remaining"]
    # The guard GET drew on the reads bucket, the POST on the writes bucket: ARM's own counts, for the limiter.
    assert set(remaining) >= {"reads", "writes"} and 0 <= remaining["writes"] < 200 and remaining["reads"] < 250
    assert answer["spent"] == {"reads": 1, "writes": 1}  # what it took of each bucket, for the limiter's refunds


def test_a_list_younger_than_max_age_answers_without_a_request(arm: ArmEmulator, evicted: VmRef) -> None:
    adapter = ArmCompute(settings(arm))
    first = adapter.list_vms(arm.subscription, max_age=30)
    control(arm, "/requests", method="DELETE")
    assert adapter.list_vms(arm.subscription, max_age=30) == first
    assert control(arm, "/requests")["counts"] == {}
    adapter.list_vms(arm.subscription)  # without max_age: always read
    assert control(arm, "/requests")["counts"] == {"VirtualMachines_ListAll 200": 1}


def test_listing_with_status_gives_each_vm_its_status_and_last_change_in_two_reads(
    arm: ArmEmulator, compute: Any, evicted: VmRef
) -> None:
    control(arm, "/requests", method="DELETE")
    adapter = ArmCompute(settings(arm))
    [(ref, facts)] = adapter.list_vms(arm.subscription, status=True)
    assert ref == evicted and (facts.status, facts.is_spot, facts.eviction_policy) == (
        VmStatus.DEALLOCATED,
        True,
        "Deallocate",
    )
    assert facts.changed_at is not None and facts.changed_at == adapter.facts(evicted).changed_at
    assert control(arm, "/requests")["counts"] == {"VirtualMachines_ListAll 200": 2, "VirtualMachines_Get 200": 1}
    [(_, model_only)] = adapter.list_vms(arm.subscription)
    assert (model_only.status, model_only.changed_at) == (VmStatus.UNKNOWN, None)


def test_a_uniform_sets_instances_come_with_their_instance_views_from_one_list(arm: ArmEmulator, compute: Any) -> None:
    from tests.integration.helpers import vmss_body

    compute.virtual_machine_scale_sets.begin_create_or_update(
        arm.resource_group, "pool", vmss_body(arm, capacity=2)
    ).result()
    compute.virtual_machine_scale_set_vms.begin_deallocate(arm.resource_group, "pool", "1").result()
    control(arm, "/requests", method="DELETE")
    listed = dict(ArmCompute(settings(arm)).list_instances(arm.subscription, arm.resource_group.lower(), "pool"))
    assert {(r.scale_set, r.instance_id) for r in listed} == {("pool", "0"), ("pool", "1")}
    statuses = {r.instance_id: f.status for r, f in listed.items()}
    assert statuses == {"0": VmStatus.RUNNING, "1": VmStatus.DEALLOCATED}
    assert all(f.changed_at and f.size for f in listed.values())
    assert control(arm, "/requests")["counts"] == {"VirtualMachineScaleSetVMs_List 200": 1}


def test_the_vm_list_says_when_each_vm_was_created(arm: ArmEmulator, evicted: VmRef) -> None:
    from datetime import datetime

    listed = dict(ArmCompute(settings(arm)).list_vms(arm.subscription))
    created = listed[evicted].created_at  # timeCreated: a move waits until a member is dwell_minutes old
    assert created.endswith("Z") and datetime.fromisoformat(created) <= datetime.fromisoformat(
        control(arm, "/clock")["now"]
    )


def test_a_throttled_vm_list_keeps_arms_error_code(arm: ArmEmulator, evicted: VmRef) -> None:
    control(
        arm, "/faults", {"error429": 1.0, "retryAfter": 30, "path": "/virtualMachines$", "method": "GET", "count": 3}
    )
    with pytest.raises(ArmFailure) as err:
        ArmCompute(settings(arm)).list_vms(arm.subscription)
    # The raw JSON list reads ARM's error body as the SDK does: the code says who throttled (the limiter needs it).
    assert (err.value.kind, err.value.code, err.value.retry_after) == (Failure.THROTTLED, "TooManyRequests", 30)
