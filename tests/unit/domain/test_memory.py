"""The entities' operations: cool-downs shared by every recovery, and what respot knew of a member."""

from __future__ import annotations

import pytest

from orchestrator.domain.memory import MAX_COOLED, cooled_until, member_op, offerings_op
from orchestrator.domain.models import InvalidInput, parse_iso
from orchestrator.domain.template import Member

KEY = "standard_d2s_v5/eastus/1"


def cool(state: object, until: str, key: str = KEY) -> object:
    return offerings_op(state, "cool", {"key": key, "until": until, "why": "capacity", "by": "r1"})[0]


def test_a_cool_down_keeps_the_later_time_and_expires() -> None:
    state = cool(None, "2026-01-01T10:30:00Z")
    state = cool(state, "2026-01-01T10:10:00Z")  # an earlier time never shortens it
    _, live = offerings_op(state, "get", {"now": "2026-01-01T10:20:00Z"})
    assert cooled_until(live) == {KEY: parse_iso("2026-01-01T10:30:00Z", "t")}
    state, live = offerings_op(state, "get", {"now": "2026-01-01T10:31:00Z"})
    assert cooled_until(live)[KEY] < parse_iso("2026-01-01T10:31:00Z", "t")  # over: remembered for its strikes
    state, live = offerings_op(state, "get", {"now": "2026-01-01T12:00:00Z"})
    assert live == {} and state == {}  # forgotten COOL_REMEMBER after it ended


def test_bad_operations_and_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        offerings_op(None, "cool", {"key": "not a key", "until": "2026-01-01T10:30:00Z"})
    with pytest.raises(InvalidInput):
        offerings_op(None, "wipe", {})
    with pytest.raises(InvalidInput):
        offerings_op(None, "get", {})


def test_the_cool_down_memory_is_bounded() -> None:
    state: object = None
    for i in range(MAX_COOLED + 10):
        state = cool(state, f"2026-01-01T10:{i % 60:02d}:00Z", key=f"standard_d{i}s_v5/eastus/1")
    assert isinstance(state, dict) and len(state) == MAX_COOLED


def test_a_member_is_remembered_and_read_back() -> None:
    m = Member(
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/a",
        "a",
        "web",
        "Standard_D2s_v5",
        "eastus",
    )
    state, _ = member_op(None, "remember", m.to_dict())
    assert member_op(state, "get", {})[1] == m.to_dict()
    assert member_op(None, "get", {})[1] is None
    with pytest.raises(InvalidInput):
        member_op(None, "remember", {"name": "a"})


def test_placements_spread_a_wave_over_equally_good_offerings() -> None:
    from orchestrator.domain.memory import placements_op

    keys = ["standard_d2s_v5/eastus/2", "standard_d2s_v5/eastus/3", "standard_d2s_v5/westus2/1"]
    state: object = None
    chosen = []
    for n in range(4):
        state, key = placements_op(state, "place", {"keys": keys, "by": f"r{n}", "at": "2026-01-01T10:00:00Z"})
        chosen.append(key)
    assert chosen[:3] == keys and chosen[3] == keys[0]  # one each, then the first again
    state, again = placements_op(state, "place", {"keys": keys, "by": "r0", "at": "2026-01-01T10:01:00Z"})
    assert again == keys[0]  # a recovery asking again is not counted against itself
    _, later = placements_op(state, "place", {"keys": keys[1:], "by": "r9", "at": "2026-01-01T11:00:00Z"})
    assert later == keys[1]  # the window passed: nothing recent


def test_a_wave_is_dealt_out_by_score_and_no_offering_takes_more_than_two_thirds() -> None:
    from collections import Counter

    from orchestrator.domain.memory import placements_op

    keys = ["standard_d2s_v5/eastus/1", "standard_d2s_v5/eastus/2", "standard_d4s_v5/westus2/1"]
    state: object = None
    got: Counter[str] = Counter()
    for n in range(100):  # the best, one a point below (half its share), one half a point below
        payload = {"keys": keys, "weights": [1.0, 0.5, 0.7071], "by": f"r{n}", "at": "2026-01-01T10:00:00Z"}
        state, key = placements_op(state, "place", payload)
        got[key] += 1
    assert got[keys[0]] == max(got.values()) and got[keys[1]] < got[keys[2]]  # in the order of the weights
    assert abs(got[keys[0]] / 100 - 1 / 2.2071) < 0.03 and got[keys[1]] >= 20  # ~45 %, 23 %, 32 %

    state, lopsided = None, Counter()
    for n in range(60):  # one offering far better than the other: capped at two thirds of the wave
        payload = {"keys": keys[:2], "weights": [1.0, 0.05], "by": f"r{n}", "at": "2026-01-01T10:00:00Z"}
        state, key = placements_op(state, "place", payload)
        lopsided[key] += 1
    assert lopsided[keys[0]] <= 41 and lopsided[keys[1]] >= 19


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.0], [1.0, 2.0], [1.0, "x"], "heavy"])
def test_place_refuses_weights_that_are_not_one_share_per_key(weights: object) -> None:
    from orchestrator.domain.memory import placements_op

    payload = {"keys": ["standard_d2s_v5/eastus/1", "standard_d2s_v5/eastus/2"], "weights": weights, "by": "r"}
    with pytest.raises(InvalidInput, match="weight"):
        placements_op(None, "place", {**payload, "at": "2026-01-01T10:00:00Z"})
