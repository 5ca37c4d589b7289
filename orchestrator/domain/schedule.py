"""Retry schedules for waiting on capacity: exponential backoff, capped, with deterministic jitter. Pure.

Deterministic because the delay is computed inside an orchestrator, which must yield the same timers on replay:
the jitter comes from a hash of the instance id and the attempt, never from a random generator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    first: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(minutes=15)
    factor: float = 2.0
    jitter: float = 0.1  # +-10 %
    deadline: timedelta = timedelta(hours=24)

    def delay(self, attempt: int, key: str) -> timedelta:
        """The wait after failed attempt ``attempt`` (1-based)."""
        base = min(self.cap.total_seconds(), self.first.total_seconds() * self.factor ** max(0, attempt - 1))
        return timedelta(seconds=base * (1 + self.jitter * _unit(f"{key}/{attempt}")))

    def next_try(self, now: datetime, attempt: int, key: str, started: datetime) -> datetime | None:
        """When to try again, or None when the deadline would pass first."""
        when = now + self.delay(attempt, key)
        return when if when <= started + self.deadline else None


def _unit(text: str) -> float:
    """A stable number in [-1, 1) from ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0
