"""The return to Spot on localcloud with the real SDKs: a member evicted while Spot is exhausted everywhere comes back
as a Regular fallback; when capacity returns, the returns timer replaces it by a Spot VM, created and warmed up
before the fallback is deleted, with no moment below the fleet's desired count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SIZE, Stack
from tests.e2e.test_redeploy import REGIONS, fleets_file, members, replacements
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e
REVERT = {"enabled": True, "after_minutes": 10, "min_placement": "High", "dwell_minutes": 30}


@pytest.fixture
def fleet_stack(stack_factory: Any, tmp_path: Path) -> Any:
    """The redeploy tests' stack, with placement scores read fresh at every look: the market adapter keeps them
    ``placement_ttl_seconds`` of wall-clock time, and here a simulated hour passes in a real second."""

    def make(**profile: Any) -> Stack:
        path = fleets_file(tmp_path, **profile)
        env = {"RESPOT_LOG_WORKSPACE_ID": "respot-workspace", "RESPOT_FLEETS_FILE": path}
        stack: Stack = stack_factory(RESPOT_MARKET_TTL_SECONDS="0", RESPOT_PLACEMENT_TTL_SECONDS="0", **env)
        return stack

    return make


def spot_capacity(stack: Stack, available: int) -> None:
    for region, zones in REGIONS.items():
        for zone in zones:
            for size in (SIZE, "Standard_D4s_v5"):
                control(stack.arm, "/capacity", {"region": region, "zone": zone, "size": size, "available": available})


class Census:
    """The fleet's running members at every moment the stepper stops (read with the real SDK)."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.seen = stack, []

    def count(self) -> int:
        vms = self.stack.compute.virtual_machines.list(self.stack.arm.resource_group)
        fleet = [v for v in vms if (v.tags or {}).get("respot-fleet") == "web"]
        running = [v for v in fleet if self.stack.power(v.name) == "PowerState/running"]
        self.seen.append((len(running), sorted((v.name, str(v.priority)) for v in running)))
        return len(running)


def finished_return(stack: Stack, reason: str) -> dict[str, Any] | None:
    done = [
        i
        for i in stack.instances()
        if i["instanceId"].startswith("respot-return-")
        and i["runtimeStatus"] == "Completed"
        and (i.get("output") or {}).get("reason") == reason
    ]
    return dict(done[0]) if done else None


def returned(stack: Stack) -> dict[str, Any] | None:
    return finished_return(stack, "returned_to_spot")


def test_a_regular_fallback_returns_to_spot_when_capacity_comes_back_never_below_desired(fleet_stack: Any) -> None:
    stack = fleet_stack(desired=1, fallback={"mode": "after_minutes", "minutes": 10}, revert=REVERT)
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    spot_capacity(stack, 0)  # the member is evicted, and no Spot VM can be had anywhere
    stack.wait(lambda: stack.instance(stack.recovery(vm_id)).get("runtimeStatus") is not None, what="the recovery")
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced_regular"), out
    [fallback] = replacements(stack)
    assert fallback.priority == "Regular"

    census = Census(stack)
    stack.later(900)  # a few ticks of the returns timer with Spot still exhausted: the fallback stays
    assert [v.name for v in replacements(stack)] == [fallback.name]
    kept = [i for i in stack.instances() if i["instanceId"].startswith("respot-return-")]
    assert kept and all((i.get("output") or {}).get("reason") == "no_good_candidate" for i in kept), kept
    spot_capacity(stack, 20)  # capacity returns
    stack.wait(lambda: census.count() >= 1 and returned(stack) is not None, what="the return to Spot", within=7200)

    assert min(n for n, _ in census.seen) >= 1, census.seen  # desired 1: never a moment without a running member
    assert any(n == 2 for n, _ in census.seen)  # the Spot VM ran beside the fallback before it was deleted
    [spot] = replacements(stack)
    assert spot.priority == "Spot" and spot.name != fallback.name and "respot:fallback" not in spot.tags
    assert spot.tags["respot:replaces"] == fallback.name and stack.power(spot.name) == "PowerState/running"
    output = returned(stack)["output"]  # type: ignore[index]
    assert output["reason"] == "returned_to_spot"
    assert output["replacement"]["old"]["id"].lower() == str(fallback.id).lower()
    assert output["replacement"]["new"]["id"].lower() == str(spot.id).lower()
    assert output["ranking"]["priority"] == "Spot" and output["goodSince"] is not None

    # the Activity Log: the Spot VM's create succeeded before the fallback's delete was sent
    log = control(stack.arm, "/activity-log")["value"]
    created = [r for r in log if r["resource_id"].lower() == str(spot.id).lower() and r["status"] == "Succeeded"]
    deleted = [
        r
        for r in log
        if r["resource_id"].lower() == str(fallback.id).lower() and r["operation_name"].endswith("delete")
    ]
    assert created and deleted, (created, deleted)
    assert min(r["timestamp"] for r in created) < min(r["timestamp"] for r in deleted)
    # The sweeps after the fallback went: respot deleted it itself, so no recovery is opened for it.
    stack.later(3 * 1800)
    assert [(i["instanceId"], i.get("output")) for i in stack.recoveries(str(fallback.id))] == []


