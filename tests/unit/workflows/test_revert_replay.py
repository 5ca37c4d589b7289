"""The return to Spot replayed by azure-functions-durable, answered by the real activities over a fake Compute and
Market, with the real entity operations: the Spot VM is created and warmed up before the Regular fallback is
deleted, never below the desired count; a Spot VM lost while warming up deletes nothing Regular; a candidate must
rank well enough for long enough; the floors hold."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions import EntityId

from orchestrator.domain import memory
from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.models import VmStatus, iso
from orchestrator.domain.revert import return_id
from orchestrator.domain.template import FALLBACK_TAG, RECOVERY_TAG, REPLACES_TAG, Member
from orchestrator.workflows.revert import return_to_spot
from tests.unit.fakes import T0, World, vm_ref
from tests.unit.workflows.driver import Driver, Entities
from tests.unit.workflows.test_redeploy_replay import EVERY_OFFERING, entities, market, profile

FALLBACK = vm_ref("web-1-r0a1b2")
SPOT_MEMBER = vm_ref("web-2")
REVERT = {"enabled": True, "after_minutes": 10, "min_placement": "High", "dwell_minutes": 60}


def world(*, desired: int = 2, others: int = 1, **extra: Any) -> World:
    spec = profile(**{"desired": desired, "revert": REVERT, **extra})
    w = World(market=market(), fleets=parse_fleets({"fleets": [spec]}))
    tags = {"respot-fleet": "web", FALLBACK_TAG: "regular", RECOVERY_TAG: "respot-0123456789abcdef-0001"}
    w.compute.add(
        FALLBACK, status=VmStatus.RUNNING, priority="Regular", eviction_policy="", tags=tags, zone="1", max_price=-1
    )
    for n in range(others):
        w.compute.add(vm_ref(f"web-{n + 2}"), status=VmStatus.RUNNING, tags={"respot-fleet": "web"}, zone="2")
    return w


def fallback_member() -> Member:
    return Member(
        vm_id=FALLBACK.id,
        name=FALLBACK.name,
        fleet="web",
        size="Standard_D2s_v5",
        region="eastus",
        zone="1",
        priority="Regular",
        eviction_policy="",
        tags={"respot-fleet": "web", FALLBACK_TAG: "regular", RECOVERY_TAG: "respot-0123456789abcdef-0001"},
    )


class Timeline:
    """The fleet's live members at every moment the clock moved, and what each delete found."""

    def __init__(self, w: World) -> None:
        self.w, self.counts, self.deletes = w, [], []
        real_delete = w.compute.begin_delete

        def delete(vm: Any) -> Any:
            running = [v for i, v in w.compute.vms.items() if i != vm.id and v.status == VmStatus.RUNNING]
            self.deletes.append((vm.name, [v.priority for v in running]))
            return real_delete(vm)

        w.compute.begin_delete = delete  # type: ignore[method-assign]

    def tick(self, now: datetime) -> None:
        self.w.compute.tick(now)
        self.counts.append(sum(1 for v in self.w.compute.vms.values() if v.status == VmStatus.RUNNING))


def drive(w: World, shared: Entities | None = None) -> tuple[dict[str, Any], Driver, Timeline]:
    timeline = Timeline(w)
    data = {"vm": FALLBACK.to_dict(), "member": fallback_member().to_dict()}
    d = Driver(
        lambda c: return_to_spot(c, EntityId),
        data,
        return_id(FALLBACK),
        T0,
        w.activity,
        on_tick=timeline.tick,
        entities=shared or entities(),
    )
    return d.run(), d, timeline


def spot_vms(w: World) -> list[Any]:
    return [v for v in w.compute.created() if v.priority == "Spot"]


