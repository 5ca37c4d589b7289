"""``python -m localcloud.arm`` and ``respot arm`` as a user runs them: flags, scenario, state across restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import emulator_process, free_port
from localcloud.arm.clients import compute_client
from localcloud.arm.scenario import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION
from localcloud.clock import Clock
from tests.conftest import REPO
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


class _Arm:
    subscription = DEFAULT_SUBSCRIPTION
    resource_group = DEFAULT_RESOURCE_GROUP


def test_state_survives_a_restart(tmp_path: Path) -> None:
    from tests.integration.helpers import vm_body

    state = tmp_path / "arm.state"
    scenario = {"quotas": [{"region": "eastus", "name": "lowPriorityCores", "limit": 12}]}
    with emulator_process("--speed", "600", "--state", str(state), scenario=scenario) as url:
        client = compute_client(url, DEFAULT_SUBSCRIPTION, clock=Clock(speed=600))  # the emulator's pace
        client.virtual_machines.begin_create_or_update(DEFAULT_RESOURCE_GROUP, "keep", vm_body(_Arm())).result()  # type: ignore[arg-type]
    assert state.exists()  # saved on SIGTERM
    with emulator_process("--speed", "600", "--state", str(state)) as url:
        client = compute_client(url, DEFAULT_SUBSCRIPTION)
        vm = client.virtual_machines.get(DEFAULT_RESOURCE_GROUP, "keep", expand="instanceView")
        assert "PowerState/running" in [s.code for s in vm.instance_view.statuses]
        usage = {u.name.value: u.limit for u in client.usage.list("eastus")}
        assert usage["lowPriorityCores"] == 12  # the scenario's quota came back with the state


def test_bad_flags_and_bad_scenarios_fail_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"capacity": [{"region": "mars", "size": "Standard_D2s_v5", "available": 1}]}))
    run = subprocess.run(
        [sys.executable, "-m", "localcloud.arm", "--port", str(free_port()), "--scenario", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "mars" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "localcloud.arm", "--speed", "-3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "--speed" in run.stderr


def test_respot_arm_starts_the_emulator_and_stops_on_sigint() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "arm", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}" in line
        import urllib.request

        wait_until(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/_localcloud/health").status == 200, what="health"
        )
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
