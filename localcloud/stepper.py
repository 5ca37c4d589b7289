"""Drive the whole local cloud on a stopped clock, deterministically (end-to-end tests).

With the shared :class:`~localcloud.clock.Clock` at speed 0 nothing timed happens by itself: the stepper lets
every part finish what it can do now (they are all *quiescent*, twice in a row), checks the test's condition, and
only then moves the clock to the earliest moment any part has work due. A test therefore sees the same sequence of
events on a fast or a slow machine, and hours of simulated retries take as long as the work itself.

Parts follow :class:`Part`: ``FunctionsHost`` (localcloud.functions) and ``ArmEmulator`` (localcloud.arm) are two.
The only real-time waits are condition polls bounded by ``settle_timeout``; a part that stays busy is named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from localcloud.clock import Clock

POLL = 0.002  # real seconds between looks at the parts while they settle


@runtime_checkable
class Part(Protocol):
    def quiescent(self) -> bool:
        """Nothing to do at the clock's now, and nothing in flight."""
        ...

    def next_due(self) -> datetime | None:
        """The earliest simulated time this part will have work by itself, or None."""
        ...


class StepperError(AssertionError):
    """The local cloud did not get where the test wanted; the message says which part or condition."""


class Stepper:
    """``Stepper(clock, {"functions": host, "arm": arm})``, then ``run_until``, ``settle`` or ``advance``."""

    def __init__(
        self,
        clock: Clock,
        parts: Mapping[str, Part] | Sequence[Part],
        *,
        settle_timeout: float = 30.0,
    ) -> None:
        if clock.speed != 0:
            raise ValueError("the stepper drives a stopped clock: make it with Clock(speed=0)")
        self.clock, self.settle_timeout = clock, settle_timeout
        self.parts = dict(parts) if isinstance(parts, Mapping) else _named(parts)

    def settle(self) -> None:
        """Wait (in real time) until every part is quiescent twice in a row. Raises :class:`StepperError`."""
        deadline = time.monotonic() + self.settle_timeout
        calm = 0
        while calm < 2:
            busy = [name for name, part in self.parts.items() if not part.quiescent()]
            calm = 0 if busy else calm + 1
            if busy and time.monotonic() > deadline:
                raise StepperError(
                    f"{', '.join(busy)} still busy after {self.settle_timeout:g} s (real) at {self.clock.now():%H:%M:%S}"
                )
            time.sleep(POLL)

    def next_due(self) -> tuple[datetime, str] | None:
        """The earliest due time over all parts, and whose it is."""
        dues = [(due, name) for name, part in self.parts.items() if (due := part.next_due()) is not None]
        return min(dues, default=None)

    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float, what: str) -> datetime:
        """Settle, check ``predicate``, step the clock to the next due work; repeat until it holds.

        Returns the simulated time at which it held. Raises :class:`StepperError` naming ``what`` when nothing is
        due any more, or when getting there would take more than ``max_seconds`` of simulated time.
        """
        limit = self.clock.now() + timedelta(seconds=max_seconds)
        while True:
            self.settle()
            if predicate():
                return self.clock.now()
            due = self.next_due()
            if due is None:
                raise StepperError(f"{what}: not reached, and no part has anything due ({self._states()})")
            when, name = due
            if when > limit:
                raise StepperError(
                    f"{what}: not reached within {max_seconds:g} s simulated; next due is {name} at {when:%Y-%m-%d %H:%M:%S}"
                )
            self._step_to(when, name)

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward through every due moment on the way, settling at each."""
        target = self.clock.now() + timedelta(seconds=seconds)
        while True:
            self.settle()
            due = self.next_due()
            if due is None or due[0] > target:
                self.clock.advance(max(0.0, (target - self.clock.now()).total_seconds()))
                self.settle()
                return
            self._step_to(*due)

    def _step_to(self, when: datetime, name: str) -> None:
        delta = (when - self.clock.now()).total_seconds()
        if delta <= 0:
            # A quiescent part cannot have work due now: it would never be done.
            raise StepperError(f"{name} reports work due at {when:%H:%M:%S.%f} but says it is quiescent")
        self.clock.advance(delta)

    def _states(self) -> str:
        return ", ".join(f"{name} quiescent={part.quiescent()}" for name, part in self.parts.items())


def _named(parts: Sequence[Part]) -> dict[str, Part]:
    named: dict[str, Part] = {}
    for part in parts:
        base = type(part).__name__
        name, n = base, 2
        while name in named:
            name, n = f"{base}{n}", n + 1
        named[name] = part
    return named
