"""The stepper on its own: fake parts with work due at known simulated times, on a stopped clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.clock import Clock
from localcloud.stepper import Part, Stepper, StepperError

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


class Chore:
    """Work due at ``at``: when the clock gets there a thread does it (taking some real time), then it is done."""

    def __init__(self, clock: Clock, at: datetime, real_seconds: float = 0.05) -> None:
        self.clock, self.at = clock, at
        self.ran_at: datetime | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        threading.Thread(target=self._run, args=(real_seconds,), daemon=True).start()

    def _run(self, real_seconds: float) -> None:
        if self.clock.wait_until(self.at, self._stop):
            self.ran_at = self.clock.now()
            time.sleep(real_seconds)  # busy for a while in real time: the stepper must wait for it
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def quiescent(self) -> bool:
        return self._done.is_set() or self.clock.now() < self.at

    def next_due(self) -> datetime | None:
        return None if self._done.is_set() else self.at

    def close(self) -> None:
        self._stop.set()


class Busy:
    def quiescent(self) -> bool:
        return False

    def next_due(self) -> datetime | None:
        return None


class Confused:
    """Claims work due now while saying it has nothing to do: a bug the stepper must not spin on."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def quiescent(self) -> bool:
        return True

    def next_due(self) -> datetime | None:
        return self.clock.now()


def test_run_until_steps_to_the_due_work_waits_for_it_and_stops_when_the_condition_holds() -> None:
    clock = Clock(speed=0, start=T0)
    chore = Chore(clock, T0 + timedelta(seconds=30))
    assert isinstance(chore, Part)
    reached = Stepper(clock, [chore]).run_until(chore.done, max_seconds=60, what="the chore")
    assert reached == T0 + timedelta(seconds=30) == chore.ran_at


def test_advance_stops_at_every_due_moment_on_the_way() -> None:
    clock = Clock(speed=0, start=T0)
    chores = [Chore(clock, T0 + timedelta(seconds=s)) for s in (30, 45)]
    Stepper(clock, {"a": chores[0], "b": chores[1]}).advance(100)
    assert [c.ran_at for c in chores] == [T0 + timedelta(seconds=30), T0 + timedelta(seconds=45)]
    assert clock.now() == T0 + timedelta(seconds=100)


def test_settle_names_the_part_that_stays_busy() -> None:
    clock = Clock(speed=0, start=T0)
    with pytest.raises(StepperError, match=r"^busy still busy after 0.2 s \(real\)"):
        Stepper(clock, {"busy": Busy(), "calm": Chore(clock, T0 + timedelta(hours=1))}, settle_timeout=0.2).settle()


def test_run_until_says_what_was_not_reached() -> None:
    clock = Clock(speed=0, start=T0)
    chore = Chore(clock, T0 + timedelta(seconds=30))
    stepper = Stepper(clock, [chore])
    with pytest.raises(StepperError, match=r"the impossible: not reached within 10 s simulated; next due is Chore at"):
        stepper.run_until(lambda: False, max_seconds=10, what="the impossible")
    assert clock.now() == T0  # the clock did not move past the budget
    with pytest.raises(StepperError, match=r"the impossible: not reached, and no part has anything due"):
        stepper.run_until(lambda: False, max_seconds=60, what="the impossible")
    assert clock.now() == T0 + timedelta(seconds=30)
    chore.close()


def test_a_part_with_work_due_now_that_claims_quiescence_is_an_error_not_a_spin() -> None:
    clock = Clock(speed=0, start=T0)
    with pytest.raises(StepperError, match="Confused reports work due at"):
        Stepper(clock, [Confused(clock)]).run_until(lambda: False, max_seconds=60, what="x")


def test_the_stepper_wants_a_stopped_clock() -> None:
    with pytest.raises(ValueError, match="stopped clock"):
        Stepper(Clock(speed=1), [])
