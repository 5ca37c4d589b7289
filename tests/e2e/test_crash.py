"""The host is killed (SIGKILL) while a recovery waits for capacity; a new host finishes it, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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
from tests.integration.helpers import activity, control, vm_body, wait_until

pytestmark = pytest.mark.e2e


def serve(
    tmp_path: Path,
    port: int,
    arm: ArmEmulator,
    *,
    speed: float = 1200,
    start: str | None = None,
    log: Path | None = None,
    **env_extra: str,
) -> subprocess.Popen[bytes]:
    """The local Functions host as a subprocess on ``tmp_path``'s task hub (its output to ``log``, or nowhere)."""
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
        str(speed),
        *(["--start", start, "--start-real", str(time.time())] if start else []),
    ]
    env = {**os.environ, **product_env(arm, **env_extra)}
    if log is None:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


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


def test_host_killed_right_after_a_replacements_put_makes_no_second_vm(tmp_path: Path) -> None:
    from tests.e2e.test_redeploy import fleets_file

    fleets = fleets_file(tmp_path)
    with ArmEmulator(clock=Clock(speed=1200)) as arm:
        env = {"RESPOT_FLEETS_FILE": fleets, "RESPOT_LOG_WORKSPACE_ID": "respot-workspace"}
        port = free_port()
        host = serve(tmp_path, port, arm, **env)
        compute = arm.compute_client(retry_total=0)
        try:
            wait_until(lambda: get(f"http://127.0.0.1:{port}/api/health") is not None, timeout=30, what="the host")
            keys = json.loads((tmp_path / "keys.json").read_text())
            alerts = f"http://127.0.0.1:{port}/api/alerts?code={keys['function']}"
            group = {"name": "respot", "url": alerts, "kind": "activityLogAlert", "delay_seconds": 60}
            control(arm, "/action-groups", group)
            body = vm_body(arm, zones=["1"], policy="Delete", tags={"respot-fleet": "web"})
            vm = compute.virtual_machines.begin_create_or_update(arm.resource_group, "web-1", body).result()
            entity = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/entities/member"
            key = _vm_key(str(vm.id))
            wait_until(lambda: isinstance(get(f"{entity}/{key}?code={keys['system']}"), dict), 60, "the sweep")
            control(arm, "/requests", method="DELETE")
            control(arm, "/evict", {"id": str(vm.id)})
            wait_until(lambda: _puts(arm) >= 1, timeout=60, what="the replacement's PUT")
        finally:
            host.send_signal(signal.SIGKILL)  # the activity may not have reported: its create replays
            host.wait(timeout=10)
        host = serve(tmp_path, port, arm, **env)
        out = output_after_restart(host, port, keys, str(vm.id))
        assert (out["outcome"], out["reason"]) == ("recovered", "replaced")
        made = [v for v in compute.virtual_machines.list(arm.resource_group) if (v.tags or {}).get("respot:recovery")]
        # One VM: a create that replays after the kill is create-only (If-None-Match: *), so ARM refuses it with
        # 412 and the activity reads what the first PUT made; only one PUT may have written.
        assert len(made) == 1
        puts = _put_statuses(arm)
        assert puts.count("201") + puts.count("200") == 1 and set(puts) <= {"200", "201", "412"}, puts


def _vm_key(vm_id: str) -> str:
    from orchestrator.domain.scope import parse_vm_id, vm_hash

    return vm_hash(parse_vm_id(vm_id))


def _put_statuses(arm: ArmEmulator) -> list[str]:
    counts = control(arm, "/requests")["counts"]
    return [
        k.split()[-1] for k, n in counts.items() if k.startswith("VirtualMachines_CreateOrUpdate") for _ in range(n)
    ]


def _puts(arm: ArmEmulator) -> int:
    return len(_put_statuses(arm))


def test_host_killed_right_after_arm_accepted_a_start_leaves_the_vm_running_once(tmp_path: Path) -> None:
    """The known edge of an at-least-once try_start: ARM accepted the start (202) and the host died before the
    activity reported. The re-run's guard read finds the VM running and cannot tell respot's unreported start from
    a person's, so the recovery concludes stopped/started_meanwhile: never a second start, and the VM runs."""
    with ArmEmulator(clock=Clock(speed=1200)) as arm:
        port = free_port()
        host = serve(tmp_path, port, arm, start=arm.clock.now().isoformat())
        compute = arm.compute_client(retry_total=0)
        vm = compute.virtual_machines.begin_create_or_update(
            arm.resource_group, "phoenix", vm_body(arm, zones=["1"])
        ).result()
        first, killed = host, []

        def kill_at_the_start(entry: dict[str, Any]) -> None:  # on the emulator's thread, before the 202 leaves
            if entry["operation"] == "VirtualMachines_Start" and entry["status"] == 202 and not killed:
                first.send_signal(signal.SIGKILL)
                killed.append(entry)

        arm.services.requests.listeners.append(kill_at_the_start)
        try:
            wait_until(lambda: get(f"http://127.0.0.1:{port}/api/health") is not None, timeout=30, what="the host")
            keys = json.loads((tmp_path / "keys.json").read_text())
            alerts = f"http://127.0.0.1:{port}/api/alerts?code={keys['function']}"
            control(arm, "/action-groups", {"name": "respot", "url": alerts, "delay_seconds": 60})
            control(arm, "/evict", {"id": str(vm.id)})
            wait_until(lambda: bool(killed), timeout=60, what="ARM accepting respot's start")
        finally:
            host.send_signal(signal.SIGKILL)
            host.wait(timeout=10)
        host = serve(tmp_path, port, arm, start=arm.clock.now().isoformat())
        out = output_after_restart(host, port, keys, str(vm.id))
        assert (out["outcome"], out["reason"]) == ("stopped", "started_meanwhile"), out
        statuses = [s.code for s in compute.virtual_machines.instance_view(arm.resource_group, "phoenix").statuses]
        assert "PowerState/running" in statuses
        starts = [r for r in activity(arm, "/start/action") if r["status"] == "Succeeded"]
        assert len(starts) == 1


def output_after_restart(host: subprocess.Popen[bytes], port: int, keys: dict[str, str], vm_id: str) -> Any:
    """The VM's first recovery's output once it completed on the restarted ``host``, which is then stopped (and
    must exit cleanly)."""
    status_url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances/{Stack.recovery(vm_id)}"
    try:
        wait_until(
            lambda: status_of(f"{status_url}?code={keys['system']}").get("runtimeStatus") == "Completed",
            timeout=90,
            what="the recovery to finish after the restart",
        )
        return status_of(f"{status_url}?code={keys['system']}")["output"]
    finally:
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=20) == 0
