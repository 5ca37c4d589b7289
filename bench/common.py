"""What every benchmark needs: the machine it ran on, percentiles, and an emulator in its own process."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}


def cpu_model() -> str:
    cpu = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return cpu


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator_process(*args: str, scenario: dict[str, Any] | None = None) -> Iterator[str]:
    """``python -m localcloud.arm`` in a subprocess; yields its URL once it answers."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "localcloud.arm", "--port", str(port), *args]
        if scenario is not None:
            path = Path(tmp) / "scenario.json"
            path.write_text(json.dumps(scenario))
            argv += ["--scenario", str(path)]
        proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_localcloud/health", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the emulator did not start") from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def product_env(arm: Any, **extra: str) -> dict[str, str]:
    """respot's settings for an emulator ``arm`` (a localcloud.arm.ArmEmulator), plus ``extra``."""
    return {
        "RESPOT_SUBSCRIPTIONS": arm.subscription,
        "RESPOT_RESOURCE_GROUPS": arm.resource_group,
        "RESPOT_CREDENTIAL": "localcloud",
        "RESPOT_ARM_ENDPOINT": arm.url,
        "RESPOT_LOGS_ENDPOINT": arm.url,
        "RESPOT_PRICES_ENDPOINT": arm.url,
        **extra,
    }


def spot_vm_body(
    subnet: str,
    region: str,
    size: str,
    *,
    zones: list[str] | None = None,
    policy: str = "Deallocate",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Spot VM (Ubuntu, one NIC on ``subnet``, pay up to the regular price) as a create body."""
    nic = {
        "name": "nic",
        "properties": {
            "primary": True,
            "ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": subnet}}}],
        },
    }
    body: dict[str, Any] = {
        "location": region,
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": dict(UBUNTU),
                "osDisk": {"createOption": "FromImage"},
            },
            "osProfile": {"computerName": "vm", "adminUsername": "azureuser", "adminPassword": "Sup3r-secret!"},
            "networkProfile": {"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": [nic]},
            "priority": "Spot",
            "evictionPolicy": policy,
            "billingProfile": {"maxPrice": -1},
        },
    }
    if zones:
        body["zones"] = zones
    if tags:
        body["tags"] = tags
    return body
