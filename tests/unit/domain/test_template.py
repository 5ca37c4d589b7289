"""A replacement's ARM body and name: from the profile's template and what respot knew of the member."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.models import InvalidInput, VmFacts, VmRef
from orchestrator.domain.placement import Offering
from orchestrator.domain.template import DataDisk, Member, replacement_name, vm_body

SUB = "11111111-2222-3333-4444-555555555555"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"


def profile(**template: Any) -> Any:
    base = {
        "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
        "admin": {"username": "azureuser", "ssh_public_key": "ssh-ed25519 AAAAC3Nza key"},
        "tags": {"team": "web"},
        **template,
    }
    doc = {
        "fleets": [
            {
                "name": "web",
                "desired": 2,
                "template": base,
                "placements": [{"region": "eastus", "zones": ["1", "2"], "subnet": SUBNET}],
            }
        ]
    }
    return parse_fleets(doc).fleets[0]


def member(**extra: Any) -> Member:
    return Member(
        f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/web-1",
        "web-1",
        "web",
        "Standard_D2s_v5",
        "eastus",
        "1",
        tags={"respot-fleet": "web", "app": "shop"},
        **extra,
    )


def body(spot: bool = True, **kw: Any) -> dict[str, Any]:
    return vm_body(
        profile(**kw.pop("template", {})),
        member(**kw.pop("member", {})),
        Offering("Standard_D4s_v5", "eastus", "2"),
        name="web-1-rabcde",
        ssh_public_key="ssh-ed25519 AAAAC3Nza key",
        spot=spot,
        recovery_id="respot-x-0001",
        **kw,
    )


def test_names_repeat_for_one_attempt_and_differ_for_the_next() -> None:
    first = replacement_name("web-1", "respot-x-0001", 1)
    assert first == replacement_name("web-1", "respot-x-0001", 1)
    assert first != replacement_name("web-1", "respot-x-0001", 2)
    assert first.startswith("web-1-r") and len(first) == len("web-1-r") + 5
    assert replacement_name(first, "respot-y-0001", 1).count("-r") == 1  # a replacement's replacement keeps the base
    assert len(replacement_name("x" * 80, "respot-x-0001", 1)) <= 64


def test_a_spot_body_has_the_offering_the_inline_nic_and_the_tags() -> None:
    b = body()
    props = b["properties"]
    assert (b["location"], b["zones"], props["hardwareProfile"]["vmSize"]) == ("eastus", ["2"], "Standard_D4s_v5")
    assert (props["priority"], props["evictionPolicy"], props["billingProfile"]["maxPrice"]) == ("Spot", "Delete", -1)
    nic = props["networkProfile"]["networkInterfaceConfigurations"][0]
    assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] == SUBNET
    assert nic["properties"]["deleteOption"] == "Delete" and props["networkProfile"]["networkApiVersion"]
    assert props["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert b["tags"] == {
        "team": "web",
        "app": "shop",
        "respot-fleet": "web",
        "respot:replaces": "web-1",
        "respot:recovery": "respot-x-0001",
    }
    assert props["securityProfile"]["securityType"] == "TrustedLaunch"


def test_a_regular_fallback_is_marked_and_has_no_spot_fields() -> None:
    props = body(spot=False)["properties"]
    assert props["priority"] == "Regular" and "evictionPolicy" not in props and "billingProfile" not in props
    assert body(spot=False)["tags"]["respot:fallback"] == "regular"


def test_the_members_own_data_disk_layout_wins_over_the_templates() -> None:
    disks = body(template={"data_disks": [{"size_gb": 64}]}, member={"data_disks": (DataDisk(3, 128, "Premium_LRS"),)})
    [disk] = disks["properties"]["storageProfile"]["dataDisks"]
    assert (disk["lun"], disk["diskSizeGB"], disk["deleteOption"]) == (3, 128, "Delete")


def test_a_raised_cap_is_the_bodys_max_price() -> None:
    assert body(max_price=0.05)["properties"]["billingProfile"]["maxPrice"] == 0.05


def test_a_member_from_facts_keeps_what_a_replacement_needs() -> None:
    ref = VmRef(SUB, "rg", "web-1")
    facts = VmFacts(
        exists=True,
        priority="Spot",
        eviction_policy="Delete",
        max_price=0.04,
        size="Standard_D2s_v5",
        location="eastus",
        zone="3",
        tags={"respot-fleet": "web"},
        data_disks=[{"lun": 0, "size_gb": 32, "type": "StandardSSD_LRS"}],
    )
    m = Member.from_facts(ref, facts, "web", "2026-01-01T00:00:00Z")
    assert (m.zone, m.max_price, m.data_disks) == ("3", 0.04, (DataDisk(0, 32, "StandardSSD_LRS"),))
    assert Member.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(
    "bad", [None, [], {"name": "x"}, {**member().to_dict(), "tags": "no"}, {**member().to_dict(), "name": ""}]
)
def test_a_member_that_is_not_one_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        Member.from_dict(bad)


def test_a_confidential_vm_says_how_its_os_disk_guest_state_is_encrypted() -> None:
    b = body(template={"security_type": "ConfidentialVM"})
    assert b["properties"]["securityProfile"]["securityType"] == "ConfidentialVM"
    managed = b["properties"]["storageProfile"]["osDisk"]["managedDisk"]
    assert managed["securityProfile"] == {"securityEncryptionType": "VMGuestStateOnly"}
