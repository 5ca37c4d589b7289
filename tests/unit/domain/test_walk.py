"""The redeploy walk: each failure class and what it rules out; the Regular fallback's timing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.domain.errors import Failure
from orchestrator.domain.placement import Candidate, Offering
from orchestrator.domain.walk import Verdict, Walk, fallback_due, verdict
from tests.unit.domain.test_placement import NOW, fleet


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [
        (Failure.QUOTA, "OperationNotAllowed", Verdict.SKIP_FAMILY),
        (Failure.CAPACITY, "SkuNotAvailable", Verdict.SKIP_SIZE),
        (Failure.CAPACITY, "ZonalAllocationFailed", Verdict.COOL),
        (Failure.CAPACITY, "OverconstrainedAllocationRequest", Verdict.COOL),
        (Failure.PRICE, "SpotPriceGreaterThanProvidedMaxPrice", Verdict.SKIP_PRICE),
        (Failure.CONFIG, "InvalidParameter", Verdict.FAIL),
        (Failure.THROTTLED, "TooManyRequests", Verdict.AGAIN),
        (Failure.TRANSIENT, "InternalServerError", Verdict.AGAIN),
    ],
)
def test_each_failure_class_has_one_reaction(kind: Failure, code: str, expected: Verdict) -> None:
    assert verdict(kind, code) == expected


def walk() -> Walk:
    ranked = [
        Candidate(Offering("Standard_D2s_v5", "eastus", "1")),
        Candidate(Offering("Standard_D2s_v5", "eastus", "2")),
        Candidate(Offering("Standard_D4s_v5", "eastus", "1")),
        Candidate(Offering("Standard_D2as_v5", "eastus", "1")),
        Candidate(Offering("Standard_D2s_v5", "westus2", "1")),
    ]
    families = {
        "standard_d2s_v5": "standardDSv5Family",
        "standard_d4s_v5": "standardDSv5Family",
        "standard_d2as_v5": "standardDASv5Family",
    }
    return Walk(ranked, families)


def test_capacity_cools_only_that_offering() -> None:
    w = walk()
    w.record(w.next().offering, Verdict.COOL)  # type: ignore[union-attr]
    assert w.next().offering.key == "standard_d2s_v5/eastus/2"  # type: ignore[union-attr]


def test_quota_skips_the_family_in_the_region_and_sku_not_available_the_size() -> None:
    w = walk()
    w.record(Offering("Standard_D2s_v5", "eastus", "1"), Verdict.SKIP_FAMILY)
    assert w.next().offering.key == "standard_d2as_v5/eastus/1"  # type: ignore[union-attr]
    w.record(Offering("Standard_D2as_v5", "eastus", "1"), Verdict.SKIP_SIZE)
    assert w.next().offering.key == "standard_d2s_v5/westus2/1"  # type: ignore[union-attr]
    w.record(Offering("Standard_D2s_v5", "westus2", "1"), Verdict.COOL)
    assert w.next() is None and len(w.tried) == 3


def test_the_regular_fallback_comes_when_the_profile_says() -> None:
    never = fleet()
    assert not fallback_due(never, spot_lost_at=NOW - timedelta(days=1), now=NOW, regular_members=0)
    after = fleet(fallback={"mode": "after_minutes", "minutes": 20})
    assert not fallback_due(after, spot_lost_at=NOW - timedelta(minutes=10), now=NOW, regular_members=0)
    assert fallback_due(after, spot_lost_at=NOW - timedelta(minutes=20), now=NOW, regular_members=0)
    keep = fleet(fallback={"mode": "keep_regular", "keep": 1})
    assert fallback_due(keep, spot_lost_at=NOW, now=NOW, regular_members=0)
    assert not fallback_due(keep, spot_lost_at=NOW, now=NOW, regular_members=1)
