"""Every Azure error the emulator emits, as the real SDK surfaces it: branch on ``e.error.code``."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, vm_body
from tests.live import Cloud

pytestmark = pytest.mark.integration


def put(arm: ArmEmulator, compute: Any, name: str = "vm1", **kwargs: Any) -> Any:
    return compute.virtual_machines.begin_create_or_update(arm.resource_group, name, vm_body(arm, **kwargs)).result()


def error_of(fn: Any) -> Any:
    with pytest.raises(HttpResponseError) as err:
        fn()
    assert err.value.error is not None
    return err.value


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"priority": "Regular", "policy": None, "max_price": 0.5},
            400,
            "MaxPriceIsSupportedOnlyForAzureSpotVirtualMachines",
        ),
        (
            {"priority": "Regular", "policy": "Delete", "max_price": None},
            400,
            "EvictionPolicyCanBeSetOnlyOnAzureSpotVirtualMachines",
        ),
        ({"max_price": 0}, 400, "MaxPriceValueInvalid"),
        ({"max_price": -2}, 400, "MaxPriceValueInvalid"),
        ({"size": "Standard_B2s"}, 400, "AzureSpotIsNotSupportedForThisVMSize"),
        ({"size": "Standard_Imaginary_v9"}, 400, "InvalidParameter"),
        ({"region": "atlantis"}, 400, "LocationNotAvailableForResourceType"),
        ({"zones": ["7"]}, 400, "InvalidParameter"),
        (
            {"subnet": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/v/subnets/nope"},
            400,
            "InvalidResourceReference",
        ),
    ],
)
@pytest.mark.azure_live
def test_invalid_spot_and_vm_configuration_is_refused_synchronously(
    cloud: Cloud, kwargs: dict[str, Any], status: int, code: str
) -> None:
    err = error_of(lambda: cloud.create("vm1", **kwargs))
    assert (err.status_code, err.error.code) == (status, code)


def test_a_subnet_in_another_region_is_an_invalid_reference(arm: ArmEmulator, compute: Any) -> None:
    from localcloud.arm.scenario import default_subnet

    westus = default_subnet(arm.subscription, arm.resource_group, "westus2")
    err = error_of(lambda: put(arm, compute, region="eastus", subnet=westus))
    assert err.error.code == "InvalidResourceReference"


def test_spot_in_an_availability_set_is_refused(arm: ArmEmulator, compute: Any) -> None:
    body = vm_body(arm)
    body["properties"]["availabilitySet"] = {
        "id": f"/subscriptions/{arm.subscription}/resourceGroups/x/providers/Microsoft.Compute/availabilitySets/as"
    }
    err = error_of(lambda: compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", body).result())
    assert err.error.code == "AzureSpotVMNotSupportedInAvailabilitySet"


def test_max_price_below_the_spot_price_is_refused_with_both_prices_in_the_message(
    arm: ArmEmulator, compute: Any
) -> None:
    control(arm, "/price", {"region": "eastus", "size": "Standard_D2s_v5", "price": 0.031})
    err = error_of(lambda: put(arm, compute, max_price=0.02))
    assert (err.status_code, err.error.code) == (409, "SpotPriceGreaterThanProvidedMaxPrice")
    assert "'0.02 USD'" in err.error.message and "'0.031 USD'" in err.error.message


def test_spot_quota_is_low_priority_cores_and_deallocated_vms_hold_none(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/quota", {"region": "eastus", "name": "lowPriorityCores", "limit": 4})
    put(arm, compute, "a")
    put(arm, compute, "b")
    err = error_of(lambda: put(arm, compute, "c"))
    assert (err.status_code, err.error.code) == (409, "OperationNotAllowed")
    assert "LowPriorityCores" in err.error.message and "Current Limit: 4" in err.error.message
    compute.virtual_machines.begin_deallocate(arm.resource_group, "a").result()
    put(arm, compute, "c")  # a's 2 cores came back
    usage = {u.name.value: u.current_value for u in compute.usage.list("eastus")}
    assert usage["lowPriorityCores"] == 4 and usage["cores"] == 0


def test_restricted_sku_is_not_available(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/scenario", {"restrictions": [{"region": "eastus", "size": "Standard_D2s_v5"}]})
    err = error_of(lambda: put(arm, compute))
    assert (err.status_code, err.error.code) == (409, "SkuNotAvailable")
    sku = next(s for s in compute.resource_skus.list(filter="location eq 'eastus'") if s.name == "Standard_D2s_v5")
    assert sku.restrictions[0].reason_code == "NotAvailableForSubscription"


@pytest.mark.parametrize(
    "code",
    [
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "AllocationFailed",
        "SkuNotAvailable",
    ],
)
def test_injected_allocation_failures_surface_through_the_lro(arm: ArmEmulator, compute: Any, code: str) -> None:
    control(arm, "/faults", {"allocation": {"code": code, "count": 1, "region": "eastus"}})
    err = error_of(lambda: put(arm, compute))
    assert err.error.code == code
    put(arm, compute, "vm2")  # the fault was for one allocation only


@pytest.mark.azure_live
def test_unknown_resource_group_and_subscription_are_404s(cloud: Cloud) -> None:
    err = error_of(lambda: cloud.compute.virtual_machines.get(cloud.name("no-such-rg"), "vm1"))
    assert (err.status_code, err.error.code) == (404, "ResourceGroupNotFound")
    other = cloud.compute_client("99999999-0000-0000-0000-000000000000")
    err = error_of(lambda: other.virtual_machines.get(cloud.resource_group, "vm1"))
    assert (err.status_code, err.error.code) == (404, "SubscriptionNotFound")


@pytest.mark.azure_live
def test_simulate_eviction_of_a_regular_vm_is_not_allowed(cloud: Cloud) -> None:
    cloud.create("vm1", priority="Regular", policy=None, max_price=None)
    err = error_of(lambda: cloud.compute.virtual_machines.simulate_eviction(cloud.resource_group, cloud.name("vm1")))
    assert (err.status_code, err.error.code) == (409, "OperationNotAllowed")


def test_injected_500s_and_503s_carry_the_arm_envelope(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/faults", {"error503": 1.0, "path": "/virtualMachines/"})
    err = error_of(lambda: compute.virtual_machines.get(arm.resource_group, "vm1"))
    assert (err.status_code, err.error.code) == (503, "ServiceUnavailable")
    control(arm, "/faults", {"error500": 1.0})
    err = error_of(lambda: compute.virtual_machines.get(arm.resource_group, "vm1"))
    assert (err.status_code, err.error.code) == (500, "InternalExecutionError")


def test_dropped_connections_are_retried_by_azure_core(arm: ArmEmulator) -> None:
    put(arm, arm.compute_client(retry_total=0))
    control(arm, "/faults", {"drop": 0.5, "seed": 3, "path": "/virtualMachines/vm1$"})
    client = arm.compute_client(retry_total=10, retry_backoff_factor=0.01)
    for _ in range(10):
        assert client.virtual_machines.get(arm.resource_group, "vm1").name == "vm1"
    assert control(arm, "/state")["faultsInjected"] > 0
