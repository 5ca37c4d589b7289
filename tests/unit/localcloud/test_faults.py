"""Fault rules: scoped by path and method, limited to the first N matches, tried in order."""

from __future__ import annotations

import pytest

from localcloud.arm.errors import ArmError
from localcloud.arm.faults import Faults, rule_from_json


def test_a_counted_rule_takes_the_first_n_matching_requests_only() -> None:
    faults = Faults(seed=1)
    faults.configure(
        [rule_from_json({"error429": 1, "retryAfter": 1200, "path": "/start$", "method": "post", "count": 2})]
    )
    assert faults.decide("GET", "/vm/start") is None  # another method
    assert faults.decide("POST", "/vm") is None  # another path
    first, second = faults.decide("POST", "/vm/start"), faults.decide("POST", "/vm/start")
    assert isinstance(first, ArmError) and isinstance(second, ArmError)
    assert (first.status, first.headers["Retry-After"]) == (429, "1200")
    assert faults.decide("POST", "/vm/start") is None  # spent
    assert faults.injected == 2


def test_rules_are_tried_in_order_and_the_first_that_fires_answers() -> None:
    faults = Faults(seed=1)
    faults.configure([rule_from_json({"dropAfter": 1, "path": "/a"}), rule_from_json({"drop": 1})])
    assert faults.decide("PUT", "/a") == "dropAfter"
    assert faults.decide("PUT", "/b") == "drop"


@pytest.mark.parametrize(
    "spec",
    [{"error500": 1.5}, {"error429": 1, "retryAfter": 0}, {"error429": 1, "retryAfter": 2.5}, {"path": "("}, {"x": 1}],
)
def test_bad_rules_are_refused_with_a_400(spec: dict[str, object]) -> None:
    with pytest.raises(ArmError) as err:
        rule_from_json(spec)
    assert err.value.status == 400
