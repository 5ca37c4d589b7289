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
    """``take {cost: {bucket: n}, at, seen?: {bucket: remaining}, seen_at?, refund?: {bucket: n}}`` -> ``{"at":
    when to go}``; ``throttled {bucket?, retry_after, at}``; ``get``. State: ``{bucket: [tokens, epoch seconds]}``."""
    s: dict[str, list[float]] = _state(state)
    data = payload if isinstance(payload, dict) else {}
    if operation == "get":
        return s, s
    at = _epoch(parse_iso(data.get("at"), "at"))
    if operation == "take":
        cost = _cost(data.get("cost"), budgets)
        _apply_seen(s, budgets, data.get("seen"), data.get("seen_at"), at)
        _refund(s, budgets, data.get("refund"), at)
        go = at
        for name, n in cost.items():
            t = _now(s, name, at)
            tokens = _level(s, budgets, name, t) - n
            s[name] = [tokens, t]
            keep = reserve * budgets[name].size
            if tokens < keep:
                go = max(go, t + (keep - tokens) / budgets[name].per_second)
        return s, {"at": iso(_when(at if go <= at else math.ceil(go)))}
    if operation == "throttled":
        wait = data.get("retry_after")
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_RETRY_AFTER:
            raise InvalidInput("retry_after must be seconds from 0 to 3600")
        for name in _names(data.get("bucket"), budgets):
            t = _now(s, name, at)
            debt = (wait - (t - at)) * budgets[name].per_second  # empty until Retry-After has passed
            s[name] = [min(_level(s, budgets, name, t), -debt), t]
        return s, None
    raise InvalidInput(f"limiter: no operation {operation!r} (take, throttled, get)")


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


def _epoch(when: datetime) -> float:
    return when.timestamp()


def _when(epoch: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=epoch)