def test_a_spot_member_left_on_a_worse_offering_moves_once_it_dwelt_never_below_desired(fleet_stack: Any) -> None:
    stack = fleet_stack(desired=1, revert={**REVERT, "better_by": 1.0})
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    spot_capacity(stack, 0)  # the member is evicted; one slot is left, in centralus
    control(stack.arm, "/capacity", {"region": "centralus", "zone": "1", "size": SIZE, "available": 1})
    stack.wait(lambda: stack.instance(stack.recovery(vm_id)).get("runtimeStatus") is not None, what="the recovery")
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced"), out
    [first] = replacements(stack)
    assert (first.location, first.priority) == ("centralus", "Spot")

    census = Census(stack)
    for region, zones in REGIONS.items():  # capacity returns everywhere but there
        for zone in zones:
            if region != "centralus":
                control(stack.arm, "/capacity", {"region": region, "zone": zone, "size": SIZE, "available": 20})
    stack.wait(
        lambda: census.count() >= 1 and finished_return(stack, "moved") is not None, what="the move", within=7200
    )

    assert min(n for n, _ in census.seen) >= 1, census.seen
    [moved] = replacements(stack)
    assert moved.location != "centralus" and moved.tags["respot:replaces"] == first.name
    output = finished_return(stack, "moved")["output"]  # type: ignore[index]
    assert "(Spot on standard_d2s_v5/centralus/1) -> " in output["detail"]
    log = control(stack.arm, "/activity-log")["value"]
    created = [r for r in log if r["resource_id"].lower() == str(moved.id).lower() and r["status"] == "Succeeded"]
    deleted = [
        r for r in log if r["resource_id"].lower() == str(first.id).lower() and r["operation_name"].endswith("delete")
    ]
    assert created and deleted and min(r["timestamp"] for r in created) < min(r["timestamp"] for r in deleted)
    # the move waited until the member had existed dwell_minutes (30)
    assert output["concludedAt"] >= iso_after(str(first.time_created), minutes=30)
    # The sweeps after the moved member went: respot deleted it itself, so no recovery is opened for it (one was,
    # blaming a person: ignored/user_deleted, before the move told the roster to forget it).
    stack.later(3 * 1800)
    assert [(i["instanceId"], i.get("output")) for i in stack.recoveries(str(first.id))] == []


def iso_after(created: str, *, minutes: float) -> str:
    from datetime import datetime, timedelta

    from orchestrator.domain.models import iso

    return iso(datetime.fromisoformat(created) + timedelta(minutes=minutes))
