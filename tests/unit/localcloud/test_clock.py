"""The simulation clock: speed, stepping, and waits that wake when told to."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.clock import Clock

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_stopped_clock_moves_only_when_advanced() -> None:
    clock = Clock(speed=0, start=START)
    assert clock.now() == START
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_speed_changes_keep_time_continuous() -> None:
    clock = Clock(speed=0, start=START)
    clock.advance(10)
    clock.set_speed(1000)
    clock.set_speed(0)
    assert clock.elapsed() >= 10
    assert clock.to_real(60) == float("inf")
    clock.set_speed(60)
    assert clock.to_real(60) == pytest.approx(1.0)


def test_wait_until_returns_when_another_thread_advances_time() -> None:
    clock = Clock(speed=0, start=START)
    done = threading.Event()

    def waiter() -> None:
        clock.wait_until(START + timedelta(hours=1))
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not done.wait(0.3)
    clock.advance(3600)
    assert done.wait(5)
    thread.join()


def test_interruptible_waits_end_on_wake_and_stop_ends_any_wait() -> None:
    clock = Clock(speed=0, start=START)
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(clock.wait_until(START + timedelta(days=1), interruptible=True))
    )
    thread.start()
    clock.wake()
    thread.join(5)
    assert result == [False]
    stop = threading.Event()
    stop.set()
    assert clock.wait_until(START + timedelta(days=1), stop) is False


def test_a_time_that_now_shows_is_reached_whatever_the_float_says() -> None:
    # A stepper advances by (due - now).total_seconds(); the float sum can fall a hair short of the due time's
    # seconds while now() (to the microsecond) already shows it. The waiter must see it too, or a stopped clock
    # leaves it napping for ever while the parts that compare datetimes see the time due (a mass-eviction hang).
    clock = Clock(speed=0, start=START)
    clock.advance(54.80445464496049)
    when = START + timedelta(seconds=54.804455)
    assert clock.now() == when and clock.elapsed() < (when - START).total_seconds()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(clock.wait_until(when)), daemon=True)
    thread.start()
    thread.join(2)
    assert result == [True]
