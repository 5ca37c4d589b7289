"""The host is killed (SIGKILL) while a recovery waits for capacity; a new host finishes it, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.common import free_port
from localcloud.arm import ArmEmulator
from localcloud.clock import Clock
from tests.conftest import REPO
from tests.e2e.conftest import SIZE, Stack, product_env
from tests.integration.helpers import control, vm_body, wait_until

pytestmark = pytest.mark.e2e


def serve(tmp_path: Path, port: int, arm: ArmEmulator) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "localcloud.functions",
        "--app",
        str(REPO / "function_app.py"),
        "--port",
        str(port),
        "--db",
        str(tmp_path / "hub.sqlite"),
        "--speed",
        "1200",
    ]
    env = {**os.environ, **product_env(arm)}
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read() or b"null")
    except OSError:
        return None


def status_of(url: str) -> dict[str, Any]:
    body = get(url)
    return body if isinstance(body, dict) else {}  # 404: a message string


def test_host_killed_mid_recovery_recovers_the_vm_once(tmp_path: Path) -> None:
    with ArmEmulator(clock=Clock(speed=1200)) as arm:
        port = free_port()
        host = serve(tmp_path, port, arm)
        try:
            wait_until(lambda: get(f"http://127.0.0.1:{port}/api/health") is not None, timeout=30, what="the host")
            keys = json.loads((tmp_path / "keys.json").read_text())
            control(
                arm,
                "/action-groups",
                {
                    "name": "respot",
                    "url": f"http://127.0.0.1:{port}/api/alerts?code={keys['function']}",
                    "kind": "activityLogAlert",
                    "delay_seconds": 60,
                },
            )
            compute = arm.compute_client(retry_total=0)
            vm = compute.virtual_machines.begin_create_or_update(
                arm.resource_group, "phoenix", vm_body(arm, zones=["1"])
            ).result()
            control(arm, "/capacity", {"region": "eastus", "zone": "1", "size": SIZE, "available": 0})
            hooks = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances"
            status_url = f"{hooks}/{Stack.recovery(str(vm.id))}?code={keys['system']}"
            strategy_url = f"{hooks}/{Stack.recovery(str(vm.id))}:restart?code={keys['system']}"
            wait_until(
                lambda: (status_of(strategy_url).get("customStatus") or {}).get("phase") == "waiting",
                timeout=60,
                what="the recovery to wait",
            )
        finally:
            host.send_signal(signal.SIGKILL)
            host.wait(timeout=10)
        control(arm, "/capacity", {"region": "eastus", "zone": "1", "size": SIZE, "available": 1})
        host = serve(tmp_path, port, arm)
        try:
            wait_until(
                lambda: status_of(status_url).get("runtimeStatus") == "Completed",
                timeout=90,
                what="the recovery to finish after the restart",
            )
            assert status_of(status_url)["output"]["outcome"] == "recovered"
        finally:
            host.send_signal(signal.SIGTERM)
            assert host.wait(timeout=20) == 0
        statuses = [s.code for s in compute.virtual_machines.instance_view(arm.resource_group, "phoenix").statuses]
        assert "PowerState/running" in statuses
        starts = [
            r
            for r in control(arm, "/activity-log")["value"]
            if r["operation_name"].endswith("/start/action") and r["status"] == "Succeeded"
        ]
        assert len(starts) == 1
