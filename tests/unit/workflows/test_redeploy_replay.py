"""The redeploy strategy replayed by azure-functions-durable, answered by the real activities over a fake Compute and
Market, with the real entity operations: the walk by error class, shared cool-downs, the fallback, the deadline."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.durable_functions import EntityId

from orchestrator.domain import memory, sweep
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.limiter import ARM_THROTTLED, LIMITER
from orchestrator.domain.models import Signal, Source, VmFacts, VmRef, VmStatus, iso
from orchestrator.domain.placement import PROBED, RENEWAL_SPREAD
from orchestrator.domain.schedule import unit
from orchestrator.domain.scope import vm_hash
from orchestrator.domain.template import FALLBACK_TAG, Member, replacement_name
from orchestrator.workflows import names
from orchestrator.workflows.observe import observe_vm
from orchestrator.workflows.recover import recover_vm
from orchestrator.workflows.redeploy import redeploy_vm
from orchestrator.workflows.restart import restart_vm
from tests.unit.fakes import SUB, T0, FakeMarket, World, vm_ref
from tests.unit.workflows.driver import Driver, Entities

VM = vm_ref("web-1")
RECOVERY = "respot-0123456789abcdef-0001"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"


def profile(**extra: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "desired": 3,
        "template": {
            "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
            "admin": {"username": "azureuser", "ssh_public_key": "ssh-ed25519 AAAAC3Nza test"},
        },
        "sizes": ["Standard_D2s_v5", "Standard_D4s_v5"],
        "placements": [
            {"region": "eastus", "zones": ["1", "2"], "subnet": SUBNET},
            {"region": "westus2", "zones": ["1"], "subnet": SUBNET},
            {"region": "northeurope", "subnet": SUBNET},
        ],
        "healthy_seconds": 60,
        **extra,
    }


def market() -> FakeMarket:
    m = FakeMarket()
    m.offer("eastus", "Standard_D2s_v5", price=0.020, zones=("1", "2"))
    m.offer("eastus", "Standard_D4s_v5", price=0.040, vcpus=4, zones=("1", "2"))
    m.offer("westus2", "Standard_D2s_v5", price=0.018, zones=("1",), score="Medium")
    m.offer("northeurope", "Standard_D2s_v5", price=0.025, zones=(), score="Low")
    return m


def world(**profile_extra: Any) -> World:
    w = World(market=market(), fleets=parse_fleets({"fleets": [profile(**profile_extra)]}))
    return w


def member(**extra: Any) -> Member:
    fields: dict[str, Any] = {
        "vm_id": VM.id,
        "name": VM.name,
        "fleet": "web",
        "size": "Standard_D2s_v5",
        "region": "eastus",
        "zone": "1",
        "tags": {"respot-fleet": "web", "app": "shop"},
        **extra,
    }
    return Member(**fields)


EVERY_OFFERING = (  # the evicted member's own offering is a candidate again once its cool-down ends
    "standard_d2s_v5/eastus/1",
    "standard_d2s_v5/eastus/2",
    "standard_d4s_v5/eastus/1",
    "standard_d4s_v5/eastus/2",
    "standard_d2s_v5/westus2/1",
    "standard_d2s_v5/northeurope/-",
)


def entities() -> Entities:
    return Entities(
        {
            memory.OFFERINGS: memory.offerings_op,
            memory.MEMBER: memory.member_op,
            memory.PLACEMENTS: memory.placements_op,
            sweep.ROSTER: sweep.roster_op,
        }
    )


def redeploy(context: Any) -> Any:
    return redeploy_vm(context, EntityId)


def drive(
    w: World, m: Member | None = None, *, shared: Entities | None = None, start: Any = T0, recovery: str = RECOVERY
) -> tuple[dict[str, Any], Driver]:
    data = {"vm": VM.to_dict(), "since": iso(start), "member": (m or member()).to_dict()}
    w.compute.now = start
    d = Driver(
        redeploy, data, f"{recovery}:redeploy", start, w.activity, on_tick=w.compute.tick, entities=shared or entities()
    )
    return d.run(), d


def creates(w: World) -> list[str]:
    """Each created VM's offering key, in order."""
    return [f"{v.size.lower()}/{v.location}/{v.zone or '-'}" for v in w.compute.created()]


