"""ARM's request budgets, shared by every recovery: a token bucket per budget, kept in one durable entity per
subscription (``limiter``), so a mass eviction paces its requests to what ARM allows instead of learning the limits
from 429s. Pure.

ARM meters each subscription (per principal, per region) with token buckets: writes 200 deep refilled at 10/s,
deletes 200 at 10/s, reads 250 at 25/s (request-limits-and-throttling.md, azure-facts.md "Throttling"); Compute
adds its own per operation group (PutVM, UpdateVM which includes start, DeleteVM: 1,500 deep at 500/min at the
subscription level; High Cost Get, the VM lists: 900 at 300/min; compute-throttling-limits.md).

A recovery asks before an ARM step: ``take {cost, at}`` reserves the step's tokens in every bucket it draws on and
answers when it may go (``at`` or later), keeping RESERVE of each bucket back. Reservations may overdraw a bucket: the debt is the queue, each later
taker waits behind it, and nobody is ever refused. The orchestration waits on a durable timer until then (no worker
slot, no sleep). The entity is the only writer of this state and runs one operation at a time, on one instance of a
scaled-out app, and its state survives restarts, so the pacing holds across all of them.

Two lanes, so that a wave's longest writes go first (the longest-first rule: the last VM runs sooner when the
writes that take longest to come true are sent first): a create is 40 s or more of provisioning, a start 25 s. A
recovery that will create says so as soon as it knows (``expect``: one write for the ``first`` lane, waited for at
most EXPECT_FOR); while such writes are expected, a take of the normal lane keeps that many tokens more back (at
most HOLD of the bucket), so a ``first``-lane take that arrives after it can go before it. That is safe: a later
take jumps at most that many tokens ahead of a turn already given, so the bucket never goes below the reserve. And
while writes are expected, a normal-lane take whose turn is more than DEFER away gets no turn yet, only a time to ask
again (``again``): a wave's alerts come in any order, so its restarts may queue a moment before its creates are
expected. Without expected writes (a wave of restarts alone) the lanes are one queue.

What ARM says wins over the model: ``seen`` (a ``x-ms-ratelimit-remaining-*`` reading taken by an activity) lowers
a bucket to that level when ARM counts fewer tokens (another client of the subscription spends them too), and
``throttled`` (a 429) empties the bucket until its Retry-After has passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.domain.models import InvalidInput, iso, parse_iso

LIMITER = "limiter"  # entity name; key: the subscription id
MAX_COST = 20  # tokens one step may take from one bucket
MAX_RETRY_AFTER = 3600.0
ARM_THROTTLED = "SubscriptionRequestsThrottled"  # ARM's own 429 (request-limits-and-throttling.md)
LATE = timedelta(seconds=60)  # a turn taken this much after the limiter's time is asked for again
# The share of each bucket never handed out: turns are given in the orchestrations' time, and the requests reach ARM
# later, by delays that vary (activity queues, a busy host), so some arrive bunched. Without it a 1,000-VM wave
# saw 2-5% of its writes answered 429 (bench mass); it costs the burst 15% once, never the refill.
RESERVE = 0.15
# At most this share of a bucket is held back from the normal lane for expected first-lane writes. With the reserve
# it stays a reserve's depth below ARM's cap: a full bucket wastes its refill while turns already given are still on
# their way to ARM, which the model cannot see, so creates that then take the held tokens at once would meet 429s.
HOLD = 1 - 2 * RESERVE
EXPECT_FOR = 90.0  # seconds an expected first-lane write holds tokens back (a recovery that never creates)
LANES = ("first",)
# A normal-lane step that would wait longer than this while first-lane writes are expected is given no turn yet, only
# a time to ask again DEFER before its turn would come: a turn given early is fixed, and creates known a moment later
# (a wave's alerts come in any order) could not go before it. At most MAX_DEFERRALS times, then it takes its turn.
DEFER = 5.0
MAX_DEFERRALS = 8


@dataclass(frozen=True)
class Bucket:
    size: float
    per_second: float

    def __post_init__(self) -> None:
        if not (self.size >= 1 and self.per_second > 0):
            raise InvalidInput("a bucket needs a size of at least 1 and a positive refill")


# Azure's numbers (azure-facts.md "Throttling"); settings may change them (RESPOT_ARM_BUDGETS).
DEFAULT_BUDGETS: dict[str, Bucket] = {
    "writes": Bucket(200, 10),
    "deletes": Bucket(200, 10),
    "reads": Bucket(250, 25),
    "compute.put": Bucket(1500, 500 / 60),
    "compute.update": Bucket(1500, 500 / 60),
    "compute.delete": Bucket(1500, 500 / 60),
    "compute.list": Bucket(900, 300 / 60),  # High Cost Get VM: List, ListAll (a fleet's live members)
}


def limiter_op(
    state: Any, operation: str, payload: Any, budgets: dict[str, Bucket] = DEFAULT_BUDGETS, reserve: float = RESERVE
) -> tuple[Any, Any]:
    """``take {cost: {bucket: n}, at, lane?: "first", deferred?: n, seen?: {bucket: remaining}, seen_at?, refund?:
    {bucket: n}}`` -> ``{"at": when to go}``, or ``{"at": when to ask again, "again": true}``;
    ``expect {at, bucket?: "writes"}``: one first-lane write will come; ``throttled {bucket?, retry_after, at}``;
    ``get``. State: ``{bucket: [tokens, epoch seconds], "expect": {bucket: [[until, n], ...]}}``."""
    s: dict[str, list[float]] = _state(state)
    expected = _expected(state)
    data = payload if isinstance(payload, dict) else {}
    if operation == "get":
        return _dump(s, expected, s)
    at = _epoch(parse_iso(data.get("at"), "at"))
    if operation == "take":
        return _dump(*_take(s, expected, budgets, data, at, reserve))
    if operation == "expect":
        name = _names(data.get("bucket", "writes"), budgets)[0]
        entries = [e for e in expected.get(name, []) if e[0] > at]
        until = math.ceil(at + EXPECT_FOR)
        if entries and entries[-1][0] == until:
            entries[-1][1] += 1
        else:
            entries.append([float(until), 1.0])
        expected[name] = entries[-MAX_EXPECT_ENTRIES:]
        return _dump(s, expected, None)
    if operation == "throttled":
        wait = data.get("retry_after")
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_RETRY_AFTER:
            raise InvalidInput("retry_after must be seconds from 0 to 3600")
        for name in _names(data.get("bucket"), budgets):
            t = _now(s, name, at)
            debt = (wait - (t - at)) * budgets[name].per_second  # empty until Retry-After has passed
            s[name] = [min(_level(s, budgets, name, t), -debt), t]
        return _dump(s, expected, None)
    raise InvalidInput(f"limiter: no operation {operation!r} (take, expect, throttled, get)")


def _take(
    s: dict[str, list[float]],
    expected: dict[str, list[list[float]]],
    budgets: dict[str, Bucket],
    data: dict[str, Any],
    at: float,
    reserve: float,
) -> tuple[dict[str, list[float]], dict[str, list[list[float]]], dict[str, Any]]:
    """Reserve the step's tokens and say when it goes; or, for a normal-lane step that would wait more than DEFER
    while first-lane writes are expected, reserve nothing and say when to ask again (``again``)."""
    cost = _cost(data.get("cost"), budgets)
    lane, deferrals = _lane(data.get("lane")), _deferrals(data.get("deferred"))
    _apply_seen(s, budgets, data.get("seen"), data.get("seen_at"), at)
    _refund(s, budgets, data.get("refund"), at)
    before = {name: list(level) for name, level in s.items()}
    go, holding = at, False
    for name, n in cost.items():
        t = _now(s, name, at)
        tokens = _level(s, budgets, name, t) - n
        s[name] = [tokens, t]
        keep = reserve * budgets[name].size
        if lane == "first":
            _arrived(expected, name, at, n)
        else:
            held = min(_live(expected, name, at), HOLD * budgets[name].size)
            keep, holding = keep + held, holding or held > 0
        if tokens < keep:
            go = max(go, t + (keep - tokens) / budgets[name].per_second)
    if holding and go > at + DEFER and deferrals < MAX_DEFERRALS:
        return before, expected, {"at": iso(_when(math.ceil(go - DEFER))), "again": True}
    return s, expected, {"at": iso(_when(at if go <= at else math.ceil(go)))}


def _deferrals(raw: Any) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise InvalidInput("deferred must be a count of earlier asks")
    return raw


def wait_until(answer: Any, now: datetime) -> datetime | None:
    """The moment a ``take`` answer says to go, or None to go now."""
    when = parse_iso((answer or {}).get("at"), "at") if isinstance(answer, dict) else None
    return when if when is not None and when > now else None


def _now(s: dict[str, list[float]], name: str, at: float) -> float:
    """The bucket's time for a request stamped ``at``: never before its last change. Callers stamp requests with
    their own clocks, so a request may arrive after a later one: counting from its older time would refill the
    bucket twice over the same seconds."""
    return max(at, s[name][1]) if name in s else at


def _refund(s: dict[str, list[float]], budgets: dict[str, Bucket], raw: Any, at: float) -> None:
    """Tokens of a reservation that was not used (its turn came too late and is asked for again)."""
    if raw is None:
        return
    for name, n in _cost(raw, budgets).items():
        t = _now(s, name, at)
        s[name] = [min(budgets[name].size, _level(s, budgets, name, t) + n), t]


def _level(s: dict[str, list[float]], budgets: dict[str, Bucket], name: str, at: float) -> float:
    bucket = budgets[name]
    tokens, since = s.get(name, [bucket.size, at])
    return min(bucket.size, tokens + max(0.0, at - since) * bucket.per_second)


def _apply_seen(s: dict[str, list[float]], budgets: dict[str, Bucket], seen: Any, seen_at: Any, at: float) -> None:
    """ARM counted ``remaining`` tokens at ``seen_at``: never more in the model than that, refilled since."""
    if not isinstance(seen, dict) or not seen:
        return
    when = min(_epoch(parse_iso(seen_at, "seen_at")), at)
    for name, remaining in seen.items():
        if name in budgets and isinstance(remaining, int) and not isinstance(remaining, bool) and remaining >= 0:
            refilled = remaining + (at - when) * budgets[name].per_second
            if refilled < _level(s, budgets, name, at):
                s[name] = [refilled, at]


def _cost(raw: Any, budgets: dict[str, Bucket]) -> dict[str, int]:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput("cost must map buckets to token counts")
    cost: dict[str, int] = {}
    for name, n in raw.items():
        if name not in budgets:
            raise InvalidInput(f"cost: no bucket {name!r} ({', '.join(budgets)})")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_COST:
            raise InvalidInput(f"cost: {name} must be 0 to {MAX_COST} tokens")
        cost[name] = n
    return cost


def _names(raw: Any, budgets: dict[str, Bucket]) -> list[str]:
    if raw is None:
        return ["writes", "reads", "deletes"]
    if raw not in budgets:
        raise InvalidInput(f"no bucket {raw!r}")
    return [str(raw)]


def _state(raw: Any) -> dict[str, list[float]]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): [float(v[0]), float(v[1])] for k, v in raw.items() if isinstance(v, list) and len(v) == 2}


MAX_EXPECT_ENTRIES = 200  # per bucket; expectations made within one second share an entry


def _expected(raw: Any) -> dict[str, list[list[float]]]:
    """Expected first-lane writes per bucket: [[until epoch, count], ...], oldest first."""
    table = raw.get("expect") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        return {}
    out: dict[str, list[list[float]]] = {}
    for name, entries in table.items():
        if isinstance(entries, list):
            out[str(name)] = [
                [float(e[0]), float(e[1])] for e in entries if isinstance(e, list) and len(e) == 2 and e[1] > 0
            ]
    return out


def _dump(s: dict[str, list[float]], expected: dict[str, list[list[float]]], answer: Any) -> tuple[Any, Any]:
    """The entity's new state, and the operation's answer."""
    live = {name: entries for name, entries in expected.items() if entries}
    return ({**s, "expect": live} if live else dict(s)), answer


def _live(expected: dict[str, list[list[float]]], name: str, at: float) -> float:
    return sum(n for until, n in expected.get(name, []) if until > at)


def _arrived(expected: dict[str, list[list[float]]], name: str, at: float, n: int) -> None:
    """A first-lane take came: it is no longer expected (the oldest live expectations go first)."""
    entries = [e for e in expected.get(name, []) if e[0] > at]
    for entry in entries:
        used = min(entry[1], n)
        entry[1], n = entry[1] - used, n - int(used)
    expected[name] = [e for e in entries if e[1] > 0]


def _lane(raw: Any) -> str | None:
    if raw is None:
        return None
    if raw in LANES:
        return str(raw)
    raise InvalidInput(f"lane must be one of {', '.join(LANES)}")


def _epoch(when: datetime) -> float:
    return when.timestamp()


def _when(epoch: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=epoch)
