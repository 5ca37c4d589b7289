"""Timer schedules that name an app setting (``%NAME%``), resolved when the local host starts, as Azure's does; the
schedule status a timer function is handed, as Azure's TimerListener hands it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from localcloud.clock import Clock
from localcloud.functions.appmodel import AppLoadError, FunctionSpec
from localcloud.functions.store import Store
from localcloud.functions.timers import TimerHost, resolve

T0 = datetime(2026, 6, 1, 12, 3, 10, tzinfo=UTC)


def timer(schedule: str) -> FunctionSpec:
    return FunctionSpec("sweep", "timerTrigger", {"name": "timer", "schedule": schedule}, [], lambda timer: None)


def test_a_setting_in_percent_signs_is_replaced_by_its_value() -> None:
    assert resolve("%EVERY%", {"EVERY": "0 */5 * * * *"}) == "0 */5 * * * *"
    assert resolve("0 %MINUTES% * * * *", {"MINUTES": "*/2"}) == "0 */2 * * * *"
    assert resolve("0 */5 * * * *", {}) == "0 */5 * * * *"


def test_the_host_schedules_a_timer_from_the_setting_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_EVERY", "0 */2 * * * *")
    host = TimerHost([timer("%SWEEP_EVERY%")], Store(tmp_path / "hub.sqlite"), Clock(speed=0, start=T0), None)
    assert host.schedules["sweep"].next_after(T0) == datetime(2026, 6, 1, 12, 4, tzinfo=UTC)


def test_a_setting_that_is_not_there_stops_the_host_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWEEP_EVERY", raising=False)
    with pytest.raises(AppLoadError, match=r"function 'sweep': '%SWEEP_EVERY%' does not resolve to a value"):
        TimerHost([timer("%SWEEP_EVERY%")], Store(tmp_path / "hub.sqlite"), Clock(speed=0, start=T0), None)


def test_the_function_is_handed_the_status_from_before_its_run_as_azure_does(tmp_path: Path) -> None:
    import threading
    from typing import Any

    handed: list[Any] = []
    fired = threading.Event()

    def fn(timer: Any) -> None:
        handed.append(timer)
        fired.set()

    spec = FunctionSpec("sweep", "timerTrigger", {"name": "timer", "schedule": "0 */5 * * * *"}, [], fn)
    clock = Clock(speed=0, start=T0)
    host = TimerHost([spec], Store(tmp_path / "hub.sqlite"), clock, None)
    host.start()
    try:
        for _ in range(2):
            fired.clear()
            clock.advance((host.next_due["sweep"] - clock.now()).total_seconds())
            assert fired.wait(10)
    finally:
        host.stop()
    first, second = (t.schedule_status for t in handed)
    # Next: the occurrence due now; Last and LastUpdated: the previous run (none before the first).
    assert first == {
        "Last": "0001-01-01T00:00:00",
        "Next": "2026-06-01T12:05:00.000000Z",
        "LastUpdated": "0001-01-01T00:00:00",
    }
    assert second["Next"] == "2026-06-01T12:10:00.000000Z" and second["Last"] == second["LastUpdated"] == first["Next"]
    assert not any(t.past_due for t in handed)