def test_the_replacement_goes_to_the_best_candidate_and_the_output_says_old_to_new_and_why() -> None:
    w = world()
    shared = entities()
    out, d = drive(w, shared=shared)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
    assert creates(w) == ["standard_d2s_v5/eastus/2"]  # High, cheap, and not the evicted zone 1
    first = [name for moment, name in d.scheduled if moment == d.scheduled[0][0]]
    assert first == [names.RECOVERY_POLICY, names.FLEET_PROFILE]  # neither reads ARM: one hop for both
    new = out["replacement"]["new"]
    assert new["id"].endswith(replacement_name(VM.name, RECOVERY, 1)) and new["zone"] == "2"
    assert (new["priority"], new["price"], new["fallback"]) == ("Spot", 0.02, False)
    assert out["replacement"]["old"] == {
        "id": VM.id,
        "size": "Standard_D2s_v5",
        "region": "eastus",
        "zone": "1",
        "priority": "Spot",
    }
    ranking = out["ranking"]
    assert [(c["size"], c["zone"], c["regionCooling"]) for c in ranking["ranked"]][:2] == [
        ("Standard_D2s_v5", "2", 1),  # its zone 1 was just evicted: a point less for the rest of eastus
        ("Standard_D4s_v5", "1", 1),  # twice the price: half a point less
    ]
    assert ranking["choice"].startswith("standard_d2s_v5/eastus/2: first of")
    excluded = {(c["size"], c["region"], c["zone"]): c["excluded"] for c in ranking["excluded"]}
    assert excluded.pop(("Standard_D2s_v5", "eastus", "1")).startswith("cooling down until")  # the evicted one
    assert excluded.pop(("Standard_D2s_v5", "northeurope", None)).startswith("placement score Low: waiting")
    assert set(excluded.values()) == {"not offered in the region"}
    assert any(s and "ranking" in s for s in d.statuses)  # the operator sees the ranking while it runs
    body = w.compute.created()[0].body
    assert body["tags"]["app"] == "shop" and body["tags"]["respot:replaces"] == VM.name
    assert body["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"]
    new_ref = VmRef(SUB, "rg", replacement_name(VM.name, RECOVERY, 1))
    assert shared.state[(memory.MEMBER, vm_hash(new_ref))]["zone"] == "2"  # remembered for its own eviction


def test_the_warm_up_gate_holds_the_replacement_for_healthy_seconds_before_it_counts() -> None:
    w = world(healthy_seconds=300)
    out, d = drive(w)
    assert out["outcome"] == "recovered"
    created_at = next(t for t, _ in d.timers)
    assert out["concludedAt"] >= iso(created_at + timedelta(seconds=300))


def test_allocation_failed_cools_the_offering_for_everyone_and_the_next_candidate_is_used() -> None:
    w = world()
    w.compute.create_codes["standard_d2s_v5/eastus/2"] = "AllocationFailed"
    shared = entities()
    out, _ = drive(w, shared=shared)
    assert out["outcome"] == "recovered"
    assert [x["offering"] for x in out["walk"]] == ["standard_d2s_v5/eastus/2", "standard_d4s_v5/eastus/1"]
    assert [x["result"] for x in out["walk"]] == ["cool", "succeeded"]
    assert "standard_d2s_v5/eastus/2" in shared.state[(memory.OFFERINGS, memory.SHARED)]
    failed = f"{VM.id[: VM.id.rindex('/')]}/{replacement_name(VM.name, RECOVERY, 1)}"
    assert ("delete", failed) in w.compute.log
    assert "forgotten" in shared.state[(sweep.ROSTER, VM.subscription)][failed]  # respot's delete: not a missing member
    # minutes later another member's recovery reads the shared memory and never tries the cooled offering
    w2 = world()
    out2, _ = drive(
        w2,
        member(vm_id=vm_ref("web-2").id, name="web-2"),
        shared=shared,
        start=T0 + timedelta(minutes=5),
        recovery="respot-fedcba9876543210-0001",
    )
    assert out2["outcome"] == "recovered"
    assert "standard_d2s_v5/eastus/2" not in creates(w2)
    cooled = {c["excluded"] for c in out2["ranking"]["excluded"] if c["zone"] == "2" and c["region"] == "eastus"}
    assert any(c and c.startswith("cooling down until") for c in cooled)


