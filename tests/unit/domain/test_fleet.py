"""Fleet profiles: valid documents, and errors that name the profile and the field."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.fleet import FallbackMode, FleetError, parse_fleets

SUB = "11111111-2222-3333-4444-555555555555"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"


def profile(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web",
        "desired": 3,
        "template": {
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "admin": {"username": "azureuser", "ssh_public_key": "ssh-ed25519 AAAAC3Nza... me"},
        },
        "sizes": ["Standard_D2s_v5", "Standard_D2as_v5"],
        "placements": [{"region": "eastus", "zones": ["1", "2"], "subnet": SUBNET}],
    }
    return {**base, **overrides}


def test_a_minimal_profile_gets_sensible_defaults() -> None:
    [web] = parse_fleets({"fleets": [profile()]}).fleets
    assert web.member_tag == {"respot-fleet": "web"} and web.max_price == -1 and web.strategy == "ranked"
    assert web.fallback.mode == FallbackMode.NEVER and web.template.security_type == "TrustedLaunch"
    assert web.recognises({"Respot-Fleet": "web", "other": "x"}) and not web.recognises({"respot-fleet": "db"})
    assert not web.revert.enabled  # a fallback stays Regular unless the profile asks for the return to Spot
    assert (web.revert.after_minutes, web.revert.min_placement, web.revert.dwell_minutes) == (30, "High", 60)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "Web_1"}, "fleet 'Web_1': name"),
        ({"desired": -1}, "fleet 'web': desired"),
        ({"sizes": ["d2s"]}, "fleet 'web': sizes"),
        ({"placements": []}, "fleet 'web': placements"),
        ({"placements": [{"region": "eastus", "zones": ["4"], "subnet": SUBNET}]}, "placements.0.zones"),
        ({"placements": [{"region": "eastus", "subnet": "/subscriptions/x"}]}, "placements.0.subnet"),
        ({"max_price": 0}, "fleet 'web': max_price"),
        ({"colour": "blue"}, "fleet 'web': colour"),
        (
            {
                "template": {
                    "image": {"publisher": "Canonical"},
                    "admin": {"username": "a", "ssh_public_key": "ssh-rsa x"},
                }
            },
            "template.image",
        ),
        (
            {
                "template": {
                    "image": {"id": "/subscriptions/x"},
                    "admin": {"username": "a", "ssh_public_key": "ssh-rsa x"},
                }
            },
            "template.image",
        ),
        (
            {"template": {"image": {"publisher": "a", "offer": "b", "sku": "c"}, "admin": {"username": "a"}}},
            "template.admin",
        ),
        ({"fallback": {"mode": "sometimes"}}, "fallback.mode"),
        ({"revert": {"enabled": True, "after_minutes": 0}}, "fleet 'web': revert.after_minutes"),
        ({"revert": {"min_placement": "Best"}}, "fleet 'web': revert.min_placement"),
        ({"revert": {"dwell_minutes": -5}}, "fleet 'web': revert.dwell_minutes"),
        ({"revert": {"enabled": True, "when": "soon"}}, "fleet 'web': revert.when"),
    ],
)
def test_every_error_names_the_profile_and_the_field(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(FleetError) as err:
        parse_fleets({"fleets": [profile(**change)]})
    assert problem in str(err.value)


def test_names_are_unique_and_the_document_has_a_shape() -> None:
    with pytest.raises(FleetError, match="unique: web"):
        parse_fleets({"fleets": [profile(), profile()]})
    with pytest.raises(FleetError, match="mapping"):
        parse_fleets(["web"])
    assert parse_fleets(None).fleets == ()


def test_a_vm_belongs_to_the_profile_whose_tag_it_carries() -> None:
    fleets = parse_fleets({"fleets": [profile(), profile(name="db", member_tag={"app": "db"})]})
    assert fleets.of({"app": "db"}).name == "db"  # type: ignore[union-attr]
    assert fleets.of({"respot-fleet": "web"}).name == "web"  # type: ignore[union-attr]
    assert fleets.of({}) is None and fleets.named("db") is not None
