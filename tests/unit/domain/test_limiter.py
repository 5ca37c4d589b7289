"""The limiter's token buckets: reservations queue, ARM's readings and 429s win over the model."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.limiter import (
    DEFAULT_BUDGETS,
    DEFER,
    MAX_DEFERRALS,
    RESERVE,
    Bucket,
    limiter_op,
    wait_until,
)
from orchestrator.domain.models import InvalidInput, iso, parse_iso
from orchestrator.settings import parse_budgets

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WRITE = {"writes": 1}


def take(state: Any, at: datetime, cost: dict[str, int] | None = None, **extra: Any) -> tuple[Any, datetime]:
    state, answer = limiter_op(state, "take", {"cost": cost or WRITE, "at": iso(at), **extra}, reserve=0.0)
    return state, parse_iso(answer["at"], "at")


def test_a_full_bucket_lets_its_burst_go_at_once_then_paces_to_the_refill() -> None:
    state, goes = None, []
    for _ in range(220):
        state, go = take(state, T0)
        goes.append((go - T0).total_seconds())
    assert goes[:200] == [0.0] * 200  # ARM's burst of 200 writes
    assert goes[200:] == [float(-(-n // 10)) for n in range(1, 21)]  # then 10/s, rounded up to the second


def test_the_bucket_refills_while_nobody_asks() -> None:
    state = None
    for _ in range(200):
        state, _ = take(state, T0)
    state, go = take(state, T0 + timedelta(seconds=3))  # 30 tokens back
    assert go == T0 + timedelta(seconds=3)
    assert state["writes"][0] == pytest.approx(29)


def test_a_step_waits_for_the_slowest_of_its_buckets() -> None:
    budgets = {**DEFAULT_BUDGETS, "compute.put": Bucket(2, 1 / 60)}
    state: Any = None
    cost = {"writes": 1, "compute.put": 1}
    for _ in range(2):
        state, _ = limiter_op(state, "take", {"cost": cost, "at": iso(T0)}, budgets, reserve=0.0)
    state, answer = limiter_op(state, "take", {"cost": cost, "at": iso(T0)}, budgets, reserve=0.0)
    assert parse_iso(answer["at"], "at") == T0 + timedelta(seconds=60)


def test_arms_reading_lowers_the_model_and_never_raises_it() -> None:
    state, go = take(None, T0, seen={"writes": 0}, seen_at=iso(T0))  # another client spent the subscription's
    assert go == T0 + timedelta(seconds=1)
    state, _ = take(state, T0 + timedelta(seconds=60), seen={"writes": 199}, seen_at=iso(T0 + timedelta(seconds=60)))
    assert state["writes"][0] == pytest.approx(198)  # refilled to 200 by then; the reading of 199 lowers it by one
    state, _ = take(state, T0 + timedelta(seconds=60), seen={"writes": 250}, seen_at=iso(T0))
    assert state["writes"][0] == pytest.approx(197)  # a reading above the model changes nothing


def test_a_429_empties_the_bucket_for_everyone_until_its_retry_after() -> None:
    state, _ = limiter_op(None, "throttled", {"bucket": "writes", "retry_after": 30, "at": iso(T0)})
    _, go = take(state, T0 + timedelta(seconds=10))
    assert go == T0 + timedelta(seconds=31)  # 30.1 s: the Retry-After, and this step's own token
    _, read = take(state, T0, {"reads": 1})
    assert read == T0  # another bucket is not held up


@pytest.mark.parametrize(
    ("operation", "payload", "message"),
    [
        ("take", {"cost": {"writes": 1}}, "at must be"),
        ("take", {"cost": {}, "at": iso(T0)}, "cost must map"),
        ("take", {"cost": {"gets": 1}, "at": iso(T0)}, "no bucket 'gets'"),
        ("take", {"cost": {"writes": 100}, "at": iso(T0)}, "0 to 20 tokens"),
        ("take", {"cost": {"writes": True}, "at": iso(T0)}, "0 to 20 tokens"),
        ("throttled", {"retry_after": -1, "at": iso(T0)}, "retry_after"),
        ("forget", {"at": iso(T0)}, "no operation 'forget'"),
    ],
)
def test_bad_operations_are_refused_with_what_is_wrong(operation: str, payload: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        limiter_op(None, operation, payload)


def test_wait_until_is_none_when_the_answer_says_go_now() -> None:
    assert wait_until({"at": iso(T0)}, T0) is None
    assert wait_until({"at": iso(T0 + timedelta(seconds=2))}, T0) == T0 + timedelta(seconds=2)


@given(
    asks=st.lists(st.tuples(st.floats(0, 120), st.integers(1, 5)), min_size=1, max_size=80),
)
def test_what_goes_never_exceeds_the_burst_plus_the_refill(asks: list[tuple[float, int]]) -> None:
    """Over any window from T0, the tokens of the steps that went fit in the bucket: the pacing is sound."""
    state: Any = None
    went: list[tuple[float, int]] = []
    for offset, n in sorted(asks):
        state, go = take(state, T0 + timedelta(seconds=offset), {"writes": n})
        went.append(((go - T0).total_seconds(), n))
    for end, _ in went:
        spent = sum(n for t, n in went if t <= end)
        assert spent <= 200 + 10 * end + 1e-6


def test_settings_change_a_budget_and_name_a_bad_pair() -> None:
    budgets = parse_budgets("writes=100/5, reads=250/25")
    assert budgets["writes"] == Bucket(100, 5) and budgets["deletes"] == DEFAULT_BUDGETS["deletes"]
    with pytest.raises(ValueError, match="'puts=1/1': no bucket 'puts'"):
        parse_budgets("puts=1/1")
    with pytest.raises(ValueError, match="'writes=0/1'"):
        parse_budgets("writes=0/1")
    with pytest.raises(ValueError, match="'writes=fast'"):
        parse_budgets("writes=fast")


def test_each_step_costs_what_its_activity_sends() -> None:
    from orchestrator.workflows import names
    from orchestrator.workflows.pacing import cost_of, subscription_of

    vm = {"subscription": "SUB-1", "resource_group": "rg", "name": "a"}
    assert cost_of(names.TRY_START, {"vm": vm}) == {"reads": 1, "writes": 1, "compute.update": 1}
    uniform = {**vm, "scale_set": "pool", "instance_id": "3"}
    assert cost_of(names.TRY_START, {"vm": uniform})["reads"] == 2  # the set's model, then the instance's view
    assert cost_of(names.RECOVERY_POLICY, None) is None  # settings only: no ARM budget
    assert subscription_of({"vm": vm}) == "sub-1"
    url = "https://management.azure.com/subscriptions/sub-2/providers/Microsoft.Compute/locations/eastus/operations/x"
    assert subscription_of({"operation": {"url": url}}) == "sub-2"
    assert subscription_of({"operation": {"url": "https://elsewhere/x"}}) is None


def test_a_request_stamped_before_the_last_one_gets_no_refill_twice() -> None:
    state: Any = {"writes": [0.0, (T0 + timedelta(seconds=10)).timestamp()]}  # drained at t=10
    state, _ = take(state, T0)  # an older stamp arrives late: counted at t=10, not at t=0
    assert state["writes"] == [-1.0, (T0 + timedelta(seconds=10)).timestamp()]
    _, go = take(state, T0 + timedelta(seconds=10), {"writes": 10})
    assert go == T0 + timedelta(seconds=12)  # 11 tokens short at t=10: 1.1 s, rounded up to the second


def test_a_late_turn_asked_again_gives_its_first_tokens_back() -> None:
    state = None
    for _ in range(200):
        state, _ = take(state, T0)
    state, first = take(state, T0)  # the 201st: at T0 + 1 s
    assert first == T0 + timedelta(seconds=1)
    late = T0 + timedelta(minutes=5)  # the host was down; its turn passed
    state, again = take(state, late, refund={"writes": 1})
    assert again == late and state["writes"][0] == pytest.approx(199)  # full again, less this one step


def test_a_share_of_each_bucket_is_kept_back_for_requests_that_reach_arm_bunched() -> None:
    state: Any = None
    turns = []
    for _ in range(200):
        state, answer = limiter_op(state, "take", {"cost": WRITE, "at": iso(T0)})  # the entity's default reserve
        turns.append(parse_iso(answer["at"], "at"))
    kept = int(RESERVE * DEFAULT_BUDGETS["writes"].size)
    assert sum(1 for t in turns if t == T0) == 200 - kept  # the burst less the reserve goes at once
    assert max(turns) == T0 + timedelta(seconds=kept / DEFAULT_BUDGETS["writes"].per_second)  # the rest at the refill


def expect(state: Any, at: datetime, times: int = 1) -> Any:
    for _ in range(times):
        state, _ = limiter_op(state, "expect", {"at": iso(at)}, reserve=0.0)
    return state


def test_without_expected_creates_the_two_lanes_are_one_queue() -> None:
    state: Any = None
    for _ in range(200):
        state, _ = take(state, T0)
    _, start_turn = take(state, T0)
    _, create_turn = take(state, T0, lane="first")
    assert start_turn == create_turn == T0 + timedelta(seconds=1)


def ask(state: Any, at: datetime, **extra: Any) -> tuple[Any, dict[str, Any]]:
    return limiter_op(state, "take", {"cost": WRITE, "at": iso(at), **extra}, reserve=0.0)


def test_an_expected_create_goes_before_the_starts_queued_ahead_of_it() -> None:
    # A wave: 100 creates announced, then 300 starts ask for turns, then the creates come for theirs.
    state = expect(None, T0, times=100)
    starts, deferred = [], 0
    for _ in range(300):
        state, answer = ask(state, T0)
        if answer.get("again"):
            deferred += 1
        else:
            starts.append(parse_iso(answer["at"], "at"))
    assert deferred and max(starts) <= T0 + timedelta(seconds=DEFER)  # no turn given further out than DEFER ...
    state, create = take(state, T0 + timedelta(seconds=1), lane="first")
    assert create <= T0 + timedelta(seconds=11)  # ... so the create goes before the starts still waiting
    assert limiter_op(state, "get", {})[0]["expect"]["writes"][0][1] == 99  # and it is no longer expected


def test_a_start_told_to_ask_again_reserved_nothing_and_is_deferred_at_most_max_deferrals_times() -> None:
    state = expect(None, T0, times=400)
    for _ in range(300):
        state, _ = take(state, T0, lane="first")  # the queue: 10 s of writes beyond the burst, 100 creates to come
    level = state["writes"][0]
    state, answer = ask(state, T0)
    assert answer["again"] is True and state["writes"][0] == level  # nothing taken from the bucket
    assert parse_iso(answer["at"], "at") > T0  # a time to ask again, never now (that would be taken as a turn)
    state, last = ask(state, T0, deferred=MAX_DEFERRALS)
    assert "again" not in last and state["writes"][0] == level - 1  # the last time it takes its turn


def test_without_expected_creates_a_start_is_never_told_to_ask_again() -> None:
    state: Any = None
    for _ in range(400):
        state, answer = ask(state, T0)
        assert "again" not in answer


def test_deferred_must_be_a_count() -> None:
    with pytest.raises(InvalidInput, match="deferred"):
        ask(expect(None, T0), T0, deferred=-1)


def test_an_expectation_that_never_comes_holds_nothing_back_after_expect_for() -> None:
    from orchestrator.domain.limiter import EXPECT_FOR

    state = expect(None, T0, times=50)
    for _ in range(200):
        state, _ = take(state, T0)
    later = T0 + timedelta(seconds=EXPECT_FOR + 1)
    _, start = take(state, later)
    _, create = take(state, later, lane="first")
    assert start == create  # the expectations expired: one queue again


def test_a_lane_must_be_known() -> None:
    with pytest.raises(InvalidInput, match="lane"):
        take(None, T0, lane="fast")


@given(
    asks=st.lists(
        st.tuples(st.floats(0, 120), st.sampled_from(["start", "create", "expect"]), st.integers(1, 3)),
        min_size=1,
        max_size=120,
    ),
)
def test_with_both_lanes_what_goes_never_exceeds_the_burst_plus_the_refill(asks: list[tuple[float, str, int]]) -> None:
    """A create may go before starts that asked earlier, never before ARM's bucket has the token: over any window
    from T0, the tokens of the steps that went fit in the bucket. A start told to ask again does so at its time."""
    state: Any = None
    went: list[tuple[float, int]] = []
    queue = [(offset, i, kind, n, 0) for i, (offset, kind, n) in enumerate(asks)]
    heapq.heapify(queue)
    while queue:
        offset, i, kind, n, deferred = heapq.heappop(queue)
        at = T0 + timedelta(seconds=offset)
        if kind == "expect":
            state = expect(state, at, times=n * 20)
            continue
        extra = {"lane": "first"} if kind == "create" else {"deferred": deferred}
        state, answer = limiter_op(state, "take", {"cost": {"writes": n}, "at": iso(at), **extra}, reserve=0.0)
        when = (parse_iso(answer["at"], "at") - T0).total_seconds()
        if answer.get("again"):
            assert when > offset and deferred < MAX_DEFERRALS
            heapq.heappush(queue, (when, i, kind, n, deferred + 1))
        else:
            went.append((when, n))
    assert len(went) == sum(1 for _, kind, _ in asks if kind != "expect")  # every step went, in the end
    for end, _ in went:
        spent = sum(n for t, n in went if t <= end)
        assert spent <= 200 + 10 * end + 1e-6