def test_a_quota_error_skips_the_family_in_that_region_and_sku_not_available_the_size() -> None:
    w = world()
    quota = ArmFailure(Failure.QUOTA, "OperationNotAllowed", "exceeding approved standardDSv5Family Cores quota", 409)
    w.compute.fail_next("create", quota)
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    assert [x["result"] for x in out["walk"]] == ["skip_family", "succeeded"]
    assert creates(w) == ["standard_d2s_v5/westus2/1"]  # D4s_v5 in eastus is the same family: skipped too


def test_quota_zero_in_a_region_means_no_write_there() -> None:
    w = world()
    w.market.free["eastus"]["lowPriorityCores"] = 0
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    assert all("/eastus/" not in c for c in creates(w)) and len(creates(w)) == 1
    assert any(c["excluded"].startswith("no quota headroom: lowPriorityCores") for c in out["ranking"]["excluded"])


def test_no_quota_anywhere_fails_at_once_naming_the_quota_never_a_loop() -> None:
    w = world()
    for region in w.market.free:
        w.market.free[region]["lowPriorityCores"] = 0
    out, d = drive(w)
    assert (out["outcome"], out["reason"]) == ("failed", "quota")
    assert "lowPriorityCores" in out["detail"] and w.compute.created() == [] and d.timers == []


def test_a_configuration_error_fails_the_recovery_with_the_message() -> None:
    w = world()
    w.compute.fail_next("create", ArmFailure(Failure.CONFIG, "InvalidParameter", "imageReference is invalid", 400))
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("failed", "config")
    assert "imageReference is invalid" in out["detail"]


def test_throttled_creates_wait_their_retry_after_and_never_make_two_vms() -> None:
    w = world()
    w.compute.fail_next("create", ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 120))
    out, d = drive(w)
    assert out["outcome"] == "recovered" and len(w.compute.created()) == 1
    assert any((fire - made).total_seconds() >= 120 for made, fire in d.timers)


def test_a_create_whose_answer_was_lost_is_found_by_the_guard_read_not_sent_twice() -> None:
    w = world()
    w.compute.fail_next("create", ("applied", ArmFailure(Failure.NO_ANSWER, "ConnectionError", "dropped", 0)))
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    assert w.compute.count("create") == 1 and len(w.compute.created()) == 1


def test_an_eviction_during_warm_up_cools_that_offering_and_the_walk_goes_on() -> None:
    w = world()
    w.compute.evict_after["standard_d2s_v5/eastus/2"] = 20
    shared = entities()
    out, _ = drive(w, shared=shared)
    assert out["outcome"] == "recovered" and creates(w)[-1] != "standard_d2s_v5/eastus/2"
    assert out["walk"][0]["code"] == "EvictedDuringWarmUp" and len(out["walk"]) == 2
    assert shared.state[(memory.OFFERINGS, memory.SHARED)]["standard_d2s_v5/eastus/2"]["why"] == "evicted"


