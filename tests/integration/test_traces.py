"""Capacity replayed from traces in the spot-traces format (../shared/data/spot-traces/FORMAT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from tests.conftest import SHARED
from tests.integration.helpers import control, power_state, vm_body

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIZE = "Standard_NC6s_v3"


def test_a_one_node_trace_recalls_and_returns_capacity_tick_by_tick(compute: Any) -> None:
    # Time stands still so each tick is stepped by hand: 0 = spot available, 1 = not.
    with ArmEmulator(speed=0) as arm:
        client = arm.compute_client(retry_total=0)
        arm.apply(
            {
                "traces": [
                    {
                        "file": str(FIXTURES / "trace_1node.json"),
                        "region": "eastus",
                        "zone": "1",
                        "size": SIZE,
                        "slots": 1,
                    }
                ]
            }
        )
        arm.backend.tick()
        control(arm, "/clock", {"speed": 600})
        client.virtual_machines.begin_create_or_update(
            arm.resource_group, "gpu", vm_body(arm, size=SIZE, zones=["1"])
        ).result()
        control(arm, "/clock", {"speed": 0})
        elapsed = arm.clock.elapsed()
        control(arm, "/clock", {"advance": 1200 - elapsed + 31})  # tick 2 (value 1) recalls, notice runs out
        assert power_state(client, arm.resource_group, "gpu") == "PowerState/deallocated"
        assert control(arm, "/state")["capacityInUse"] == []  # nothing allocated while the trace says no spot
        control(arm, "/clock", {"advance": 1200})  # tick 4 (value 0): capacity is back
        assert arm.backend.capacity("eastus", "1", SIZE) == 1


@pytest.mark.skipif(not (SHARED / "data/spot-traces").exists(), reason="../shared/data is not beside this checkout")
def test_the_published_aws_trace_replays_into_capacity_changes() -> None:
    trace = SHARED / "data/spot-traces/availability/1-node/aws-10-26-2022/us-west-2a_v100_1.json"
    with ArmEmulator(speed=0) as arm:
        arm.apply({"traces": [{"file": str(trace), "region": "westus2", "zone": "1", "size": SIZE, "slots": 2}]})
        steps = [label for _, label in arm.backend.pending() if "tick" in label]
        assert len(steps) > 10  # the trace flips between available and not many times
        import json

        doc = json.loads(trace.read_text())
        arm.clock.advance(len(doc["data"]) * doc["metadata"]["gap_seconds"])
        arm.backend.tick()
        assert arm.backend.pending() == []


def test_a_bad_trace_reference_is_a_clear_scenario_error(arm: ArmEmulator) -> None:
    from tests.integration.helpers import raw

    status, _, body = raw(
        arm,
        "POST",
        "/_localcloud/scenario",
        {"traces": [{"file": "/nope.json", "region": "eastus", "size": SIZE}]},
        token=None,
    )
    assert status == 400 and "traces[0].file" in body["error"]["message"]
