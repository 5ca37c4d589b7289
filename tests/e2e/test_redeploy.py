"""Delete-policy evictions on localcloud with the real SDKs: a fleet member deleted by an eviction is replaced on the
best candidate (the inventory sweep recorded it beforehand), a failed create moves down the list and cools the
offering for the next recovery, quota zero means no write there, spot exhausted everywhere gives a marked Regular
fallback, and a member outside every fleet stays not_protected."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcloud.arm.scenario import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, default_subnet
from tests.e2e.conftest import SIZE, Stack
from tests.integration.helpers import control, vm_body

pytestmark = pytest.mark.e2e
REGIONS = {"eastus": ["1", "2"], "westus2": ["1"], "centralus": ["1"]}


def fleets_file(tmp_path: Path, **extra: Any) -> str:
    sub, rg = DEFAULT_SUBSCRIPTION, DEFAULT_RESOURCE_GROUP  # the emulator's defaults: the file exists before it
    profile = {
        "name": "web",
        "desired": 3,
        "template": {
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "admin": {"username": "azureuser", "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e test"},
        },
        "sizes": [SIZE, "Standard_D4s_v5"],
        "placements": [{"region": r, "zones": z, "subnet": default_subnet(sub, rg, r)} for r, z in REGIONS.items()],
        "healthy_seconds": 60,
        **extra,
    }
    path = tmp_path / "fleets.yaml"
    path.write_text(yaml.safe_dump({"fleets": [profile]}))
    return str(path)


@pytest.fixture
def fleet_stack(stack_factory: Any, tmp_path: Path) -> Any:
    def make(**profile: Any) -> Stack:
        path = fleets_file(tmp_path, **profile)
        stack: Stack = stack_factory(RESPOT_LOG_WORKSPACE_ID="respot-workspace", RESPOT_FLEETS_FILE=path)
        return stack

    return make


def members(stack: Stack, names: list[str], zone: str = "1") -> list[str]:
    body = vm_body(stack.arm, region="eastus", zones=[zone], policy="Delete", tags={"respot-fleet": "web"})
    for n in names:
        stack.compute.virtual_machines.begin_create_or_update(stack.arm.resource_group, n, body, polling=False)
    stack.wait(lambda: all(stack.power(n) == "PowerState/running" for n in names), what="the members")
    ids = [str(stack.compute.virtual_machines.get(stack.arm.resource_group, n).id) for n in names]
    stack.later(330)  # the inventory sweep (every 5 minutes) records them before any eviction
    stack.wait(lambda: all(remembered(stack, i) for i in ids), what="the inventory sweep")
    return ids


def remembered(stack: Stack, vm_id: str) -> dict[str, Any] | None:
    from orchestrator.domain.scope import parse_vm_id, vm_hash

    key = vm_hash(parse_vm_id(vm_id))
    url = f"{stack.host.url}/runtime/webhooks/durabletask/entities/member/{key}?code={stack.host.keys.system}"
    try:
        with urllib.request.urlopen(url) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError:
        return None


def replacements(stack: Stack) -> list[Any]:
    vms = stack.compute.virtual_machines.list(stack.arm.resource_group)
    return [v for v in vms if (v.tags or {}).get("respot:recovery")]


def offering(vm: Any) -> str:
    return f"{vm.hardware_profile.vm_size.lower()}/{vm.location}/{(vm.zones or ['-'])[0]}"


def evict(stack: Stack, vm_id: str) -> None:
    control(stack.arm, "/evict", {"id": vm_id})


def pick(stack: Stack, vm_id: str) -> dict[str, Any]:
    """The redeploy's output as soon as it concludes (its recovery then stays open for the settle window)."""
    child = stack.recovery(vm_id) + ":redeploy"
    stack.wait(lambda: stack.instance(child).get("runtimeStatus") == "Completed", what=f"{child}")
    out = dict(stack.instance(child)["output"])
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced"), out
    return out


def test_a_deleted_member_is_replaced_on_the_best_candidate_and_says_why(fleet_stack: Any) -> None:
    stack = fleet_stack()
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    evict(stack, vm_id)
    out = pick(stack, vm_id)
    [new] = replacements(stack)
    ranking = out["ranking"]
    first = ranking["ranked"][0]
    assert offering(new) == f"{first['size'].lower()}/{first['region']}/{first['zone'] or '-'}"
    assert offering(new) != "standard_d2s_v5/eastus/1"  # never back into the place just reclaimed
    assert ranking["choice"].startswith(offering(new))
    assert stack.finished(vm_id)["replacement"] == out["replacement"]  # the recovery's record has it too
    assert out["replacement"]["old"]["id"].lower() == vm_id.lower()
    assert out["replacement"]["new"]["id"].lower() == str(new.id).lower()
    assert new.tags["respot:replaces"] == "web-1" and new.priority == "Spot" and new.eviction_policy == "Delete"
    assert stack.power(new.name) == "PowerState/running"
    assert remembered(stack, str(new.id)) is not None  # its own eviction can be undone too


def test_an_allocation_failure_moves_down_the_list_and_the_next_recovery_skips_the_cooled_offering(
    fleet_stack: Any,
) -> None:
    stack = fleet_stack()
    stack.alert_group()
    first_id, second_id = members(stack, ["web-1", "web-2"])
    control(stack.arm, "/faults", {"allocation": {"code": "AllocationFailed", "count": 1}})
    evict(stack, first_id)
    out = pick(stack, first_id)
    failed, used = out["walk"][0], out["walk"][-1]
    assert (failed["result"], used["result"]) == ("cool", "succeeded")
    assert failed["code"] in ("AllocationFailed", "ZonalAllocationFailed")  # a zonal create fails zonally
    assert len(replacements(stack)) == 1  # the failed create's VM was deleted
    stack.later(60)  # a minute later: the failed offering cools down for 10 minutes after its failure
    evict(stack, second_id)
    out2 = pick(stack, second_id)
    cooled = [c for c in out2["ranking"]["excluded"] if (c["excluded"] or "").startswith("cooling down")]
    assert any(f"{c['size'].lower()}/{c['region']}/{c['zone'] or '-'}" == failed["offering"] for c in cooled)
    assert all(w["offering"] != failed["offering"] for w in out2["walk"])