def test_when_spot_is_exhausted_a_regular_fallback_comes_after_the_profiles_minutes_marked_as_such() -> None:
    w = world(fallback={"mode": "after_minutes", "minutes": 10})
    w.compute.create_codes.update(dict.fromkeys(EVERY_OFFERING, "AllocationFailed"))
    out, _ = drive(w)  # the fake's create codes fail Spot creates only: Regular capacity is there
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced_regular")
    created = w.compute.created()[-1]
    assert created.priority == "Regular" and created.tags[FALLBACK_TAG] == "regular"
    assert out["replacement"]["new"]["fallback"] is True
    spot_lost = next(x["at"] for x in out["walk"] if x["result"] == "cool")
    assert out["walk"][-1]["at"] >= iso(_t(spot_lost) + timedelta(minutes=10))  # not before the profile's minutes


def test_with_no_fallback_and_no_capacity_it_waits_on_the_schedule_and_ranks_again_until_the_deadline() -> None:
    w = world()
    w.compute.create_codes.update(dict.fromkeys(EVERY_OFFERING, "ZonalAllocationFailed"))
    w2 = w.with_settings(retry_deadline_hours=2)
    out, d = drive(w2)
    assert (out["outcome"], out["reason"]) == ("gave_up", "deadline")
    waits = [(fire - made).total_seconds() for made, fire in d.timers]
    assert max(waits) >= 600  # backed off to minutes between rounds, never a tight loop
    assert len(w2.compute.created()) <= 5 * 12  # each round tries each offering once at most


def test_with_only_low_scores_nothing_is_created_until_a_renewed_score_is_better() -> None:
    w = world()
    w.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    better, renewed = "standard_d2s_v5/westus2/1", T0 + timedelta(minutes=5)
    w.market.renewed_in = (renewed - T0).total_seconds()

    def tick(now: datetime) -> None:  # the adapter's cache as the clock moves: renewed at 5 minutes, then 20
        w.compute.tick(now)
        if now >= renewed and w.market.scores[better] == "Low":
            w.market.scores[better] = "High"
        w.market.renewed_in = ((renewed if now < renewed else T0 + timedelta(minutes=20)) - now).total_seconds()

    data = {"vm": VM.to_dict(), "since": iso(T0), "member": member().to_dict()}
    w.compute.now = T0
    d = Driver(redeploy, data, f"{RECOVERY}:redeploy", T0, w.activity, on_tick=tick, entities=entities())
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced") and creates(w) == [better]
    # rounds at the schedule's 1 and 3 minutes find every score Low; the next is due when the scores are renewed
    # (5 minutes), not at the schedule's 7
    rounds = [fire for _, fire in d.timers][:3]
    assert rounds[0] < T0 + timedelta(minutes=2) < rounds[1] < T0 + timedelta(minutes=4)
    spread = RENEWAL_SPREAD * (1 + unit(f"{RECOVERY}:redeploy/renewal/3")) / 2  # this recovery's, for its 3rd wait
    assert spread > timedelta(seconds=5)  # (so the check below tells a spread round from one at the renewal)
    assert spread <= rounds[2] - renewed <= spread + timedelta(seconds=2)  # + the market read's second
    excluded = {c["excluded"] for c in out["ranking"]["excluded"]}
    assert any(e.startswith("placement score Low") for e in excluded)  # the ones still Low, shown waiting


def test_before_a_regular_fallback_is_paid_for_the_best_low_spot_offering_is_tried_once() -> None:
    w = world(fallback={"mode": "after_minutes", "minutes": 30})
    w.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced"), out  # the Spot probe held: no Regular VM
    [spot] = w.compute.created()
    assert spot.priority == "Spot" and T0 + timedelta(minutes=30) <= _t(out["walk"][0]["at"])
    dry = world(fallback={"mode": "after_minutes", "minutes": 30})
    dry.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    dry.compute.create_codes.update(dict.fromkeys(EVERY_OFFERING, "ZonalAllocationFailed"))
    out, _ = drive(dry)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced_regular")
    assert [(t["spot"], t["result"]) for t in out["walk"]] == [(True, "cool"), (False, "succeeded")]


