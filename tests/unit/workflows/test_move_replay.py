"""A Spot member on a worse offering moved (revert.better_by), replayed like the return of a fallback: the new Spot VM
is created and warmed up before the old one is deleted, never below desired; a member within better_by stays."""

from __future__ import annotations

from typing import Any

from azure.durable_functions import EntityId

from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.models import VmStatus
from orchestrator.domain.revert import return_id
from orchestrator.domain.sweep import ROSTER
from orchestrator.domain.template import RECOVERY_TAG, REPLACES_TAG, Member
from orchestrator.workflows.revert import return_to_spot
from tests.unit.fakes import World, vm_ref
from tests.unit.workflows.driver import Driver, Entities
from tests.unit.workflows.test_redeploy_replay import entities, market, profile
from tests.unit.workflows.test_revert_replay import REVERT, Timeline

MEMBER = vm_ref("web-1-r9f8e7")
TAGS = {"respot-fleet": "web", RECOVERY_TAG: "respot-0123456789abcdef-0001"}


def world(region: str, zone: str) -> World:
    spec = profile(desired=2, revert={**REVERT, "better_by": 1.0})
    w = World(market=market(), fleets=parse_fleets({"fleets": [spec]}))
    w.compute.add(
        MEMBER, status=VmStatus.RUNNING, tags=dict(TAGS), location=region, zone=zone, eviction_policy="Delete"
    )
    w.compute.add(vm_ref("web-2"), status=VmStatus.RUNNING, tags={"respot-fleet": "web"}, zone="2")
    return w


def drive(w: World, region: str, zone: str) -> tuple[dict[str, Any], Timeline, Entities]:
    member = Member(MEMBER.id, MEMBER.name, "web", "Standard_D2s_v5", region, zone, "Spot", "Delete", dict(TAGS))
    timeline = Timeline(w)
    data = {"vm": MEMBER.to_dict(), "member": member.to_dict()}
    d = Driver(
        lambda c: return_to_spot(c, EntityId), data, return_id(MEMBER), w.compute.now, w.activity, on_tick=timeline.tick
    )
    d.entities = entities()
    return d.run(), timeline, d.entities


def test_a_member_on_a_worse_offering_moves_make_before_break() -> None:
    w = world("northeurope", "")  # placement Low there, High in eastus
    out, timeline, shared = drive(w, "northeurope", "")
    assert (out["outcome"], out["reason"]) == ("returned", "moved"), out
    assert "(Spot on standard_d2s_v5/northeurope/-) -> " in out["detail"]
    [new] = w.compute.created()
    assert new.priority == "Spot" and new.location == "eastus" and new.tags[REPLACES_TAG] == MEMBER.name
    assert MEMBER.id not in w.compute.vms
    assert timeline.deletes == [(MEMBER.name, ["Spot", "Spot"])] and min(timeline.counts) >= 2
    assert "forgotten" in shared.state[(ROSTER, MEMBER.subscription)][MEMBER.id]  # no sweep misses it afterwards


def test_a_member_within_better_by_of_the_best_stays() -> None:
    w = world("eastus", "1")
    out, timeline, shared = drive(w, "eastus", "1")
    assert (out["outcome"], out["reason"]) == ("kept", "not_worse"), out
    assert w.compute.created() == [] and timeline.deletes == []
    assert (ROSTER, MEMBER.subscription) not in shared.state


def test_a_move_whose_delete_fails_keeps_the_member_on_the_roster_unmarked() -> None:
    """ARM accepts the old member's delete and its operation fails every time: both VMs stay, and the roster mark
    sent when the delete was accepted is taken back, or a lost alert of its eviction would never be recovered."""
    w = world("northeurope", "")
    w.compute.delete_fails = "InternalExecutionError"
    out, _, shared = drive(w, "northeurope", "")
    assert (out["outcome"], out["reason"]) == ("kept", "fallback_kept"), out
    assert MEMBER.id in w.compute.vms
    signals = [(op, p.get("id")) for name, _, op, p in shared.log if name == ROSTER]
    assert signals[0] == ("forget", MEMBER.id) and signals[-1] == ("unforget", MEMBER.id)
    assert "forgotten" not in shared.state[(ROSTER, MEMBER.subscription)][MEMBER.id]