def test_quota_zero_in_a_region_makes_no_write_there(fleet_stack: Any) -> None:
    stack = fleet_stack()
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    control(stack.arm, "/quota", {"region": "westus2", "name": "lowPriorityCores", "limit": 0})
    control(stack.arm, "/quota", {"region": "centralus", "name": "lowPriorityCores", "limit": 0})
    evict(stack, vm_id)
    out = pick(stack, vm_id)
    assert all(w["offering"].split("/")[1] == "eastus" for w in out["walk"])
    excluded = {c["region"] for c in out["ranking"]["excluded"] if "quota" in (c["excluded"] or "")}
    assert excluded == {"westus2", "centralus"}


def test_spot_exhausted_everywhere_gives_a_regular_fallback_marked_as_such(fleet_stack: Any) -> None:
    stack = fleet_stack(fallback={"mode": "after_minutes", "minutes": 10})
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    for region, zones in REGIONS.items():
        for zone in zones:
            for size in (SIZE, "Standard_D4s_v5"):
                control(stack.arm, "/capacity", {"region": region, "zone": zone, "size": size, "available": 0})
    stack.wait(lambda: stack.instance(stack.recovery(vm_id)).get("runtimeStatus") is not None, what="the recovery")
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced_regular"), out
    [new] = replacements(stack)
    assert new.priority == "Regular" and new.tags["respot:fallback"] == "regular"
    assert out["replacement"]["new"]["fallback"] is True


def test_a_delete_policy_vm_outside_every_fleet_is_not_protected_and_says_how_to_enrol(fleet_stack: Any) -> None:
    stack = fleet_stack()
    stack.alert_group()
    body = vm_body(stack.arm, region="eastus", zones=["1"], policy="Delete")
    stack.compute.virtual_machines.begin_create_or_update(stack.arm.resource_group, "loner", body, polling=False)
    stack.wait(lambda: stack.power("loner") == "PowerState/running", what="the VM")
    vm_id = str(stack.compute.virtual_machines.get(stack.arm.resource_group, "loner").id)
    evict(stack, vm_id)
    out = stack.finished(vm_id, timeout=120)
    assert out["outcome"] == "not_protected" and "respot-fleet=" in out["detail"]
    assert replacements(stack) == []


def test_a_failed_create_left_behind_is_not_rostered_so_its_later_delete_starts_no_recovery(fleet_stack: Any) -> None:
    """ARM shows a create that failed for capacity deallocated, as a failed start. If it outlives a sweep (here its
    deletes are refused for a while; in the chaos soak a host kill delayed it), the sweep must not roster it as a member: once
    it is gone, the next sweeps would miss it and start a recovery for a VM respot itself gave up on."""
    stack = fleet_stack()
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    control(stack.arm, "/faults", {"allocation": {"code": "AllocationFailed", "count": 1}})
    # Every delete of it refused until the sweep has seen it (respot waits the refusals out and asks again).
    control(stack.arm, "/faults", {"error503": 1, "path": "/virtualMachines/web-1-", "method": "DELETE"})
    evict(stack, vm_id)
    out = pick(stack, vm_id)
    failed = out["walk"][0]["name"]
    [left] = [v for v in stack.compute.virtual_machines.list(stack.arm.resource_group) if v.name == failed]
    assert stack.power(failed) == "PowerState/deallocated"
    stack.later(330)  # a sweep sees the failed create
    control(stack.arm, "/faults", {})
    stack.compute.virtual_machines.begin_delete(stack.arm.resource_group, failed, polling=False)
    stack.wait(lambda: failed not in {v.name for v in stack.compute.virtual_machines.list(stack.arm.resource_group)})
    stack.later(3 * 1800)  # sweeps past the Activity Log delay (20 minutes) after it went
    assert stack.recoveries(str(left.id)) == []


def test_a_failed_create_a_sweep_sees_while_it_is_deleted_starts_no_recovery_either(fleet_stack: Any) -> None:
    """The same VM, listed while respot's delete of it runs (ProvisioningState/deleting): the roster has it marked
    forgotten, so the next sweeps do not miss it (the chaos soak found one on a loaded machine: a recovery that
    blamed a person)."""
    stack = fleet_stack()
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    control(stack.arm, "/scenario", {"durations": {"delete": 2 * 3600}})  # sweeps every 5 minutes see it going
    control(stack.arm, "/faults", {"allocation": {"code": "AllocationFailed", "count": 1}})
    evict(stack, vm_id)
    failed = pick(stack, vm_id)["walk"][0]["name"]
    left = stack.compute.virtual_machines.get(stack.arm.resource_group, failed)
    assert str(left.provisioning_state).lower() == "deleting"
    stack.later(330)  # a sweep lists it while it is deleted
    names = lambda: {v.name for v in stack.compute.virtual_machines.list(stack.arm.resource_group)}  # noqa: E731
    assert failed in names()
    stack.wait(lambda: failed not in names(), what="the failed create gone")
    stack.later(3 * 1800)  # sweeps past the Activity Log delay (20 minutes) after it went
    assert stack.recoveries(str(left.id)) == []