def test_a_failed_probe_shows_the_other_low_ones_waiting_and_the_next_round_comes_at_the_renewal() -> None:
    w = world().with_settings(retry_deadline_hours=1.25)
    w.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    w.compute.create_codes.update(dict.fromkeys(EVERY_OFFERING, "ZonalAllocationFailed"))

    def tick(now: datetime) -> None:  # the adapter's cache renews the scores every 5 minutes
        w.compute.tick(now)
        w.market.renewed_in = 300 - (now - T0).total_seconds() % 300

    data = {"vm": VM.to_dict(), "since": iso(T0), "member": member().to_dict()}
    w.compute.now = T0
    d = Driver(redeploy, data, f"{RECOVERY}:redeploy", T0, w.activity, on_tick=tick, entities=entities())
    out = d.run()
    [probe] = out["walk"]  # one create in the hour and a quarter: the probe
    assert T0 + timedelta(hours=1) <= _t(probe["at"]) < T0 + timedelta(hours=1, minutes=5)
    shown = [s["ranking"] for s in d.statuses if isinstance(s, dict) and s.get("ranking")]
    assert any(c["excluded"] == PROBED for r in shown for c in r["excluded"])  # the others: shown, not hidden
    after = [fire for made, fire in d.timers if made >= _t(probe["at"])]
    # the next round is at the next renewal (the scores may be better), not at the probed one's 10-minute cool-down
    assert after and after[0] - _t(probe["at"]) < timedelta(minutes=5, seconds=31)


def test_a_drought_of_low_scores_still_probes_the_best_one_an_hour_after_the_start() -> None:
    w = world()
    w.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
    assert len(creates(w)) == 1  # one create: a probe of a Low one, never a walk down every Low one
    assert T0 + timedelta(hours=1) <= _t(out["walk"][0]["at"]) < T0 + timedelta(hours=1, minutes=20)
    dry = world()
    dry.market.scores = dict.fromkeys(EVERY_OFFERING, "Low")
    dry.compute.create_codes.update(dict.fromkeys(EVERY_OFFERING, "ZonalAllocationFailed"))
    out, _ = drive(dry.with_settings(retry_deadline_hours=3.5))
    tried = [_t(t["at"]) - T0 for t in out["walk"]]
    assert out["outcome"] == "gave_up" and len(tried) == 3  # one probe an hour, each on one Low offering
    assert [round(t.total_seconds() / 3600) for t in tried] == [1, 2, 3]


def _t(text: str) -> Any:
    from orchestrator.domain.models import parse_iso

    return parse_iso(text, "t")


def test_a_member_outside_every_profile_is_not_protected_with_how_to_enrol() -> None:
    w = world()
    out, _ = drive(w, member(tags={"app": "shop"}))
    assert (out["outcome"], out["reason"]) == ("not_protected", "no_fleet")
    assert "respot-fleet=<name>" in out["detail"] and w.compute.created() == []


def test_a_price_eviction_under_the_raise_policy_gets_the_ceiling_as_its_max_price() -> None:
    w = world(max_price=0.019, price_policy="raise", price_ceiling=0.03)
    out, _ = drive(w, member(max_price=0.015))  # eastus D2s_v5 costs 0.020 now: above the member's 0.015
    assert out["outcome"] == "recovered"
    assert w.compute.created()[0].max_price == 0.03


def test_a_price_cap_keeps_replacements_below_it() -> None:
    w = world(max_price=0.019)
    out, _ = drive(w)
    assert creates(w) == ["standard_d2s_v5/westus2/1"]  # the only offering at or below 0.019
    assert out["replacement"]["new"]["price"] == 0.018


def test_a_crafted_input_cannot_create_an_offering_the_profile_does_not_allow() -> None:
    w = world()
    payload = {
        "vm": VM.to_dict(),
        "member": member().to_dict(),
        "recovery": RECOVERY,
        "attempt": 1,
        "offering": "standard_m128s/eastus/1",
        "spot": True,
    }
    answer = w.activity("create_vm", payload, T0)
    assert answer["step"] == "out_of_scope" and "does not allow" in answer["reason"]
    assert w.compute.created() == []


