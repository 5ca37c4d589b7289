"""Autoscale settings through the real azure-mgmt-monitor client, and what the emulated engine does with them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.monitor.models import AutoscaleProfile, AutoscaleSettingResource, ScaleCapacity

from localcloud.arm import ArmEmulator
from tests.integration.helpers import activity, autoscale_body, control, raw, vmss_body

pytestmark = pytest.mark.integration


@pytest.fixture
def monitor(arm: ArmEmulator) -> Any:
    return arm.monitor_client(retry_total=0)


def scale_set(arm: ArmEmulator, compute: Any, name: str = "ss", **kwargs: Any) -> Any:
    body = vmss_body(arm, **{"capacity": 1, "policy": "Delete", **kwargs})
    return compute.virtual_machine_scale_sets.begin_create_or_update(arm.resource_group, name, body).result()


def setting(target: str, *, minimum: str, maximum: str, default: str, enabled: bool = True) -> AutoscaleSettingResource:
    capacity = ScaleCapacity(minimum=minimum, maximum=maximum, default=default)
    # The SDK's model defaults ``enabled`` to False: say it, as a caller must.
    return AutoscaleSettingResource(
        location="eastus",
        profiles=[AutoscaleProfile(name="default", capacity=capacity, rules=[])],
        target_resource_uri=target,
        enabled=enabled,
        tags={"team": "spot"},
    )


def test_create_get_list_update_and_delete_with_the_real_sdk(arm: ArmEmulator, compute: Any, monitor: Any) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute)
    made = monitor.autoscale_settings.create_or_update(rg, "as1", setting(ss.id, minimum="1", maximum="3", default="1"))
    assert made.id.endswith("/providers/microsoft.insights/autoscalesettings/as1")
    assert (made.type, made.enabled, made.target_resource_uri, made.tags) == (
        "Microsoft.Insights/autoscaleSettings",
        True,
        ss.id,
        {"team": "spot"},
    )
    assert made.profiles[0].capacity.maximum == "3" and made.name == "as1"
    got = monitor.autoscale_settings.get(rg, "as1")
    assert got.profiles[0].name == "default"
    assert [s.name for s in monitor.autoscale_settings.list_by_resource_group(rg)] == ["as1"]
    assert [s.name for s in monitor.autoscale_settings.list_by_subscription()] == ["as1"]
    updated = monitor.autoscale_settings.update(rg, "as1", {"enabled": False, "tags": {"v": "2"}})
    assert (updated.enabled, updated.tags, updated.profiles[0].name) == (False, {"v": "2"}, "default")
    monitor.autoscale_settings.delete(rg, "as1")
    with pytest.raises(ResourceNotFoundError) as err:
        monitor.autoscale_settings.get(rg, "as1")
    assert "microsoft.insights/autoscalesettings/as1" in err.value.error.message
    monitor.autoscale_settings.delete(rg, "as1")  # 204: nothing left to delete


def test_the_wire_shapes_are_the_official_examples(arm: ArmEmulator, compute: Any) -> None:
    ss = scale_set(arm, compute)
    path = f"/subscriptions/{arm.subscription}/resourcegroups/{arm.resource_group}/providers/Microsoft.Insights/autoscalesettings/raw?api-version=2022-10-01"
    status, _, body = raw(arm, "PUT", path, autoscale_body(ss.id, minimum=1, maximum=2, default=1))
    assert status == 201
    props = body["properties"]
    assert (props["enabled"], props["name"], props["targetResourceUri"]) == (True, "raw", ss.id)
    assert props["profiles"][0]["capacity"] == {"minimum": "1", "maximum": "2", "default": "1"}
    assert raw(arm, "PUT", path, autoscale_body(ss.id, minimum=1, maximum=2, default=1))[0] == 200


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"minimum": "3", "default": "1"}, "BadRequest", "The minimum capacity value '3'"),
        ({"default": "9", "maximum": "4"}, "BadRequest", "greater than the maximum capacity of '4'"),
        ({"minimum": "one"}, "BadRequest", "whole number"),
    ],
)
def test_capacities_out_of_order_are_bad_requests(
    arm: ArmEmulator, compute: Any, monitor: Any, change: dict[str, str], code: str, words: str
) -> None:
    ss = scale_set(arm, compute)
    values = {"minimum": "1", "maximum": "4", "default": "1", **change}
    with pytest.raises(HttpResponseError) as err:
        monitor.autoscale_settings.create_or_update(arm.resource_group, "bad", setting(ss.id, **values))
    assert (err.value.status_code, err.value.error.code) == (400, code)
    assert words in err.value.error.message


def test_the_target_must_exist_and_cannot_change(arm: ArmEmulator, compute: Any, monitor: Any) -> None:
    rg, ss, other = arm.resource_group, scale_set(arm, compute), scale_set(arm, compute, "other")
    with pytest.raises(HttpResponseError) as err:
        monitor.autoscale_settings.create_or_update(
            rg, "a", setting(ss.id + "x", minimum="1", maximum="2", default="1")
        )
    assert (err.value.status_code, err.value.error.code) == (400, "TargetResourceNotFound")
    monitor.autoscale_settings.create_or_update(rg, "a", setting(ss.id, minimum="1", maximum="2", default="1"))
    with pytest.raises(HttpResponseError) as err:
        monitor.autoscale_settings.create_or_update(rg, "a", setting(other.id, minimum="1", maximum="2", default="1"))
    assert err.value.error.code == "TargetResourceIdIsImmutable"
    assert "The target resource reference is immutable" in err.value.error.message


def test_an_enabled_setting_raises_the_count_to_its_default_and_records_a_scale_up(
    arm: ArmEmulator, compute: Any, monitor: Any
) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute)
    control(arm, "/clock", {"speed": 0})
    monitor.autoscale_settings.create_or_update(rg, "as1", setting(ss.id, minimum="1", maximum="5", default="3"))
    control(arm, "/clock", {"advance": 0})  # the engine evaluates a new setting at once
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 3
    (record,) = activity(arm, "/AutoscaleSettings/Scaleup/Action")
    assert (record["caller"], record["category"], record["status"]) == (
        "Microsoft.Insights/autoscaleSettings",
        "Autoscale",
        "Succeeded",
    )
    assert record["resource_id"].endswith("/autoscalesettings/as1")
    props = record["properties"]
    assert (props["oldInstancesCount"], props["newInstancesCount"], props["resourceName"]) == ("1", "3", ss.id)
    assert json.loads(props["activeAutoscaleProfile"])["name"] == "default"
    writes = activity(arm, "virtualMachineScaleSets/write")
    assert writes[-1]["caller"] == "Microsoft.Insights/autoscaleSettings"


def test_the_engine_brings_back_delete_policy_evictions_below_the_minimum(
    arm: ArmEmulator, compute: Any, monitor: Any
) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute, capacity=2)
    monitor.autoscale_settings.create_or_update(rg, "as1", setting(ss.id, minimum="2", maximum="4", default="2"))
    control(arm, "/clock", {"speed": 0})
    victim = next(iter(compute.virtual_machine_scale_set_vms.list(rg, "ss")))
    control(arm, "/evict", {"id": victim.id})
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 1
    control(arm, "/clock", {"advance": 60})  # the next evaluation
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 2


def test_a_disabled_setting_and_a_count_within_bounds_are_left_alone(
    arm: ArmEmulator, compute: Any, monitor: Any
) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute, capacity=2)
    control(arm, "/clock", {"speed": 0})
    monitor.autoscale_settings.create_or_update(
        rg, "off", setting(ss.id, minimum="4", maximum="5", default="4", enabled=False)
    )
    control(arm, "/clock", {"advance": 600})
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 2
    monitor.autoscale_settings.create_or_update(rg, "off", setting(ss.id, minimum="1", maximum="5", default="1"))
    control(arm, "/clock", {"advance": 600})
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 2  # 2 is within [1, 5], above 1
    assert activity(arm, "/Scaleup/Action") == [] and activity(arm, "/Scaledown/Action") == []


def test_the_count_is_brought_down_to_the_maximum(arm: ArmEmulator, compute: Any, monitor: Any) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute, capacity=3)
    control(arm, "/clock", {"speed": 0})
    monitor.autoscale_settings.create_or_update(rg, "as1", setting(ss.id, minimum="1", maximum="2", default="1"))
    control(arm, "/clock", {"advance": 0})
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 2
    assert [r["properties"]["newInstancesCount"] for r in activity(arm, "/Scaledown/Action")] == ["2"]


def test_a_fixed_date_profile_wins_while_its_window_holds(arm: ArmEmulator, compute: Any) -> None:
    rg, ss = arm.resource_group, scale_set(arm, compute)
    control(arm, "/clock", {"speed": 0})
    now = control(arm, "/clock")["now"]
    body = autoscale_body(ss.id, minimum=1, maximum=5, default=1)
    window = {"timeZone": "UTC", "start": now, "end": "2999-01-01T00:00:00Z"}
    capacity = {"minimum": "4", "maximum": "5", "default": "4"}
    body["properties"]["profiles"].insert(0, {"name": "event", "capacity": capacity, "rules": [], "fixedDate": window})
    path = f"/subscriptions/{arm.subscription}/resourcegroups/{rg}/providers/Microsoft.Insights/autoscalesettings/ev?api-version=2022-10-01"
    assert raw(arm, "PUT", path, body)[0] == 201
    control(arm, "/clock", {"advance": 0})
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 4
