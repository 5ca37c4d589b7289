"""Ranking: hard limits with their reasons, scores, strategies, ties, cool-downs (growing per offering, shared through
the offerings entity), the region term, price as a tie-breaker, stale placement scores, the next round's time."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.domain import memory
from orchestrator.domain.fleet import Profile, parse_fleets
from orchestrator.domain.models import iso
from orchestrator.domain.placement import (
    LOW_EXCLUDED,
    PROBED,
    RENEWAL_SPREAD,
    Market,
    Sku,
    after_renewal,
    candidates,
    cool_until,
    cooling_ends,
    low_probe_due,
    market_from_dict,
    market_to_dict,
    one_probe,
    rank,
    renewal,
    round_ends,
    waiting_for_score,
    why_chosen,
)
from orchestrator.domain.schedule import Backoff
from tests.unit.domain.test_fleet import SUBNET, profile

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
D2S = Sku("Standard_D2s_v5", 2, 8, "standardDSv5Family", zones=("1", "2", "3"))
D2AS = Sku("Standard_D2as_v5", 2, 8, "standardDASv5Family", zones=("1", "2", "3"))


def fleet(**overrides: Any) -> Profile:
    placements = [
        {"region": "eastus", "zones": ["1", "2"], "subnet": SUBNET},
        {"region": "westus2", "zones": ["1"], "subnet": SUBNET},
    ]
    return parse_fleets({"fleets": [profile(placements=placements, **overrides)]}).fleets[0]


def market(**overrides: Any) -> Market:
    base: dict[str, Any] = {
        "skus": {(r, s.name.lower()): s for r in ("eastus", "westus2") for s in (D2S, D2AS)},
        "spot_prices": {
            ("standard_d2s_v5", "eastus"): 0.020,
            ("standard_d2as_v5", "eastus"): 0.017,
            ("standard_d2s_v5", "westus2"): 0.021,
            ("standard_d2as_v5", "westus2"): 0.018,
        },
        "eviction_rates": {
            ("standard_d2s_v5", "eastus"): "0-5",
            ("standard_d2as_v5", "eastus"): "20+",
            ("standard_d2s_v5", "westus2"): "5-10",
            ("standard_d2as_v5", "westus2"): "0-5",
        },
        "placement": {},
        "quota": {"eastus": {"lowPriorityCores": 100}, "westus2": {"lowPriorityCores": 100}},
    }
    return Market(**{**base, **overrides})


def keys(ranked: list[Any]) -> list[str]:
    return [c.offering.key for c in ranked]


def test_candidates_are_sizes_times_regions_times_zones_the_profile_allows() -> None:
    found = candidates(fleet(), market(), now=NOW)
    assert sorted(c.offering.key for c in found) == sorted(
        f"{s}/{r}/{z}"
        for s in ("standard_d2as_v5", "standard_d2s_v5")
        for r, zones in (("eastus", "12"), ("westus2", "1"))
        for z in zones
    )


def test_ranked_prefers_a_long_lived_placement_over_the_cheapest_contended_size() -> None:
    ranked = rank(candidates(fleet(), market(), now=NOW), strategy="ranked", home_region="eastus")
    assert ranked[0].offering.key == "standard_d2as_v5/westus2/1"  # cheap enough and 0-5 %
    assert keys(ranked)[-2:] == ["standard_d2as_v5/eastus/1", "standard_d2as_v5/eastus/2"]  # the cheapest, but 20+ %
    cheapest = rank(candidates(fleet(), market(), now=NOW), strategy="cheapest_first", home_region="eastus")
    assert cheapest[0].offering.region == "eastus" and cheapest[0].offering.size == "Standard_D2as_v5"
    home = rank(candidates(fleet(), market(), now=NOW), strategy="same_region_first", home_region="eastus")
    assert {c.offering.region for c in home[:4]} == {"eastus"} and home[0].offering.size == "Standard_D2s_v5"


def test_placement_scores_lift_a_candidate_and_a_fresh_low_one_waits_unless_stale() -> None:
    scores = {"standard_d2s_v5/eastus/2": "High", "standard_d2as_v5/westus2/1": "Low"}
    found = candidates(fleet(), market(placement=scores), now=NOW)
    ranked = rank(found, strategy="ranked", home_region=None)
    assert ranked[0].offering.key == "standard_d2s_v5/eastus/2"
    low = next(c for c in found if c.offering.key == "standard_d2as_v5/westus2/1")
    assert low.excluded == LOW_EXCLUDED and waiting_for_score(found)  # a fresh Low score predicts a failed create
    stale_market = market(placement=scores, placement_stale=True)
    stale = rank(candidates(fleet(), stale_market, now=NOW), strategy="ranked", home_region=None, stale=True)
    assert stale[0].offering.key == "standard_d2as_v5/westus2/1"  # stale scores count as unknown, for all alike


def test_a_low_score_says_when_the_scores_are_renewed_and_an_hour_without_a_create_lets_one_probe() -> None:
    scores = {f"standard_d2s_v5/eastus/{z}": "Low" for z in "12"} | {"standard_d2as_v5/westus2/1": "Low"}
    renewed = NOW + timedelta(minutes=12)
    m = market(placement=scores, placement_until=renewed)
    waiting = {c.offering.key: c.excluded for c in candidates(fleet(), m, now=NOW) if c.excluded}
    assert set(waiting) == set(scores) and set(waiting.values()) == {f"{LOW_EXCLUDED} (scores renewed at 12:12)"}
    assert not low_probe_due(NOW - timedelta(minutes=59), NOW) and low_probe_due(NOW - timedelta(hours=1), NOW)
    found = candidates(fleet(), m, now=NOW, probe_low=True)
    probing = rank(found, strategy="ranked", home_region=None)
    assert len(probing) == 6  # every offering is a candidate again ...
    walk, marked = one_probe(probing, found, m)
    lows = [c.offering.key for c in walk if c.placement_score == "Low"]
    assert lows == ["standard_d2as_v5/westus2/1"]  # ... but the probe tries only the best Low one (0-5 %, cheap)
    assert keys(walk) == [k for k in keys(probing) if k not in scores or k in lows]  # the rest keep their order
    waiting = {c.offering.key: c.excluded for c in marked if c.excluded}
    assert waiting == {k: PROBED for k in scores if k not in lows}  # the others are shown waiting, not dropped
    assert waiting_for_score(marked)  # so the next round is due when the scores are renewed
    assert one_probe(probing, found, replace(m, placement_stale=True)) == (probing, found)  # stale: no probe
    assert not [c for c in candidates(fleet(), m, now=NOW, spot=False) if c.excluded]  # a Regular VM: no Spot score


def test_a_score_that_is_not_low_or_not_fresh_keeps_its_candidate() -> None:
    scores = {"standard_d2s_v5/eastus/1": "DataNotFoundOrStale", "standard_d2s_v5/eastus/2": "Medium"}
    assert not [c for c in candidates(fleet(), market(placement=scores), now=NOW) if c.excluded]
    low = {"standard_d2s_v5/eastus/1": "Low"}
    assert not [c for c in candidates(fleet(), market(placement=low, placement_stale=True), now=NOW) if c.excluded]


def test_rounds_waiting_for_renewed_scores_spread_over_the_half_minute_after_the_renewal() -> None:
    m = renewal(market(placement_renewed_in=600.0), NOW)
    due = [after_renewal(m, f"respot-{n}", 1) for n in range(200)]
    renewed = NOW + timedelta(minutes=10)
    assert all(d is not None and renewed <= d < renewed + RENEWAL_SPREAD for d in due)
    assert len(set(due)) > 150 and after_renewal(market(), "respot-1", 1) is None  # spread; no renewal known: none
    assert after_renewal(m, "respot-1", 1) == after_renewal(m, "respot-1", 1)  # deterministic (replayed)


def test_a_round_waiting_for_its_score_is_due_at_the_renewal_only_while_that_is_ahead() -> None:
    cooled = {"standard_d2s_v5/eastus/1": NOW + timedelta(minutes=20)}
    m = renewal(market(placement_renewed_in=300.0, cooled=cooled), NOW)
    at = {"since": NOW, "key": "respot-1", "rounds": 1}
    ends = round_ends(fleet(), m, NOW, waiting=True, **at)
    assert ends == [after_renewal(m, "respot-1", 1), NOW + timedelta(minutes=20)]  # the renewal first, then the cool
    assert round_ends(fleet(), m, NOW, waiting=False, **at) == [NOW + timedelta(minutes=20)]  # nobody waits for it
    late = NOW + timedelta(minutes=6)  # the renewal has passed (another clock, a long walk): it is no news
    assert round_ends(fleet(), m, late, waiting=True, **at) == [NOW + timedelta(minutes=20)]


def test_the_placement_scores_renewal_travels_as_seconds_and_lands_on_the_readers_clock() -> None:
    m = market(placement={"standard_d2s_v5/eastus/1": "High"}, placement_renewed_in=600.0)
    read = market_from_dict(json.loads(json.dumps(market_to_dict(m))))
    assert read.placement_renewed_in == 600.0 and read.placement_until is None  # the activity knows no clock of ours
    assert renewal(read, NOW).placement_until == NOW + timedelta(minutes=10)
    assert renewal(market_from_dict(market_to_dict(market())), NOW).placement_until is None


def test_ties_go_to_the_cheaper_then_the_name() -> None:
    flat = market(eviction_rates={}, spot_prices={})
    ranked = rank(candidates(fleet(), flat, now=NOW), strategy="ranked", home_region=None)
    assert keys(ranked) == sorted(keys(ranked))  # all equal: the stable order
    assert keys(ranked) == keys(rank(candidates(fleet(), flat, now=NOW), strategy="ranked", home_region=None))


def test_hard_limits_exclude_with_a_reason() -> None:
    restricted = Sku("Standard_D2s_v5", 2, 8, "standardDSv5Family", zones=("1", "2", "3"), restricted_zones=("2",))
    found = {
        c.offering.key: c.excluded
        for c in candidates(
            fleet(max_price=0.0195),
            market(
                skus={**market().skus, ("eastus", "standard_d2s_v5"): restricted},
                quota={"eastus": {"lowPriorityCores": 100}, "westus2": {"lowPriorityCores": 1}},
                cooled={"standard_d2as_v5/eastus/1": NOW + timedelta(minutes=5)},
            ),
            now=NOW,
        )
    }
    assert "restricted in zone 2" in found["standard_d2s_v5/eastus/2"]
    assert "no quota headroom: lowPriorityCores" in found["standard_d2as_v5/westus2/1"]
    assert "above the cap" in found["standard_d2s_v5/eastus/1"]
    assert "cooling down" in found["standard_d2as_v5/eastus/1"]
    assert found["standard_d2as_v5/eastus/2"] == ""  # no offering is excluded for being the evicted VM's own


def test_quota_zero_everywhere_leaves_nothing_to_rank() -> None:
    zero = market(quota={"eastus": {"lowPriorityCores": 0}, "westus2": {"lowPriorityCores": 0}})
    assert rank(candidates(fleet(), zero, now=NOW), strategy="ranked", home_region=None) == []


def test_a_regular_fallback_needs_family_and_regional_cores_not_spot_quota() -> None:
    quota = {"eastus": {"lowPriorityCores": 0, "standardDSv5Family": 4, "cores": 4}, "westus2": {"cores": 0}}
    found = candidates(fleet(), market(quota=quota), now=NOW, spot=False)
    usable = {c.offering.key for c in found if not c.excluded}
    assert "standard_d2s_v5/eastus/1" in usable and not any(k.endswith("westus2/1") for k in usable)


def test_constraints_filter_sizes_when_none_are_listed() -> None:
    big = Sku("Standard_D4s_v5", 4, 16, "standardDSv5Family", zones=("1",))
    arm = Sku("Standard_D2ps_v5", 2, 8, "standardDPSv5Family", architecture="Arm64", zones=("1",))
    skus = {("eastus", s.name.lower()): s for s in (D2S, big, arm)}
    profile_ = fleet(sizes=[], constraints={"min_vcpus": 4})
    usable = [c.offering.size for c in candidates(profile_, market(skus=skus), now=NOW) if not c.excluded]
    assert set(usable) == {"Standard_D4s_v5"}


def test_a_cool_down_starts_at_ten_minutes_and_doubles_per_failure_in_a_row_up_to_an_hour() -> None:
    minutes = [(cool_until(NOW, "capacity", n) - NOW).total_seconds() / 60 for n in (1, 2, 3, 4, 5, 40)]
    assert minutes == [10, 20, 40, 60, 60, 60]
    assert cool_until(NOW, "evicted") == cool_until(NOW, "capacity")  # an eviction is one more failure there


def cool(state: object, key: str, at: datetime, why: str = "capacity") -> object:
    return memory.offerings_op(state, "cool", {"key": key, "at": iso(at), "why": why, "by": "r1"})[0]


def test_the_offerings_entity_counts_failures_in_a_row_and_forgets_them_when_a_replacement_holds() -> None:
    key = "standard_d2s_v5/eastus/1"
    state = cool(None, key, NOW)
    state = cool(state, key, NOW + timedelta(minutes=12))  # its first cool-down ended 2 minutes ago: in a row
    assert state[key]["strikes"] == 2 and state[key]["until"] == iso(NOW + timedelta(minutes=32))
    state = cool(state, key, NOW + timedelta(minutes=34), "evicted")  # evictions count too
    assert state[key]["strikes"] == 3 and state[key]["until"] == iso(NOW + timedelta(minutes=74))
    state, live = memory.offerings_op(state, "get", {"now": iso(NOW + timedelta(minutes=80))})
    assert live[key]["strikes"] == 3  # over, yet remembered for an hour: the next failure is the fourth
    assert memory.cooled_until(live)[key] < NOW + timedelta(minutes=80)  # ... and it cools nothing
    state, _ = memory.offerings_op(state, "held", {"key": key})
    assert key not in state and cool(state, key, NOW + timedelta(minutes=90))[key]["strikes"] == 1


def test_a_failure_long_after_the_last_cool_down_is_a_first_strike_again() -> None:
    key = "standard_d2s_v5/eastus/1"
    state = cool(cool(None, key, NOW), key, NOW + timedelta(minutes=12))
    later = cool(state, key, NOW + timedelta(minutes=32 + 61))
    assert later[key]["strikes"] == 1 and later[key]["until"] == iso(NOW + timedelta(minutes=103))
    state, live = memory.offerings_op(state, "get", {"now": iso(NOW + timedelta(minutes=32 + 61))})
    assert state == {} and live == {}  # past the hour it is remembered: dropped


def test_the_entity_keeps_the_later_end_and_an_explicit_until_still_works() -> None:
    key = "standard_d2s_v5/eastus/1"
    long = memory.offerings_op(None, "cool", {"key": key, "until": iso(NOW + timedelta(hours=2)), "why": "x"})[0]
    assert cool(long, key, NOW)[key]["until"] == iso(NOW + timedelta(hours=2))  # a strike more, the later end kept
    assert memory.cooling(None, why="capacity", by="r", at=NOW) == cool(None, key, NOW)[key] | {"by": "r"}


def test_a_dear_size_that_is_there_beats_a_cheap_one_that_is_not() -> None:
    big = Sku("Standard_ND40rs_v2", 40, 672, "standardNDSv2Family", zones=("1", "2", "3"))
    skus = {**market().skus, ("eastus", "standard_nd40rs_v2"): big}
    prices = {**market().spot_prices, ("standard_nd40rs_v2", "eastus"): 0.017 * 49}
    scores = {"standard_nd40rs_v2/eastus/1": "High", "standard_d2as_v5/eastus/1": "Low"}
    m = market(skus=skus, spot_prices=prices, placement=scores, eviction_rates={})
    ranked = rank(
        candidates(fleet(sizes=["Standard_ND40rs_v2", "Standard_D2as_v5"]), m, now=NOW),
        strategy="ranked",
        home_region=None,
    )
    assert ranked[0].offering.key == "standard_nd40rs_v2/eastus/1"  # 49x the price costs 2.8 points, High gives 4
    assert ranked[0].score == pytest.approx(2 * 3 - 1.5 * 2 - 0.5 * math.log2(49))


def test_offerings_of_a_region_where_others_are_cooling_down_rank_lower_and_say_why() -> None:
    cooled = {"standard_d2s_v5/eastus/1": NOW + timedelta(minutes=10)}
    flat = market(eviction_rates={}, spot_prices={}, cooled=cooled)
    found = {c.offering.key: c for c in candidates(fleet(), flat, now=NOW)}
    assert (
        found["standard_d2s_v5/eastus/2"].region_cooling == 1 and found["standard_d2s_v5/westus2/1"].region_cooling == 0
    )
    assert found["standard_d2s_v5/eastus/1"].region_cooling == 0  # the cooling one counts the others only
    ranked = rank(found.values(), strategy="ranked", home_region="eastus")
    assert [c.offering.region for c in ranked][:2] == ["westus2", "westus2"]  # equal otherwise: 1 point less in eastus
    assert ranked[-1].explain()["regionCooling"] == 1
    assert "1 other offering(s) of eastus cooling down" in why_chosen(ranked[-1], ranked, "ranked")
    capped = market(
        eviction_rates={},
        spot_prices={},
        cooled={k: NOW + timedelta(hours=1) for k in found if "westus2" not in k and k != "standard_d2as_v5/eastus/1"},
    )
    [left] = [
        c
        for c in rank(candidates(fleet(), capped, now=NOW), strategy="ranked", home_region=None)
        if c.offering.region == "eastus"
    ]
    assert left.region_cooling == 3 and left.score == pytest.approx(2 * 1.5 - 1.5 * 2 - 2)  # at most two counted


def test_the_next_round_is_due_when_the_first_cool_down_ends_if_that_is_sooner_than_the_schedule() -> None:
    soon, late = NOW + timedelta(minutes=3), NOW + timedelta(minutes=40)
    flat = market(cooled={"standard_d2s_v5/eastus/1": late, "standard_d2s_v5/eastus/2": soon, "other/eastus/1": NOW})
    ends = cooling_ends(fleet(), flat, NOW)
    assert ends == [soon, late]  # the fleet's own offerings only, and only those still cooling
    backoff = Backoff()
    assert backoff.next_round(NOW, 5, "k", NOW, ends) == soon  # the schedule says ~15 minutes
    assert backoff.next_round(NOW, 1, "k", NOW, ends) == backoff.next_try(NOW, 1, "k", NOW)  # ~1 minute: sooner
    assert backoff.next_round(NOW, 5, "k", NOW, [NOW]) == NOW + timedelta(seconds=15)  # never a tight loop
    assert backoff.next_round(NOW + timedelta(hours=24), 5, "k", NOW, ends) is None  # the deadline still holds


def test_every_candidate_explains_itself() -> None:
    [first, *_] = rank(candidates(fleet(), market(), now=NOW), strategy="ranked", home_region=None)
    explained = first.explain()
    assert set(explained) == {
        "size",
        "region",
        "zone",
        "price",
        "evictionRate",
        "placementScore",
        "score",
        "excluded",
        "regionCooling",
    }
    assert explained["excluded"] is None and isinstance(explained["score"], float)


def test_a_market_crosses_the_durable_boundary_unchanged() -> None:
    from orchestrator.domain.placement import market_from_dict, market_to_dict

    m = market(
        placement={"standard_d2s_v5/eastus/1": "High"}, cooled={"standard_d2s_v5/eastus/2": NOW}, placement_stale=True
    )
    assert market_from_dict(market_to_dict(m)) == m


def test_members_evicted_together_spread_over_equally_good_offerings() -> None:
    from orchestrator.domain.placement import Candidate, Offering, rank

    equal = [Candidate(Offering("Standard_D2s_v5", "eastus", z), 0.02, "0-5", "High") for z in ("1", "2", "3")]
    dear = Candidate(Offering("Standard_D4s_v5", "eastus", "1"), 0.04, "0-5", "High")
    firsts = {
        rank([*equal, dear], strategy="ranked", home_region=None, spread=f"web-{i}")[0].offering for i in range(12)
    }
    assert firsts == {c.offering for c in equal}  # never the dearer one; every equal zone gets some members
    again = [rank([*equal, dear], strategy="ranked", home_region=None, spread="web-1")[0] for _ in range(3)]
    assert len({c.offering for c in again}) == 1  # the same member, the same choice (replays identically)


def test_a_regional_candidate_in_a_zonal_region_takes_its_best_zones_score() -> None:
    from orchestrator.domain.placement import Offering, _placement_score

    market = Market(placement={"standard_d2s_v5/eastus/1": "Low", "standard_d2s_v5/eastus/2": "High"})
    assert _placement_score(market, Offering("Standard_D2s_v5", "eastus")) == "High"
    assert _placement_score(market, Offering("Standard_D2s_v5", "eastus", "1")) == "Low"
    assert _placement_score(market, Offering("Standard_D2s_v5", "westus2")) is None


def test_good_shares_are_equal_within_the_band_and_halve_per_point_below() -> None:
    from dataclasses import replace as with_

    from orchestrator.domain.placement import good_shares

    base = candidates(fleet(), market(), now=NOW)[0]
    ordered = [with_(base, score=s) for s in (6.0, 5.9, 5.0, 4.5, 4.9)]
    shares = [w for _, w in good_shares(ordered)]
    assert shares == [1.0, 1.0, 0.5]  # 4.5 and 4.9 are more than a point below: not good