def test_the_evicted_vm_still_there_means_nothing_is_created() -> None:
    w = world()
    w.compute.add(VM, status=VmStatus.RUNNING, eviction_policy="Delete", tags={"respot-fleet": "web"})
    out, _ = drive(w)
    assert out["outcome"] == "stopped" and w.compute.created() == []
    assert isinstance(w.compute.facts(VM), VmFacts)


def test_a_fleet_at_its_desired_count_gets_no_replacement() -> None:
    w = world(desired=1)
    w.compute.add(vm_ref("web-2"), status=VmStatus.RUNNING, eviction_policy="Delete", tags={"respot-fleet": "web"})
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("ignored", "fleet_full")
    assert "1 live members (desired 1)" in out["detail"] and w.compute.created() == []


def test_the_evicted_offering_cools_down_at_the_start_and_is_a_candidate_again_when_that_ends() -> None:
    w = world(sizes=["Standard_D2s_v5"], placements=[{"region": "eastus", "zones": ["1"], "subnet": SUBNET}])
    shared = entities()
    out, d = drive(w, shared=shared)  # a fleet of a single offering: the evicted VM's own
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
    assert creates(w) == ["standard_d2s_v5/eastus/1"]
    first = shared.log[0]
    assert first[:3] == (memory.OFFERINGS, memory.SHARED, "cool") and first[3]["why"] == "evicted"
    created_at = _t(out["walk"][0]["at"]) - timedelta(minutes=10)
    assert created_at >= T0 - timedelta(minutes=1)  # not before its 10-minute cool-down ended
    assert max(fire for _, fire in d.timers) <= T0 + timedelta(minutes=15)  # and not long after: the round was due


def test_a_replacement_that_holds_clears_its_offerings_failures_for_everyone() -> None:
    w = world()
    shared = entities()
    key = "standard_d2s_v5/eastus/2"
    shared.state[(memory.OFFERINGS, memory.SHARED)] = {
        key: {"until": iso(T0 - timedelta(minutes=1)), "why": "capacity", "by": "earlier", "strikes": 3}
    }
    out, _ = drive(w, shared=shared)
    assert out["outcome"] == "recovered" and creates(w) == [key]
    assert key not in shared.state[(memory.OFFERINGS, memory.SHARED)]  # the next failure there is a first again
    assert (memory.OFFERINGS, memory.SHARED, "held", {"key": key}) in shared.log


def test_repeated_failures_on_an_offering_cool_it_longer_each_time() -> None:
    w = world(sizes=["Standard_D2s_v5"], placements=[{"region": "eastus", "zones": ["1", "2"], "subnet": SUBNET}])
    w.compute.create_codes.update(
        dict.fromkeys(("standard_d2s_v5/eastus/1", "standard_d2s_v5/eastus/2"), "AllocationFailed")
    )
    shared = entities()
    out, _ = drive(w.with_settings(retry_deadline_hours=3), shared=shared)
    assert (out["outcome"], out["reason"]) == ("gave_up", "deadline")
    zone2 = [_t(x["at"]) for x in out["walk"] if x["offering"] == "standard_d2s_v5/eastus/2"]
    gaps = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(zone2)]
    assert gaps[:3] == sorted(gaps[:3]) and gaps[0] >= 10 and max(gaps) <= 60 + 15  # 10, 20, 40, then an hour
    assert shared.state[(memory.OFFERINGS, memory.SHARED)]["standard_d2s_v5/eastus/2"]["strikes"] >= 4


