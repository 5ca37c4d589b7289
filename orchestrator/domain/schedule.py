"""How long to wait, inside an orchestration: capacity backoff, LRO polls, throttling and transient faults. Pure.

Deterministic, because the delays are computed inside orchestrators, which must yield the same timers on replay:
jitter comes from a hash of the instance id and the attempt, never from a random generator. Every wait that ARM
asked for (Retry-After) is a lower bound: respot never comes back earlier than it was told to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

POLL_FLOOR = (
    30.0,
    15.0,
    15.0,
    20.0,
    30.0,
)  # seconds between LRO polls: a start or create rarely ends in under 30 s; then closer
# A create's first look: a VM built from an image (disks, NIC, boot) takes about a minute and rarely under 45 s,
# so the look at 30 s would find it running in a mass eviction's hundreds of creates and cost them one read each.
CREATE_FIRST_LOOK = 45.0
MAX_POLLS = 60  # about half an hour of a single operation: then read the VM instead
THROTTLE_FLOOR = 5.0  # a 429 without a usable Retry-After
TRANSIENT_FIRST, TRANSIENT_CAP = 5.0, 300.0
SHORT = 15.0  # the VM is between states (deallocating, an operation in flight): look again soon


@dataclass(frozen=True)
class Backoff:
    """Waiting for capacity: exponential, capped, +-10 % deterministic jitter, and a deadline."""

    first: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(minutes=15)
    factor: float = 2.0
    jitter: float = 0.1
    deadline: timedelta = timedelta(hours=24)

    def delay(self, attempt: int, key: str) -> timedelta:
        """The wait after failed attempt ``attempt`` (1-based)."""
        base = min(self.cap.total_seconds(), self.first.total_seconds() * self.factor ** min(max(0, attempt - 1), 64))
        return timedelta(seconds=base * (1 + self.jitter * unit(f"{key}/{attempt}")))

    def next_try(self, now: datetime, attempt: int, key: str, started: datetime) -> datetime | None:
        """When to try again, or None when the deadline would pass first."""
        when = now + self.delay(attempt, key)
        return when if when <= started + self.deadline else None

    def next_round(
        self, now: datetime, attempt: int, key: str, started: datetime, cooling_ends: Iterable[datetime] = ()
    ) -> datetime | None:
        """After a round that found nothing to create: the schedule's time, or sooner, when an offering's cool-down
        ends first (cool-downs already pace the creates on each offering; waiting past the end only leaves capacity
        that came back unused), never sooner than ``SHORT`` from now. None when the deadline would pass first."""
        when = now + self.delay(attempt, key)
        ends = [end for end in cooling_ends if end < when]
        if ends:
            when = max(min(ends), now + timedelta(seconds=SHORT))
        return when if when <= started + self.deadline else None


def poll_delay(polls: int, retry_after: float | None, first: float | None = None) -> timedelta:
    """The wait before poll number ``polls`` (0-based) of an LRO: the operation's Retry-After, at least the floor
    (``first``, when given, is the first poll's)."""
    floor = first if polls == 0 and first is not None else POLL_FLOOR[min(polls, len(POLL_FLOOR) - 1)]
    return timedelta(seconds=max(floor, retry_after or 0.0))


def throttle_delay(retry_after: float | None, key: str, times: int) -> timedelta:
    """After 429 number ``times`` in a row: at least Retry-After (any length: CRP asks for up to 1200 s and more),
    and at least 5 s doubling to 5 min (being throttled again means asking less often), plus up to 10 % of jitter
    so that many recoveries throttled together do not come back in the same second."""
    base = max(retry_after or 0.0, min(TRANSIENT_CAP, THROTTLE_FLOOR * 2 ** min(max(0, times - 1), 64)))
    return timedelta(seconds=base * (1 + 0.1 * (unit(f"{key}/throttled/{times}") + 1) / 2))


def transient_delay(times: int, key: str) -> timedelta:
    """After a 5xx or a connection that failed: 5 s doubling to 5 min, with jitter (``times`` is 1-based)."""
    base = min(TRANSIENT_CAP, TRANSIENT_FIRST * 2 ** min(max(0, times - 1), 64))
    return timedelta(seconds=base * (1 + 0.1 * unit(f"{key}/transient/{times}")))


def unit(text: str) -> float:
    """A stable number in [-1, 1) from ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0
