"""VM body validation is pure: a body in, a spec or Azure's error out."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.arm import catalog
from localcloud.arm.errors import ArmError
from localcloud.arm.scenario import ScenarioError, parse_at
from localcloud.arm.validation import parse_json, parse_vm, spot_settings

REGIONS = {r: z for r, (z, _) in catalog.REGIONS.items()}


def body(**props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "hardwareProfile": {"vmSize": "standard_d2s_v5"},
        "storageProfile": {},
        "osProfile": {"adminPassword": "x", "customData": "y", "adminUsername": "u"},
        "networkProfile": {"networkInterfaces": [{"id": "/nic"}]},
    }
    base.update(props)
    return {"location": "East US", "properties": base}


def test_spot_defaults_and_normalisation() -> None:
    spec = parse_vm(body(priority="spot"), REGIONS)
    assert (spec.location, spec.size) == ("eastus", "Standard_D2s_v5")
    assert (spec.spot.priority, spec.spot.eviction_policy, spec.spot.max_price) == ("Spot", "Deallocate", -1.0)
    assert spec.properties["osProfile"] == {"adminUsername": "u"}  # secrets dropped


def test_regular_vms_have_no_spot_settings() -> None:
    spec = parse_vm(body(), REGIONS)
    assert (spec.spot.priority, spec.spot.eviction_policy, spec.spot.max_price) == ("Regular", None, None)


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"priority": "Cheap"}, "InvalidParameter"),
        ({"priority": "Spot", "evictionPolicy": "Hibernate"}, "InvalidParameter"),
        ({"priority": "Spot", "billingProfile": {"maxPrice": True}}, "MaxPriceValueInvalid"),
        ({"priority": "Spot", "billingProfile": {"maxPrice": "0.1"}}, "MaxPriceValueInvalid"),
    ],
)
def test_bad_spot_settings(props: dict[str, Any], code: str) -> None:
    with pytest.raises(ArmError) as err:
        spot_settings(props, "Standard_D2s_v5")
    assert err.value.code == code and err.value.status == 400


def test_json_parsing_limits() -> None:
    with pytest.raises(ArmError, match="could not be deserialized"):
        parse_json(b"{")
    with pytest.raises(ArmError) as err:
        parse_json(b" " * (4 * 1024 * 1024 + 1))
    assert err.value.status == 413


@pytest.mark.parametrize(("value", "seconds"), [(90, 90.0), ("PT10M", 600.0), ("P1DT1H", 90000.0), ("PT0.5S", 0.5)])
def test_scenario_times(value: object, seconds: float) -> None:
    assert parse_at(value, "t") == seconds


@pytest.mark.parametrize("value", [-1, "10 minutes", "P", True])
def test_bad_scenario_times(value: object) -> None:
    with pytest.raises(ScenarioError):
        parse_at(value, "timeline[0]")