@pytest.mark.parametrize(
    ("code", "kind", "verdict", "second"),
    [
        ("SkuNotAvailable", Failure.CAPACITY, "skip_size", "standard_d4s_v5/eastus/1"),  # D2s_v5 out in eastus only
        ("OverconstrainedAllocationRequest", Failure.CAPACITY, "cool", "standard_d4s_v5/eastus/1"),
        ("ZonalAllocationFailed", Failure.CAPACITY, "cool", "standard_d4s_v5/eastus/1"),
        ("SpotPriceGreaterThanProvidedMaxPrice", Failure.PRICE, "skip_price", "standard_d4s_v5/eastus/1"),
    ],
)
def test_each_failure_class_moves_the_walk_as_the_table_says(
    code: str, kind: Failure, verdict: str, second: str
) -> None:
    w = world(strategy="cheapest_first")  # eastus D2s_v5 zone 2 first, then D4s_v5 in eastus (see market())
    w.market.prices["westus2"]["standard_d2s_v5"] = 0.5  # keep the cheap westus2 offering out of the way
    w.market.prices["northeurope"]["standard_d2s_v5"] = 0.5
    w.compute.fail_next("create", ArmFailure(kind, code, f"{code} (fake)", 409))
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    assert [(x["offering"], x["result"]) for x in out["walk"]] == [
        ("standard_d2s_v5/eastus/2", verdict),
        (second, "succeeded"),
    ]


def test_keep_regular_makes_a_replacement_regular_while_the_fleet_is_below_its_floor() -> None:
    w = world(fallback={"mode": "keep_regular", "keep": 1})
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced_regular")
    assert w.compute.created()[0].priority == "Regular"
    w2 = world(fallback={"mode": "keep_regular", "keep": 1})
    w2.compute.add(vm_ref("web-9"), status=VmStatus.RUNNING, priority="Regular", tags={"respot-fleet": "web"})
    out2, _ = drive(w2)
    assert (out2["outcome"], out2["reason"]) == ("recovered", "replaced")  # the floor is met: Spot


def test_a_vm_still_being_deleted_is_waited_for_then_replaced() -> None:
    w = world()
    w.compute.add(VM, status=VmStatus.DEALLOCATED, eviction_policy="Delete", tags={"respot-fleet": "web"})
    follow = w.compute.tick

    def tick(now: Any) -> None:
        if now >= T0 + timedelta(seconds=45):
            w.compute.vms.pop(VM.id, None)  # the platform finishes the Delete-policy eviction
        follow(now)

    w.compute.tick = tick  # type: ignore[method-assign]
    out, _ = drive(w)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
    assert len(w.compute.created()) == 1


