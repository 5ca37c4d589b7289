"""The suite's own reporting: counts add up per property, and scales are named."""

from __future__ import annotations

import pytest

from tests.soak.conftest import SoakReport, scale

pytestmark = pytest.mark.soak


def test_a_property_reported_twice_adds_its_counts() -> None:
    report = SoakReport()
    report.add("storms", evictions=50, starts=50, note="a")
    report.add("storms", evictions=50, starts=49, note="b")
    assert report.render() == ["storms: evictions=100, starts=99, note=b"]


def test_scale_picks_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPOT_SOAK_SCALE", "ci")
    assert scale(full=100, ci=10) == 10
    monkeypatch.setenv("RESPOT_SOAK_SCALE", "nope")
    with pytest.raises(pytest.UsageError, match="nope"):
        scale(full=100, ci=10)
