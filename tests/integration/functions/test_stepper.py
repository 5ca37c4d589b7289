"""The stepper driving the local Functions host and another part on one stopped clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.stepper import Stepper
from tests.integration.functions.conftest import APP, T0, Client
from tests.unit.localcloud.test_stepper import Chore

pytestmark = pytest.mark.integration


def test_two_simulated_hours_of_durable_timers_timer_triggers_and_another_part_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "demo.log"
    monkeypatch.setenv("DEMO_LOG", str(log))
    clock = Clock(speed=0, start=T0)
    with FunctionsHost(APP, port=0, clock=clock, db_path=tmp_path / "hub.sqlite") as host:
        chore = Chore(clock, T0 + timedelta(seconds=30))
        stepper = Stepper(clock, {"functions": host, "chore": chore})
        client = Client(host)
        iid = client.start("sleeper")
        done_at = stepper.run_until(
            lambda: client.status(iid)["runtimeStatus"] == "Completed", max_seconds=3 * 3600, what="the sleeper"
        )
        assert done_at == T0 + timedelta(hours=2)  # not a moment later: the stepper jumped from due to due
        assert client.status(iid)["output"] == 7200.0
        assert chore.ran_at == T0 + timedelta(seconds=30)
        ticks = [line for line in log.read_text().splitlines() if line.startswith("tick")]
        assert len(ticks) == 1 + 24  # runOnStartup, then every five minutes up to 14:00
        stepper.settle()  # the status reads above were requests too
        assert host.quiescent() and host.next_due() == T0 + timedelta(hours=2, minutes=5)


def test_the_host_is_not_quiescent_while_work_is_due_or_running(tmp_path: Path) -> None:
    clock = Clock(speed=0, start=T0)
    with FunctionsHost(APP, port=0, clock=clock, db_path=tmp_path / "hub.sqlite") as host:
        stepper = Stepper(clock, {"functions": host})
        client = Client(host)
        iid = client.start("waiter")  # waits for an event, or a timer an hour away
        stepper.settle()
        assert host.next_due() == T0 + timedelta(minutes=5)  # the tick comes before the waiter's timer
        with host.engine.hold(iid):
            client.call("POST", f"/api/manage/{iid}/raise", {"by": "ops"})
            assert not host.quiescent()  # an inbox message is visible and nobody took it
        stepper.settle()
        assert client.status(iid)["output"] == {"approved": {"by": "ops"}}
