"""Ranking: hard limits with their reasons, scores, strategies, ties, cool-down, stale placement scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.domain.fleet import Profile, parse_fleets
from orchestrator.domain.placement import Market, Offering, Sku, candidates, cool_until, rank
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


def test_placement_scores_lift_or_sink_a_candidate_unless_stale() -> None:
    scores = {"standard_d2s_v5/eastus/2": "High", "standard_d2as_v5/westus2/1": "Low"}
    ranked = rank(candidates(fleet(), market(placement=scores), now=NOW), strategy="ranked", home_region=None)
    assert ranked[0].offering.key == "standard_d2s_v5/eastus/2"
    stale = rank(
        candidates(fleet(), market(placement=scores), now=NOW), strategy="ranked", home_region=None, stale=True
    )
    assert stale[0].offering.key == "standard_d2as_v5/westus2/1"  # stale scores count as unknown, for all alike


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
            evicted=Offering("Standard_D2as_v5", "eastus", "2"),
        )
    }
    assert "restricted in zone 2" in found["standard_d2s_v5/eastus/2"]
    assert "no quota headroom: lowPriorityCores" in found["standard_d2as_v5/westus2/1"]
    assert "above the cap" in found["standard_d2s_v5/eastus/1"]
    assert "cooling down" in found["standard_d2as_v5/eastus/1"]
    assert found["standard_d2as_v5/eastus/2"] == "the evicted VM's own offering"


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


def test_cool_down_lasts_longer_after_an_eviction_than_after_a_failed_create() -> None:
    assert cool_until(NOW, "evicted") > cool_until(NOW, "capacity") > NOW


def test_every_candidate_explains_itself() -> None:
    [first, *_] = rank(candidates(fleet(), market(), now=NOW), strategy="ranked", home_region=None)
    explained = first.explain()
    assert set(explained) == {"size", "region", "zone", "price", "evictionRate", "placementScore", "score", "excluded"}
    assert explained["excluded"] is None and isinstance(explained["score"], float)


def test_a_market_crosses_the_durable_boundary_unchanged() -> None:
    from orchestrator.domain.placement import market_from_dict, market_to_dict

    m = market(
        placement={"standard_d2s_v5/eastus/1": "High"}, cooled={"standard_d2s_v5/eastus/2": NOW}, placement_stale=True
    )
    assert market_from_dict(market_to_dict(m)) == m