def test_the_spot_vm_runs_and_holds_before_the_regular_fallback_is_deleted_never_below_desired() -> None:
    w = world()
    shared = entities()
    out, _, timeline = drive(w, shared)
    assert (out["outcome"], out["reason"]) == ("returned", "returned_to_spot"), out
    [spot] = spot_vms(w)
    assert FALLBACK.id not in w.compute.vms and spot.status == VmStatus.RUNNING
    assert spot.tags[REPLACES_TAG] == FALLBACK.name and FALLBACK_TAG not in spot.tags
    assert spot.tags[RECOVERY_TAG].startswith(return_id(FALLBACK))
    # the only delete was the fallback's, sent while the Spot VM and the other member ran
    assert timeline.deletes == [(FALLBACK.name, ["Spot", "Spot"])]
    assert min(timeline.counts) >= 2  # desired 2: never fewer running members
    old, new = out["replacement"]["old"], out["replacement"]["new"]
    assert (old["id"], old["priority"]) == (FALLBACK.id, "Regular")
    assert (new["priority"], new["fallback"]) == ("Spot", False)
    assert "web-1-r0a1b2 (Regular) -> " in out["detail"] and "(Spot)" in out["detail"]
    # the candidate ranked well for after_minutes before the create; the Spot VM held for healthy_seconds
    good_since = datetime.fromisoformat(out["goodSince"])
    assert good_since - T0 < timedelta(seconds=10)  # the first look: policy, profile, cool-downs, market
    assert out["concludedAt"] >= iso(good_since + timedelta(minutes=10, seconds=60))
    assert any(k == memory.MEMBER for k, _ in shared.state)  # the Spot VM is a member respot remembers


def test_the_create_waits_until_the_candidate_ranked_well_for_after_minutes() -> None:
    w = world()
    _, d, _ = drive(w)
    names = [n for n, _ in d.calls]
    first_create = names.index("create_return")
    assert names[:first_create].count("gather_market") == 3  # looked at 0, 5 and 10 minutes
    assert d.timers[0][1] - d.timers[0][0] == timedelta(minutes=5)


def test_a_spot_vm_evicted_while_warming_up_deletes_nothing_regular_and_cools_its_offering() -> None:
    w = world(healthy_seconds=300)
    for key in EVERY_OFFERING:
        w.compute.evict_after[key] = 60  # gone a minute after it started running
    shared = entities()
    out, _, timeline = drive(w, shared)
    assert (out["outcome"], out["reason"]) == ("kept", "lost_in_warm_up"), out
    assert FALLBACK.id in w.compute.vms  # the Regular fallback stays
    assert all(name != FALLBACK.name for name, _ in timeline.deletes)
    [tried] = out["walk"]
    assert tried["result"] == "cool" and tried["code"] == "EvictedDuringWarmUp"
    assert tried["offering"] in shared.state[(memory.OFFERINGS, memory.SHARED)]
    assert min(timeline.counts) >= 2


def test_no_candidate_ranking_well_enough_keeps_the_fallback_and_creates_nothing() -> None:
    w = world()
    for key in list(w.market.scores):
        w.market.scores[key] = "Medium"
    out, _, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("kept", "no_good_candidate"), out
    assert "below High" in out["detail"] and spot_vms(w) == []


def test_with_only_low_scores_the_return_names_the_best_candidate_and_min_placement_low_still_returns() -> None:
    w = world()
    for key in list(w.market.scores):
        w.market.scores[key] = "Low"
    out, _, _ = drive(w)  # the return has its own gate on the score (min_placement): Low ones are ranked, not hidden
    assert (out["outcome"], out["reason"]) == ("kept", "no_good_candidate") and spot_vms(w) == []
    assert "has placement Low, below High" in out["detail"], out["detail"]
    low = world(revert={**REVERT, "min_placement": "Low"})
    for key in list(low.market.scores):
        low.market.scores[key] = "Low"
    out, _, _ = drive(low)
    assert (out["outcome"], out["reason"]) == ("returned", "returned_to_spot"), out
    assert len(spot_vms(low)) == 1


