"""respot's fleet activities with the real SDKs against the emulator: a replacement's body is accepted by ARM as
Azure would take it (inline NIC in the placement's subnet, zone, Spot or Regular), a create out of capacity ends
with its code, a retried create finds its VM, a delete takes only what respot made, and the market is gathered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from localcloud.arm.scenario import default_subnet
from orchestrator.activities import fleet
from orchestrator.adapters.compute import ArmCompute
from orchestrator.adapters.market import ArmMarket
from orchestrator.adapters.secrets import KeyVaultSecrets
from orchestrator.domain.fleet import Fleets, parse_fleets
from orchestrator.domain.models import Operation, StepResult, VmRef, VmStatus
from orchestrator.domain.placement import market_from_dict
from orchestrator.domain.template import Member, replacement_name
from orchestrator.settings import Settings
from tests.integration.helpers import control

pytestmark = pytest.mark.integration
RECOVERY = "respot-0123456789abcdef-0001"


def settings(arm: ArmEmulator) -> Settings:
    return Settings(
        subscriptions=arm.subscription, arm_endpoint=arm.url, prices_endpoint=arm.url, credential="localcloud"
    )


def fleets(arm: ArmEmulator, **extra: Any) -> Fleets:
    sub, rg = arm.subscription, arm.resource_group
    profile = {
        "name": "web",
        "desired": 2,
        "template": {
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "admin": {"username": "azureuser", "ssh_public_key": "ssh-ed25519 AAAAC3Nza test"},
            "data_disks": [{"size_gb": 64, "type": "Premium_LRS"}],
        },
        "sizes": ["Standard_D2s_v5", "Standard_D4s_v5"],
        "placements": [
            {"region": "eastus", "zones": ["1", "2"], "subnet": default_subnet(sub, rg, "eastus")},
            {"region": "westus2", "zones": ["1"], "subnet": default_subnet(sub, rg, "westus2")},
        ],
        **extra,
    }
    return parse_fleets({"fleets": [profile]})


def member(arm: ArmEmulator) -> Member:
    vm = VmRef(arm.subscription, arm.resource_group.lower(), "web-1")
    return Member(vm.id, "web-1", "web", "Standard_D2s_v5", "eastus", "1", tags={"respot-fleet": "web"})


class Rig:
    def __init__(self, arm: ArmEmulator) -> None:
        self.arm, self.settings = arm, settings(arm)
        self.compute = ArmCompute(self.settings)
        self.market = ArmMarket(self.settings, self.compute)
        self.fleets = fleets(arm)
        self.secrets = KeyVaultSecrets(self.settings, self.compute.credential)
        self.evicted = VmRef(arm.subscription, arm.resource_group.lower(), "web-1")

    def create(self, offering: str, attempt: int = 1, spot: bool = True, again: bool = False) -> StepResult:
        payload = {
            "again": again,
            "vm": self.evicted.to_dict(),
            "member": member(self.arm).to_dict(),
            "recovery": RECOVERY,
            "attempt": attempt,
            "offering": offering,
            "spot": spot,
        }
        answer = fleet.create_vm(payload, self.compute, self.market, self.secrets, self.fleets, self.settings.scope)
        return StepResult.from_dict(answer)

    def target(self, attempt: int = 1) -> VmRef:
        return VmRef(
            self.arm.subscription, self.arm.resource_group.lower(), replacement_name("web-1", RECOVERY, attempt)
        )

    def settle(self, operation: Operation | None) -> str:
        assert operation is not None
        control(self.arm, "/clock", {"advance": 300})
        return self.compute.operation(operation).status


@pytest.fixture
def rig(arm: ArmEmulator) -> Rig:
    control(arm, "/clock", {"speed": 0})  # time moves when the test says so
    return Rig(arm)


def test_a_replacement_is_created_in_the_placements_subnet_and_zone_from_the_template(rig: Rig) -> None:
    created = rig.create("standard_d2s_v5/eastus/2")
    assert created.step.value == "accepted"
    assert rig.settle(created.operation) == "Succeeded"
    facts = rig.compute.facts(rig.target())
    assert (facts.status, facts.zone, facts.size, facts.priority) == (VmStatus.RUNNING, "2", "Standard_D2s_v5", "Spot")
    assert facts.eviction_policy == "Delete" and facts.tags["respot:replaces"] == "web-1"
    assert facts.tags["respot:recovery"] == RECOVERY and facts.tags["respot-fleet"] == "web"
    assert facts.data_disks == [{"lun": 0, "size_gb": 64, "type": "Premium_LRS"}]
    listed = dict(rig.compute.list_vms(rig.arm.subscription))
    assert listed[rig.target()].tags["respot-fleet"] == "web"


def test_a_waves_creates_share_one_list_of_the_subscription(rig: Rig) -> None:
    rig.market.skus(rig.arm.subscription, "eastus")  # a ranking just read them
    control(rig.arm, "/requests", method="DELETE")
    for attempt in (1, 2):
        payload = {
            "vm": rig.evicted.to_dict(),
            "member": member(rig.arm).to_dict(),
            "recovery": f"{RECOVERY[:-1]}{attempt}",
            "attempt": 1,
            "offering": "standard_d2s_v5/eastus/2",
        }
        answer = fleet.create_vm(
            payload, rig.compute, rig.market, rig.secrets, rig.fleets, rig.settings.scope, members_age=30
        )
        assert answer["step"] == "accepted", answer
    counts = control(rig.arm, "/requests")["counts"]
    # a create-only PUT each; the second counts the fleet from the first's list (no GET of the evicted VM: the
    # list says it is gone; no GET of its own name: If-None-Match: * makes the PUT safe to send)
    assert counts == {"VirtualMachines_ListAll 200": 1, "VirtualMachines_CreateOrUpdate 201": 2}


def test_a_fleet_that_looks_full_in_a_shared_list_is_listed_afresh_before_a_create_is_refused(
    rig: Rig, compute: Any
) -> None:
    from tests.integration.helpers import vm_body

    for name in ("web-2", "web-3"):  # the profile wants 2 members: these two and the evicted web-1
        poller = compute.virtual_machines.begin_create_or_update(
            rig.arm.resource_group, name, vm_body(rig.arm, tags={"respot-fleet": "web"}, policy="Delete")
        )
        control(rig.arm, "/clock", {"advance": 300})
        poller.result()
    rig.compute.list_vms(rig.arm.subscription, max_age=30)  # a ranking's list: web-2 and web-3 live
    compute.virtual_machines.begin_delete(rig.arm.resource_group, "web-3")  # evicted too, since that list
    control(rig.arm, "/clock", {"advance": 300})
    payload = {
        "vm": rig.evicted.to_dict(),
        "member": member(rig.arm).to_dict(),
        "recovery": RECOVERY,
        "attempt": 1,
        "offering": "standard_d2s_v5/eastus/2",
    }
    answer = fleet.create_vm(
        payload, rig.compute, rig.market, rig.secrets, rig.fleets, rig.settings.scope, members_age=30
    )
    assert answer["step"] == "accepted", answer  # the shared list said 2 of 2; ARM's list now says 1


def test_a_retried_create_finds_its_vm_and_never_puts_again(rig: Rig) -> None:
    first = rig.create("standard_d2s_v5/eastus/2")
    again = rig.create("standard_d2s_v5/eastus/2", again=True)  # an earlier PUT's outcome unknown: read first
    assert (first.step.value, again.step.value, again.reason) == ("accepted", "skipped", "exists")
    counts = control(rig.arm, "/requests")["counts"]
    assert sum(n for k, n in counts.items() if k.startswith("VirtualMachines_CreateOrUpdate")) == 1


def test_a_replayed_create_is_refused_by_arm_and_changes_nothing(rig: Rig) -> None:
    first = rig.create("standard_d2s_v5/eastus/2")
    replayed = rig.create("standard_d2s_v5/eastus/2")  # the activity ran again, not knowing: If-None-Match: *
    assert (first.step.value, replayed.step.value, replayed.reason) == ("accepted", "skipped", "exists")
    assert replayed.facts is not None and replayed.facts.exists
    counts = control(rig.arm, "/requests")["counts"]
    assert counts["VirtualMachines_CreateOrUpdate 201"] == 1 and counts["VirtualMachines_CreateOrUpdate 412"] == 1
    assert len([r for r, _ in rig.compute.list_vms(rig.arm.subscription) if r.name.startswith("web-1-r")]) == 1


def test_a_create_out_of_capacity_ends_with_allocation_failed_and_the_delete_cleans_it_up(rig: Rig) -> None:
    control(rig.arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "zone": "2", "available": 0})
    created = rig.create("standard_d2s_v5/eastus/2")
    assert created.operation is not None
    control(rig.arm, "/clock", {"advance": 300})
    state = rig.compute.operation(created.operation)
    assert state.status == "Failed" and state.code in ("AllocationFailed", "ZonalAllocationFailed")
    deleted = StepResult.from_dict(fleet.delete_vm({"vm": rig.target().to_dict()}, rig.compute, rig.settings.scope))
    assert deleted.step.value in ("accepted", "done")
    control(rig.arm, "/clock", {"advance": 300})
    assert not rig.compute.facts(rig.target()).exists


def test_a_regular_fallback_is_marked_and_needs_no_spot_capacity(rig: Rig) -> None:
    control(rig.arm, "/capacity", {"region": "westus2", "size": "Standard_D2s_v5", "available": 0})
    created = rig.create("standard_d2s_v5/westus2/1", spot=False)
    assert rig.settle(created.operation) == "Succeeded"
    facts = rig.compute.facts(rig.target())
    assert facts.priority == "Regular" and facts.tags["respot:fallback"] == "regular"


def test_delete_never_touches_a_vm_respot_did_not_create(rig: Rig, compute: Any) -> None:
    from tests.integration.helpers import vm_body

    poller = compute.virtual_machines.begin_create_or_update(rig.arm.resource_group, "mine", vm_body(rig.arm))
    control(rig.arm, "/clock", {"advance": 300})
    poller.result()
    mine = VmRef(rig.arm.subscription, rig.arm.resource_group.lower(), "mine")
    answer = StepResult.from_dict(fleet.delete_vm({"vm": mine.to_dict()}, rig.compute, rig.settings.scope))
    assert (answer.step.value, answer.reason) == ("skipped", "not a VM respot created")
    assert rig.compute.facts(mine).exists


def test_an_offering_the_profile_does_not_allow_is_refused_before_any_write(rig: Rig) -> None:
    refused = rig.create("standard_d2s_v5/northeurope/-")
    assert refused.step.value == "out_of_scope" and "does not allow" in refused.reason
    assert not rig.compute.facts(rig.target()).exists


def test_the_market_is_gathered_for_every_region_the_fleet_may_use(rig: Rig) -> None:
    control(rig.arm, "/quota", {"region": "westus2", "name": "lowPriorityCores", "limit": 0})
    payload = {"vm": rig.evicted.to_dict(), "member": member(rig.arm).to_dict()}
    answer = StepResult.from_dict(fleet.gather_market(payload, rig.market, rig.compute, rig.fleets, rig.settings.scope))
    assert answer.step.value == "ok" and isinstance(answer.value, str)
    market = market_from_dict(json.loads(answer.value))
    assert ("eastus", "standard_d4s_v5") in market.skus and ("westus2", "standard_d2s_v5") in market.skus
    assert market.quota["westus2"]["lowPriorityCores"] <= 0
    assert market.spot_prices[("standard_d2s_v5", "eastus")] > 0
    assert "standard_d2s_v5/eastus/1" in market.placement
