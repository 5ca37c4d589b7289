"""One simulation clock for the whole local cloud.

The ARM emulator (LRO durations, token buckets, capacity timelines, alert delays) and the local Functions host
(durable timers) read time only from here, so a scenario that spans two simulated hours can run in a minute
(``speed=120``) and a test can step time by hand (``speed=0``, then ``advance``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

# Longest real-time nap between two looks at the clock: bounds how late a waiter notices a speed change.
_MAX_NAP = 0.25


class Clock:
    """Simulated UTC time: ``start + (real elapsed) * speed + manual advances``.

    ``speed=1`` is real time, ``speed=60`` makes a simulated minute last a real second, and ``speed=0`` stops
    time so that only :meth:`advance` moves it (deterministic tests). Thread-safe.
    """

    def __init__(self, *, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._cond = threading.Condition()
        self._origin = start or datetime.now(UTC).replace(microsecond=0)
        self._real0 = time.monotonic()
        self._sim0 = 0.0  # simulated seconds at _real0
        self._speed = float(speed)
        self._generation = 0  # bumped by wake(): waiters that asked to be interrupted re-plan

    @property
    def speed(self) -> float:
        return self._speed

    def elapsed(self) -> float:
        """Simulated seconds since the clock's start."""
        with self._cond:
            return self._elapsed_locked()

    def _elapsed_locked(self) -> float:
        return self._sim0 + (time.monotonic() - self._real0) * self._speed

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self.elapsed())

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._cond:
            self._sim0 = self._elapsed_locked()
            self._real0 = time.monotonic()
            self._speed = float(speed)
            self._cond.notify_all()

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (waiters wake and see the new time)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._cond:
            self._sim0 += seconds
            self._cond.notify_all()

    def to_real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take now (inf when the clock is stopped)."""
        if sim_seconds <= 0:
            return 0.0
        return sim_seconds / self._speed if self._speed > 0 else float("inf")

    def wait_until(self, when: datetime, stop: threading.Event | None = None, *, interruptible: bool = False) -> bool:
        """Block until simulated time reaches ``when``.

        Returns False early if ``stop`` is set, or, when ``interruptible``, as soon as :meth:`wake` is called
        (a scheduler whose queue just got an earlier deadline needs to re-plan its wait).
        """
        target = (when - self._origin).total_seconds()
        with self._cond:
            generation = self._generation
            while True:
                if stop is not None and stop.is_set():
                    return False
                if interruptible and self._generation != generation:
                    return False
                elapsed = self._elapsed_locked()
                # Reached as now() sees it (to the microsecond): a float a hair short of a due time that now()
                # already shows would make a stopped clock's waiter nap for ever while others see the time due.
                if elapsed >= target or self._origin + timedelta(seconds=elapsed) >= when:
                    return True
                remaining = target - elapsed
                nap = remaining / self._speed if self._speed > 0 else _MAX_NAP
                self._cond.wait(min(nap, _MAX_NAP))

    def wake(self) -> None:
        """Wake every waiter so it re-reads its deadline (used when new work is scheduled earlier)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