def test_a_candidate_that_stops_ranking_well_before_after_minutes_keeps_the_fallback() -> None:
    w = world()
    timeline = Timeline(w)
    real_tick = timeline.tick

    def tick(now: datetime) -> None:
        real_tick(now)
        if now >= T0 + timedelta(minutes=4):
            w.market.scores.update(dict.fromkeys(w.market.scores, "Low"))

    data = {"vm": FALLBACK.to_dict(), "member": fallback_member().to_dict()}
    d = Driver(lambda c: return_to_spot(c, EntityId), data, return_id(FALLBACK), T0, w.activity, on_tick=tick)
    d.entities = entities()
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("kept", "no_good_candidate"), out
    assert "good since" in out["detail"] and spot_vms(w) == []


def test_without_desired_members_beside_it_the_fallback_stays_and_the_spot_vm_stays_a_member() -> None:
    w = world(desired=2, others=0)
    out, d, timeline = drive(w)
    assert (out["outcome"], out["reason"]) == ("kept", "fallback_kept"), out
    assert "(last: below_desired)" in out["detail"]
    assert [n for n, _ in d.calls].count("delete_fallback") <= 16  # asked every minute for 15 minutes
    assert FALLBACK.id in w.compute.vms and len(spot_vms(w)) == 1
    assert timeline.deletes == []


def test_the_keep_regular_floor_is_never_crossed_the_spot_vm_goes_instead() -> None:
    w = world(fallback={"mode": "keep_regular", "keep": 1})
    out, _, timeline = drive(w)
    assert (out["outcome"], out["reason"]) == ("kept", "fallback_kept"), out
    assert FALLBACK.id in w.compute.vms and spot_vms(w) == []  # the Spot VM was deleted, the fallback kept
    assert [name for name, _ in timeline.deletes] != [FALLBACK.name]


def test_a_full_fleet_creates_nothing() -> None:
    w = world(desired=1, others=1)  # two live members for a desired one: a swap is in flight already
    out, _, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("ignored", "fleet_full"), out
    assert spot_vms(w) == []


def test_a_replayed_create_never_puts_twice() -> None:
    w = world()
    out, _, _ = drive(w)
    assert out["outcome"] == "returned"
    assert w.compute.count("create") == 1 and w.compute.count("delete") == 1


def test_a_long_after_minutes_continues_as_new_and_keeps_good_since_and_the_spot_vms_name() -> None:
    w = world(revert={**REVERT, "after_minutes": 240})
    out, d, timeline = drive(w)
    assert (out["outcome"], out["reason"]) == ("returned", "returned_to_spot"), out
    assert len(d.executions) > 2 and max(e.history_events for e in d.executions) < 120
    good_since = datetime.fromisoformat(out["goodSince"])
    assert good_since - T0 < timedelta(seconds=10)  # from the first execution, carried on
    assert out["concludedAt"] >= iso(good_since + timedelta(minutes=240))
    assert len(spot_vms(w)) == 1 and w.compute.count("create") == 1
    assert min(timeline.counts) >= 2


def test_a_fallback_that_stops_being_respots_before_its_delete_is_kept_with_the_spot_vm() -> None:
    w = world()

    def untag(now: datetime) -> None:
        w.compute.tick(now)
        spot = [v for v in w.compute.created() if v.status == VmStatus.RUNNING]
        if spot and FALLBACK.id in w.compute.vms:
            w.compute.vms[FALLBACK.id].tags.pop(FALLBACK_TAG, None)  # a person claims it while the Spot VM warms up

    data = {"vm": FALLBACK.to_dict(), "member": fallback_member().to_dict()}
    d = Driver(lambda c: return_to_spot(c, EntityId), data, return_id(FALLBACK), T0, w.activity, on_tick=untag)
    d.entities = entities()
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("kept", "fallback_kept"), out
    assert "no longer a fallback" in out["detail"] and FALLBACK.id in w.compute.vms


def test_a_profile_without_revert_enabled_creates_nothing() -> None:
    w = world(revert={"enabled": False})
    out, d, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("ignored", "out_of_scope") and "revert.enabled" in out["detail"]
    assert [n for n, _ in d.calls] == ["recovery_policy", "fleet_profile"]