def test_an_earlier_failed_attempt_still_being_deleted_is_not_a_live_member() -> None:
    from orchestrator.activities import fleet

    w = world(desired=1)
    failed = VmRef(SUB, "rg", replacement_name(VM.name, RECOVERY, 1))
    w.compute.add(failed, status=VmStatus.FAILED, tags={"respot-fleet": "web"})  # its discard not done yet
    payload = {"vm": VM.to_dict(), "member": member().to_dict(), "recovery": RECOVERY}
    second = {**payload, "offering": "standard_d2s_v5/eastus/2", "attempt": 2, "spot": True}
    out = fleet.create_vm(second, w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    assert out["step"] == "accepted", out
    w.compute.add(vm_ref("web-9"), status=VmStatus.RUNNING, tags={"respot-fleet": "web"})  # a real member
    third = {**payload, "offering": "standard_d2s_v5/westus2/1", "attempt": 3, "spot": True}
    out = fleet.create_vm(third, w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    assert (out["step"], out["reason"]) == ("skipped", "fleet_full"), out


def test_a_members_recovery_tells_the_limiter_before_its_first_look_and_its_create_takes_the_first_lane() -> None:
    w = world().with_settings(log_workspace_id="ws")
    w.activity_log.evictions[VM.id] = T0  # gone, and the Activity Log says an eviction deleted it
    shared = entities()
    shared.state[(memory.MEMBER, vm_hash(VM))] = member().to_dict()
    children = {
        names.OBSERVE_VM: lambda c: observe_vm(c, EntityId),
        names.RESTART_VM: restart_vm,
        names.REDEPLOY_VM: redeploy,
    }
    data = {"signal": Signal(VM, Source.EVENT_GRID, "e1", T0).to_dict(), "seq": 1, "previous": None}
    d = Driver(
        lambda c: recover_vm(c, EntityId),
        data,
        recovery_id(VM, 1),
        T0,
        w.activity,
        children,
        on_tick=w.compute.tick,
        entities=shared,
    )
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
    ops = [(op, p) for name, _, op, p in shared.log if name == LIMITER]
    said = next(i for i, (op, _) in enumerate(ops) if op == "expect")
    assert said == 0  # before its first read: a wave's restarts, whose way to their write is shorter, queue later
    assert [op for op, _ in ops].count("expect") == 1
    create = next(i for i, (op, p) in enumerate(ops) if op == "take" and p.get("lane") == "first")
    assert said < create and ops[create][1]["cost"] == {"writes": 1, "compute.put": 1}
    assert [p.get("lane") for op, p in ops if op == "take" and p["cost"].get("writes")] == ["first"]


def test_a_long_throttling_storm_on_the_create_is_waited_out_at_its_retry_after_every_time() -> None:
    w = world()
    for _ in range(30):  # more 429s than one execution's ask budget takes: the create loop asks past it
        w.compute.fail_next("create", ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 120))
    sent: list[Any] = []
    begin_create = w.compute.begin_create

    def timed(vm: VmRef, body: dict[str, Any]) -> Any:
        sent.append(w.compute.now)
        return begin_create(vm, body)

    w.compute.begin_create = timed  # type: ignore[method-assign]
    out, _ = drive(w)
    assert out["outcome"] == "recovered" and len(w.compute.created()) == 1
    assert len(sent) == 31
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 120, gaps  # never earlier than ARM asked


def test_a_create_answered_429_is_expected_again_so_its_next_take_keeps_the_first_lane_ahead_of_the_starts() -> None:
    w = world()
    w.compute.fail_next("create", ArmFailure(Failure.THROTTLED, ARM_THROTTLED, "throttled", 429, 5))
    shared = entities()
    out, _ = drive(w, shared=shared)
    assert out["outcome"] == "recovered" and len(w.compute.created()) == 1
    ops = [(op, p) for name, _, op, p in shared.log if name == LIMITER]
    throttled = next(i for i, (op, _) in enumerate(ops) if op == "throttled")
    again = next(i for i, (op, p) in enumerate(ops) if op == "take" and p.get("lane") == "first" and i > throttled)
    assert any(op == "expect" for op, _ in ops[throttled:again])  # said before it asks for its next turn


def test_a_replacements_warm_up_read_throttled_past_its_budget_waits_its_retry_after_every_time() -> None:
    w = world()
    for _ in range(60):  # more 429s than the warm-up's ask budget takes: the warm-up loop asks past it
        w.compute.fail_next("facts", ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 120))
    reads: list[Any] = []
    facts = w.compute.facts

    def timed(vm: VmRef) -> Any:
        reads.append(w.compute.now)
        return facts(vm)

    w.compute.facts = timed  # type: ignore[method-assign]
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(reads[-60:])]
    assert len(reads) >= 60 and min(gaps) >= 120, gaps  # never sooner than ARM asked


def test_a_failed_replacements_delete_that_arm_throttles_is_waited_out_and_sent_again() -> None:
    w = world()
    w.compute.create_codes["standard_d2s_v5/eastus/2"] = "ZonalAllocationFailed"  # the best candidate's create fails
    w.compute.fail_next("delete", ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 30))
    out, _ = drive(w)
    assert out["outcome"] == "recovered"
    assert w.compute.count("delete") == 2  # refused once, then sent again after its Retry-After
    left = [v for v in w.compute.vms.values() if v.tags.get("respot:recovery")]
    assert len(left) == 1  # the failed one is gone: only the replacement that runs
