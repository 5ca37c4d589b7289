"""Timer triggers on the shared clock, and the host as a process: SIGKILL mid-orchestration, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.common import free_port
from localcloud.clock import Clock
from localcloud.functions import ncrontab
from localcloud.functions.host import FunctionsHost
from tests.conftest import REPO
from tests.integration.functions.conftest import APP
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def ticks(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("tick")] if log.exists() else []


def test_timer_runs_on_startup_then_on_schedule_then_past_due_after_downtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "demo.log"
    monkeypatch.setenv("DEMO_LOG", str(log))
    clock = Clock(speed=0, start=T0)
    with FunctionsHost(APP, port=0, clock=clock, db_path=tmp_path / "hub.sqlite") as host:
        assert ticks(log) == ["tick past_due=False"]  # runOnStartup
        assert host.timers.next_due["tick"] == T0 + timedelta(minutes=5)
        clock.advance(5 * 60)
        wait_until(lambda: len(ticks(log)) == 2, what="the 12:05 tick")
        clock.advance(5 * 60)
        wait_until(lambda: len(ticks(log)) == 3, what="the 12:10 tick")
    # The host was down at 12:15: the next start runs the timer once with past_due set.
    with FunctionsHost(
        APP, port=0, clock=Clock(speed=0, start=T0 + timedelta(minutes=17)), db_path=tmp_path / "hub.sqlite"
    ):
        assert ticks(log)[-1] == "tick past_due=True"


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2026-06-01T12:03:10", "2026-06-01T12:05:00"),
        ("30 0 9 * * Mon-Fri", "2026-06-05T09:00:31", "2026-06-08T09:00:30"),  # Friday -> Monday
        ("0 0 0 1 Jan *", "2026-06-01T00:00:00", "2027-01-01T00:00:00"),
        ("0 15,45 * * * *", "2026-06-01T12:15:00", "2026-06-01T12:45:00"),
        ("00:00:30", "2026-06-01T12:00:00", "2026-06-01T12:00:30"),
    ],
)
def test_ncrontab_next_occurrence(schedule: str, after: str, expected: str) -> None:
    assert ncrontab.parse(schedule).next_after(datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize("schedule", ["* * * * *", "61 * * * * *", "0 0 0 31 2 *", "a b c d e f", "0 0 0 * * 9"])
def test_bad_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(ncrontab.ScheduleError):
        ncrontab.parse(schedule).next_after(datetime(2026, 1, 1))


def _serve(
    tmp_path: Path, port: int, env: dict[str, str], command: tuple[str, ...] = ("localcloud.functions",)
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        *command,
        "--app",
        str(APP),
        "--port",
        str(port),
        "--db",
        str(tmp_path / "hub.sqlite"),
    ]
    return subprocess.Popen(
        argv, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/api/hello/1", timeout=1).status == 200
    except OSError:
        return False


def test_sigkill_mid_orchestration_then_restart_finishes_once(tmp_path: Path) -> None:
    log, port = tmp_path / "demo.log", free_port()
    proc = _serve(tmp_path, port, {"DEMO_LOG": str(log), "DEMO_STEP_SECONDS": "30"})
    try:
        wait_until(lambda: _ready(port), timeout=30, what="the host")
        keys = json.loads((tmp_path / "keys.json").read_text())
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/orchestrators/crashy/crash-1?code={keys['function']}", method="POST"
        )
        assert urllib.request.urlopen(req).status == 202
        wait_until(lambda: log.exists() and "step 2 start" in log.read_text(), timeout=30, what="step 2 to start")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    proc = _serve(tmp_path, port, {"DEMO_LOG": str(log), "DEMO_STEP_SECONDS": "0"})
    try:
        wait_until(lambda: _ready(port), timeout=30, what="the restarted host")
        url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances/crash-1?code={keys['system']}"

        def status() -> dict[str, object]:
            try:
                with urllib.request.urlopen(url) as resp:
                    return dict(json.loads(resp.read()))
            except urllib.error.HTTPError as err:
                return dict(json.loads(err.read()))

        wait_until(lambda: status().get("runtimeStatus") == "Completed", timeout=30, what="the orchestration to finish")
        assert status()["output"] == [0, 10, 20, 30]
        lines = log.read_text().splitlines()
        assert lines.count("step 0 done") == 1 and lines.count("step 1 done") == 1  # completed work not redone
        assert lines.count("step 2 start") == 2 and lines.count("step 2 done") == 1  # the running one ran again
        assert lines.count("step 3 done") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # graceful stop on SIGTERM


def test_the_cli_prints_functions_and_refuses_a_bad_app(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, port, {})
    try:
        lines = [proc.stdout.readline() for _ in range(3)] if proc.stdout else []
        assert f"http://127.0.0.1:{port}" in lines[0]
        assert any("admin_only" in line or "boom" in line for line in lines[1:])
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    bad = tmp_path / "broken.py"
    bad.write_text("raise SystemError('nope')\n")
    run = subprocess.run(
        [sys.executable, "-m", "localcloud.functions", "--app", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "importing it failed" in run.stderr and "Traceback" not in run.stderr


def test_durable_timers_and_arm_share_one_clock(tmp_path: Path) -> None:
    from localcloud.arm import ArmEmulator
    from tests.integration.functions.conftest import Client
    from tests.integration.helpers import control

    clock = Clock(speed=0, start=T0)
    with (
        ArmEmulator(clock=clock) as arm,
        FunctionsHost(APP, port=0, clock=clock, db_path=tmp_path / "hub.sqlite") as host,
    ):
        client = Client(host)
        iid = client.start("sleeper")
        client.wait(iid, until=("Running",))
        control(arm, "/clock", {"advance": 2 * 3600})  # two hours pass for ARM, and so for the orchestration
        done = client.wait(iid)
        assert done["output"] == 7200.0
        assert control(arm, "/clock")["now"].startswith("2026-06-01T14:00:00")


def test_respot_serve_runs_the_host(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, port, {}, command=("orchestrator.cli", "serve"))
    try:
        wait_until(lambda: _ready(port), timeout=30, what="respot serve")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
