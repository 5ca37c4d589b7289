"""429s with Azure's bodies and headers, and azure-core absorbing them when its retry is on.

Time stands still in these tests (speed 0): buckets refill only as the test or the SDK moves the clock, so
counts and waits are exact whatever the machine's speed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from localcloud.arm import ArmEmulator
from localcloud.arm.clients import WORLD_HEADER
from tests.integration.helpers import control, raw, vm_body
from tests.live import Cloud

pytestmark = pytest.mark.integration

LOW_COST_GET_EVERY = 5  # Low Cost Get VM refills 12 a minute per VM (compute-throttling-limits.md): one per 5 s


@pytest.fixture
def vm1(arm: ArmEmulator, compute: Any) -> str:
    """vm1 running, the clock stopped and every bucket full."""
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/clock", {"speed": 0})
    control(arm, "/throttling", {"enabled": True})  # fresh buckets
    control(arm, "/requests", method="DELETE")
    return "vm1"


def test_low_cost_get_on_one_vm_is_throttled_after_36_with_the_crp_body(
    arm: ArmEmulator, compute: Any, vm1: str
) -> None:
    ok = 0
    with pytest.raises(HttpResponseError) as err:
        for _ in range(100):
            compute.virtual_machines.get(arm.resource_group, vm1)
            ok += 1
    assert ok == 36  # Low Cost Get VM: 36 per resource (compute-throttling-limits.md)
    e = err.value
    assert (e.status_code, e.error.code) == (429, "OperationNotAllowed")
    detail = e.error.details[0]
    assert (detail.code, detail.target) == ("TooManyRequests", "LowCostGet")
    assert json.loads(detail.message)["allowedRequestCount"] == 36
    headers = e.response.headers
    assert headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/LowCostGet3Min;0"
    assert headers[WORLD_HEADER] == str(LOW_COST_GET_EVERY)  # the emulator said: one token in 5 simulated s


def test_the_wire_carries_whole_simulated_seconds_and_no_real_time_hint(arm: ArmEmulator, vm1: str) -> None:
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/{vm1}?api-version=2026-04-01"
    while (answer := raw(arm, "GET", path))[0] == 200:
        pass
    status, headers, _ = answer
    assert status == 429 and headers["Retry-After"] == str(LOW_COST_GET_EVERY)
    assert "retry-after-ms" not in {k.lower() for k in headers}


@pytest.mark.azure_live
def test_remaining_counts_come_back_on_every_response(cloud: Cloud) -> None:
    path = f"/subscriptions/{cloud.subscription}/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01"
    resp = cloud.compute.send_request(HttpRequest("GET", path))  # the SDK's own pipeline, raw response
    assert int(resp.headers["x-ms-ratelimit-remaining-subscription-reads"]) < 250
    assert resp.headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/HighCostGet30Min;")


def test_a_429_storm_is_absorbed_by_the_sdk_retry_honouring_retry_after(arm: ArmEmulator, vm1: str) -> None:
    # azure-core's default retry policy; its waits advance the stopped clock instead of sleeping.
    client = arm.compute_client(advance_on_sleep=True)
    began = arm.clock.elapsed()
    for _ in range(60):
        assert client.virtual_machines.get(arm.resource_group, vm1).name == vm1
    counts = control(arm, "/requests")["counts"]
    assert counts["VirtualMachines_Get 200"] == 60
    assert counts["VirtualMachines_Get 429"] == 60 - 36  # a burst of 36, then one 429 before each GET
    # Each 429 said Retry-After: 5 and the SDK waited exactly that before its retry, which then found a token.
    assert arm.clock.elapsed() - began == (60 - 36) * LOW_COST_GET_EVERY


def test_subscription_write_bucket_gives_the_arm_throttle_error(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/clock", {"speed": 0})
    codes = set()
    for i in range(205):
        try:
            compute.virtual_machines.begin_power_off(arm.resource_group, f"missing{i}")
        except HttpResponseError as err:
            codes.add(err.error.code)
    assert "SubscriptionRequestsThrottled" in codes  # writes: 200 per subscription, then 429
