"""respot's market adapter with the real SDKs against the emulator: SKUs, quota, prices, eviction rates, scores."""

from __future__ import annotations

import pytest

from localcloud.arm import ArmEmulator
from orchestrator.adapters.compute import ArmCompute
from orchestrator.adapters.market import ArmMarket
from orchestrator.settings import Settings
from tests.integration.helpers import control

pytestmark = pytest.mark.integration


def market(arm: ArmEmulator, ttl: float = 0, quota_ttl: float = 0, placement_ttl: float = 0) -> ArmMarket:
    settings = Settings(
        subscriptions=arm.subscription,
        arm_endpoint=arm.url,
        prices_endpoint=arm.url,
        credential="localcloud",
        market_ttl_seconds=ttl,
        quota_ttl_seconds=quota_ttl,
        placement_ttl_seconds=placement_ttl,
    )
    return ArmMarket(settings, ArmCompute(settings))


def test_skus_carry_spot_capability_zones_and_restrictions(arm: ArmEmulator) -> None:
    control(arm, "/scenario", {"restrictions": [{"region": "eastus", "zone": "2", "size": "Standard_D2s_v5"}]})
    skus = market(arm).skus(arm.subscription, "eastus")
    d2s = skus["standard_d2s_v5"]
    assert (d2s.vcpus, d2s.memory_gb, d2s.family) == (2, 8.0, "standardDSv5Family") and d2s.spot_capable
    assert d2s.zones == ("1", "2", "3") and d2s.restricted_zones == ("2",)
    assert not skus["standard_b2s"].spot_capable


def test_quota_is_what_is_left(arm: ArmEmulator) -> None:
    control(arm, "/quota", {"region": "westus2", "name": "lowPriorityCores", "limit": 6})
    assert market(arm).quota(arm.subscription, "westus2")["lowPriorityCores"] == 6


def test_a_waves_rankings_share_one_reading_of_skus_and_quota(arm: ArmEmulator) -> None:
    m = market(arm, ttl=3600, quota_ttl=30)
    first = (m.skus(arm.subscription, "eastus"), m.quota(arm.subscription, "eastus"))
    control(arm, "/requests", method="DELETE")
    for _ in range(5):
        assert (m.skus(arm.subscription, "eastus"), m.quota(arm.subscription, "eastus")) == first
    assert control(arm, "/requests")["counts"] == {}  # five more rankings, no read of the subscription's
    m.quota(arm.subscription, "westus2")  # another region: its own reading
    assert control(arm, "/requests")["counts"] == {"Usage_List 200": 1}
    uncached = market(arm)
    uncached.quota(arm.subscription, "eastus"), uncached.quota(arm.subscription, "eastus")
    assert control(arm, "/requests")["counts"]["Usage_List 200"] == 3  # with no lifetime, read every time


def test_spot_prices_come_from_the_retail_prices_api(arm: ArmEmulator) -> None:
    control(arm, "/price", {"region": "eastus", "size": "Standard_D2s_v5", "price": 0.0123})
    prices = market(arm).spot_prices("eastus")
    assert prices["standard_d2s_v5"] == 0.0123 and "standard_b2s" not in prices


def test_eviction_rates_from_resource_graph(arm: ArmEmulator) -> None:
    control(arm, "/scenario", {"evictionRates": [{"region": "eastus", "size": "Standard_D2s_v5", "rate": "10-15"}]})
    rates = market(arm).eviction_rates(arm.subscription, ["Standard_D2s_v5", "Standard_D4s_v5"], ["eastus"])
    assert rates[("standard_d2s_v5", "eastus")] == "10-15" and ("standard_d4s_v5", "eastus") in rates


def test_placement_scores_per_zone_and_stale_after_a_429(arm: ArmEmulator) -> None:
    m = market(arm)
    first = m.placement_scores(arm.subscription, ["Standard_D2s_v5"], ["eastus", "westus2"])
    assert not first.stale and first.scores["standard_d2s_v5/eastus/1"] in ("High", "Medium", "Low")
    control(arm, "/faults", {"error429": 1.0, "path": "placementScores"})
    again = m.placement_scores(arm.subscription, ["Standard_D2s_v5"], ["eastus", "westus2"])
    assert again.stale and again.scores == first.scores  # the last scores, marked stale: never a blocked recovery
    assert again.renewed_in is None


def test_placement_scores_are_kept_for_their_own_ttl_and_say_when_they_are_renewed(arm: ArmEmulator) -> None:
    m = market(arm, ttl=0, placement_ttl=900)
    first = m.placement_scores(arm.subscription, ["Standard_D2s_v5"], ["eastus"])
    control(arm, "/faults", {"error429": 1.0, "path": "placementScores"})  # a call now would be refused
    again = m.placement_scores(arm.subscription, ["Standard_D2s_v5"], ["eastus"])
    assert not again.stale and again.scores == first.scores  # from the cache: no call was made
    assert first.renewed_in is not None and again.renewed_in is not None
    assert 0 < again.renewed_in <= first.renewed_in <= 900  # counting down to the next call
