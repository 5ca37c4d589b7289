"""Timer schedules that name an app setting (``%NAME%``), resolved when the local host starts, as Azure's does."""

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
