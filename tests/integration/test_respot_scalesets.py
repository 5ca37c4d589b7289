"""respot's scale-set adapter with the real SDKs against the emulator: facts (mode, Spot, policy, Try & restore),
the autoscale settings that target a set (Resource Graph), the subscription's sets, and a capacity PATCH."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from orchestrator.adapters.compute import ArmCompute
from orchestrator.adapters.scalesets import ArmScaleSets
from orchestrator.settings import Settings
from tests.integration.helpers import control, vmss_body

pytestmark = pytest.mark.integration


def adapter(arm: ArmEmulator) -> ArmScaleSets:
    settings = Settings(subscriptions=arm.subscription, arm_endpoint=arm.url, credential="localcloud")
    return ArmScaleSets(settings, ArmCompute(settings))


def create(arm: ArmEmulator, compute: Any, name: str, **extra: Any) -> Any:
    body = vmss_body(arm, capacity=2, policy="Delete")
    body["properties"].update(extra)
    return compute.virtual_machine_scale_sets.begin_create_or_update(arm.resource_group, name, body).result()


def test_facts_say_spot_delete_and_try_and_restore(arm: ArmEmulator, compute: Any) -> None:
    create(arm, compute, "plain")
    create(arm, compute, "tnr", spotRestorePolicy={"enabled": True, "restoreTimeout": "PT1H"})
    sets = adapter(arm)
    plain = sets.facts(arm.subscription, arm.resource_group, "plain")
    assert (plain.capacity, plain.spot, plain.delete_policy, plain.restore, plain.autoscale) == (
        2,
        True,
        True,
        False,
        (),
    )
    assert sets.facts(arm.subscription, arm.resource_group, "tnr").restore
    listed = {name: facts.capacity for _, name, facts, _ in sets.list_scale_sets(arm.subscription)}
    assert listed == {"plain": 2, "tnr": 2}


def test_an_enabled_autoscale_setting_that_targets_the_set_is_found(arm: ArmEmulator, compute: Any) -> None:
    ss = create(arm, compute, "auto")
    monitor = arm.monitor_client()
    from azure.mgmt.monitor.models import AutoscaleProfile, AutoscaleSettingResource, ScaleCapacity

    profile = AutoscaleProfile(name="default", capacity=ScaleCapacity(minimum="1", maximum="5", default="2"), rules=[])
    setting = AutoscaleSettingResource(
        location="eastus", profiles=[profile], enabled=True, target_resource_uri=str(ss.id)
    )
    monitor.autoscale_settings.create_or_update(arm.resource_group, "auto-scale", setting)
    assert adapter(arm).facts(arm.subscription, arm.resource_group, "auto").autoscale == ("auto-scale",)


def test_a_capacity_patch_returns_its_operation_and_lands(arm: ArmEmulator, compute: Any) -> None:
    create(arm, compute, "pool")
    control(arm, "/clock", {"speed": 0})
    sets = adapter(arm)
    op = sets.begin_set_capacity(arm.subscription, arm.resource_group, "pool", 4)
    control(arm, "/clock", {"advance": 300})
    if op is not None:
        assert (
            ArmCompute(Settings(subscriptions=arm.subscription, arm_endpoint=arm.url, credential="localcloud"))
            .operation(op)
            .status
            == "Succeeded"
        )
    assert sets.facts(arm.subscription, arm.resource_group, "pool").capacity == 4
