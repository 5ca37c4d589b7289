"""The mass-eviction benchmark's physical bound (a pure function) and its plan of the world."""

from __future__ import annotations

import itertools
import random

import pytest

from bench.mass import FLEET, Plan, bound_seconds


def brute_force(ready: list[float], provisioning: list[float], burst: int, refill: float) -> float:
    """Every order of the writes, each sent as early as its VM and a token allow: the best makespan."""
    best = float("inf")
    for order in itertools.permutations(range(len(ready))):
        tokens, last, now, end = float(burst), 0.0, 0.0, 0.0
        for i in order:
            now = max(now, ready[i])
            tokens = min(burst, tokens + (now - last) * refill)
            last = now
            if tokens < 1:
                now += (1 - tokens) / refill
                tokens, last = 1.0, now
            tokens -= 1
            end = max(end, now + provisioning[i])
        best = min(best, end)
    return best


def test_within_the_burst_the_bound_is_the_slowest_vm_after_its_alert() -> None:
    assert bound_seconds([0, 5, 10], [40, 25, 25], burst=200, refill=10) == 40
    assert bound_seconds([0, 5, 30], [40, 25, 25], burst=200, refill=10) == 55
    assert bound_seconds([], []) == 0


def test_beyond_the_burst_the_refill_paces_the_writes() -> None:
    # 1,000 VMs ready at once: the 1,000th write waits for 800 tokens at 10/s, then provisions.
    assert bound_seconds([0.0] * 1000, [25.0] * 1000) == pytest.approx(80 + 25)
    # The defaults are Azure's: 200 burst, 10/s (ARM's subscription write bucket).
    assert bound_seconds([0.0] * 210, [0.0] * 210) == pytest.approx(1.0)


def test_tokens_do_not_pile_up_beyond_the_burst() -> None:
    # VMs that become ready late find a full bucket, not 200 + 10/s x the wait.
    assert bound_seconds([100.0] * 400, [0.0] * 400, burst=200, refill=10) == pytest.approx(100 + 20)


def test_the_longest_provisioning_goes_first() -> None:
    # Two tokens at t=0, then one per second: the create (40 s) goes first, the starts (25 s) after (one at 1 s).
    assert bound_seconds([0, 0, 0], [25, 25, 40], burst=2, refill=1) == pytest.approx(40)
    # Thirty writes through that bucket: the last goes at 28 s, and the create among them need not be last.
    assert bound_seconds([0] * 30, [25] * 29 + [40], burst=2, refill=1) == pytest.approx(28 + 25)


def test_it_never_exceeds_the_best_order_and_is_it_with_one_provisioning_time() -> None:
    rng = random.Random(7)
    for _ in range(80):
        n = rng.randint(1, 6)
        ready = [float(rng.randint(0, 6)) for _ in range(n)]
        burst, refill = rng.randint(1, 3), rng.choice([0.5, 1.0, 2.0])
        mixed = [float(rng.choice([25, 40, 3])) for _ in range(n)]
        assert (
            bound_seconds(ready, mixed, burst=burst, refill=refill) <= brute_force(ready, mixed, burst, refill) + 1e-9
        )
        same = [25.0] * n
        assert bound_seconds(ready, same, burst=burst, refill=refill) == pytest.approx(
            brute_force(ready, same, burst, refill)
        ), (ready, burst, refill)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one provisioning"):
        bound_seconds([0], [])
    with pytest.raises(ValueError, match="bucket"):
        bound_seconds([0], [1], burst=0)


def test_the_plan_spreads_both_kinds_over_three_regions_and_the_members_over_other_pools() -> None:
    plan = Plan.of(1000)
    assert plan.vms == 1000 and plan.member_count == 500
    assert all(len(plan.restarts[r]) >= 166 and len(plan.members[r]) >= 166 for r in plan.regions)
    assert len(plan.regions) == 3
    [profile] = plan.fleets("11111111-2222-3333-4444-555555555555", "rg")["fleets"]
    assert profile["name"] == FLEET and profile["desired"] == 500
    pools = [c for c in plan.scenario()["capacity"] if c["size"] != "Standard_D2s_v5"]
    others = [c for c in pools if (c["size"], c["zone"]) != ("Standard_D4s_v5", "2")]
    assert all(c["available"] < plan.member_count for c in others)  # no one candidate takes the wave
    assert sum(c["available"] for c in others) >= 2 * plan.member_count  # together they hold it twice
    steps = plan.wave(0)
    assert max(s["at"] for s in steps if s["capacity"]["available"] == 0) <= 60  # recalled within a minute
    with pytest.raises(ValueError):
        Plan.of(5)
