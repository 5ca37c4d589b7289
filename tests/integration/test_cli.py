"""``respot arm`` / ``python -m localcloud.arm`` and ``respot serve`` as a user runs them: flags, scenario, state
across restarts, help, and a new user's first run (no local.settings.json, no RESPOT_* variables)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

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


# --- respot serve: a new user's first run ------------------------------------------------------------------


def _fresh_clone(tmp_path: Path, settings: dict[str, object] | None = None) -> Path:
    """An app folder as a clone has it: function_app.py, host.json, the sample, and no local.settings.json."""
    app = tmp_path / "app"
    app.mkdir()
    for name in ("function_app.py", "host.json", "local.settings.sample.json"):
        shutil.copy(REPO / name, app / name)
    if settings is not None:
        (app / "local.settings.json").write_text(json.dumps(settings))
    return app / "function_app.py"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a shell that never heard of respot (the test process sets RESPOT_* for itself)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("RESPOT_")}, **extra}


def _respot(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_help_names_the_command_the_user_typed() -> None:
    env = _clean_env()
    assert _respot("serve", "--help", env=env).stdout.startswith("usage: respot serve [-h]")
    arm = _respot("arm", "--help", env=env)
    assert arm.returncode == 0 and arm.stdout.startswith("usage: respot arm [-h]")
    usage = arm.stdout.split("\n\n", 1)[0].splitlines()
    assert "python -m localcloud.arm" not in arm.stdout
    assert all(line.startswith(" " * len("usage: respot arm ")) for line in usage[1:])  # wrapped under the name
    run = subprocess.run(
        [sys.executable, "-m", "localcloud.functions", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert run.stdout.startswith("usage: python -m localcloud.functions")


def test_a_first_run_uses_the_sample_settings_starts_arm_and_logs_without_sdk_chatter(tmp_path: Path) -> None:
    app, port, arm_port = _fresh_clone(tmp_path), free_port(), free_port()
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "orchestrator.cli", "serve", "--app", str(app), "--port", str(port)),
            *("--arm-port", str(arm_port), "--db", str(tmp_path / "hub.sqlite")),
        ],
        cwd=REPO,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert "local.settings.sample.json" in first and "cp local.settings.sample.json local.settings.json" in first
        assert second.strip() == f"ARM emulator on http://127.0.0.1:{arm_port}"
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{base}/api/health") == 200, what="respot serve")
        keys = json.loads((tmp_path / "keys.json").read_text())
        vm = f"/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/{DEFAULT_RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/nobody"
        notice = {
            "schema": "respot.preempt/v1",
            "eventType": "Preempt",
            "eventId": "e-1",
            "resourceId": vm,
            "notBefore": "",
            "observedAt": "2026-01-01T00:00:00Z",
        }
        req = urllib.request.Request(
            f"{base}/api/alerts?code={keys['function']}", data=json.dumps(notice).encode(), method="POST"
        )
        assert urllib.request.urlopen(req, timeout=30).status == 202
        # The recovery reads the VM from the emulator the sample points at, moved to --arm-port.
        wait_until(lambda: '"read_vm"' in (tmp_path / "stderr.log").read_text(), timeout=30, what="an activity")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        stderr.close()
    log = (tmp_path / "stderr.log").read_text()
    assert "http_logging_policy" not in log and "Request URL" not in log  # azure-core's per-request INFO lines
    mine = [json.loads(line.split(": ", 1)[1]) for line in log.splitlines() if " localcloud.functions: {" in line]
    assert {"read_vm", "alerts", "recover_vm"} <= {line["function"] for line in mine}  # one line each stays


def test_settings_that_are_still_invalid_stop_with_one_line_naming_the_variable_and_the_fix(tmp_path: Path) -> None:
    app = _fresh_clone(tmp_path, {"Values": {"RESPOT_SUBSCRIPTIONS": "nope"}})
    run = _respot("serve", "--app", str(app), "--port", str(free_port()), env=_clean_env())
    assert run.returncode == 2 and "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("respot serve: ") and "RESPOT_SUBSCRIPTIONS" in line and "nope" in line
    assert "local.settings.json" in line and "cp local.settings.sample.json local.settings.json" in line
    assert "local.settings.sample.json" not in run.stdout  # a local.settings.json exists: no first-run defaults
    # RESPOT_* in the environment and no local.settings.json: behave as before, and say what is missing.
    (app.parent / "local.settings.json").unlink()
    run = _respot(
        "serve", "--app", str(app), "--port", str(free_port()), env=_clean_env(RESPOT_CREDENTIAL="localcloud")
    )
    assert run.returncode == 2 and "RESPOT_SUBSCRIPTIONS: Field required. Fix: set RESPOT_SUBSCRIPTIONS" in run.stderr


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except OSError:
        return 0
