"""429s with Azure's bodies and headers, and azure-core absorbing them when its retry is on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, vm_body

pytestmark = pytest.mark.integration


def test_low_cost_get_on_one_vm_is_throttled_after_36_with_the_crp_body(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/clock", {"speed": 0})  # no refill while we count
    control(arm, "/throttling", {"enabled": True})  # fresh buckets
    ok = 0
    with pytest.raises(HttpResponseError) as err:
        for _ in range(100):
            compute.virtual_machines.get(arm.resource_group, "vm1")
            ok += 1
    assert ok == 36  # Low Cost Get VM: 36 per resource (compute-throttling-limits.md)
    e = err.value
    assert (e.status_code, e.error.code) == (429, "OperationNotAllowed")
    detail = e.error.details[0]
    assert (detail.code, detail.target) == ("TooManyRequests", "LowCostGet")
    assert json.loads(detail.message)["allowedRequestCount"] == 36
    headers = e.response.headers
    assert headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/LowCostGet3Min;0"
    assert "Retry-After" in headers and int(headers["Retry-After"]) > 0  # clock stopped: a long wait


def test_remaining_counts_come_back_on_every_response(arm: ArmEmulator, compute: Any) -> None:
    path = f"/subscriptions/{arm.subscription}/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01"
    resp = compute.send_request(HttpRequest("GET", path))  # the SDK's own pipeline, raw response
    assert int(resp.headers["x-ms-ratelimit-remaining-subscription-reads"]) < 250
    assert resp.headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/HighCostGet30Min;")


def test_a_429_storm_is_absorbed_by_the_sdk_retry_honouring_retry_after(arm: ArmEmulator) -> None:
    client = arm.compute_client()  # azure-core's default retry policy: honours Retry-After / retry-after-ms
    client.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/requests", method="DELETE")
    for _ in range(60):  # 36 burst then 12/min per VM: at 600x, a token every 8 ms of real time
        assert client.virtual_machines.get(arm.resource_group, "vm1").name == "vm1"
    counts = control(arm, "/requests")["counts"]
    assert counts.get("VirtualMachines_Get 429", 0) > 0
    assert counts["VirtualMachines_Get 200"] == 60


def test_subscription_write_bucket_gives_the_arm_throttle_error(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/clock", {"speed": 0})
    codes = set()
    for i in range(205):
        try:
            compute.virtual_machines.begin_power_off(arm.resource_group, f"missing{i}")
        except HttpResponseError as err:
            codes.add(err.error.code)
    assert "SubscriptionRequestsThrottled" in codes  # writes: 200 per subscription, then 429
