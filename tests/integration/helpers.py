"""Request bodies and control-API calls shared by the integration tests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

from localcloud.arm import ArmEmulator
from localcloud.arm.scenario import default_subnet


class Scope(Protocol):
    """Where a request body points: the emulator (ArmEmulator) or a real subscription (tests.live.Cloud)."""

    @property
    def subscription(self) -> str: ...

    @property
    def resource_group(self) -> str: ...


IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}


def vm_body(
    arm: Scope,
    *,
    region: str = "eastus",
    size: str = "Standard_D2s_v5",
    priority: str | None = "Spot",
    policy: str | None = "Deallocate",
    max_price: float | None = -1,
    zones: list[str] | None = None,
    subnet: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"imageReference": IMAGE, "osDisk": {"createOption": "FromImage"}},
        "osProfile": {"computerName": "vm", "adminUsername": "azureuser", "adminPassword": "Sup3r-secret!"},
        "networkProfile": {
            "networkApiVersion": "2020-11-01",
            "networkInterfaceConfigurations": [
                {
                    "name": "nic",
                    "properties": {
                        "primary": True,
                        "ipConfigurations": [
                            {
                                "name": "ipconfig",
                                "properties": {
                                    "subnet": {
                                        "id": subnet or default_subnet(arm.subscription, arm.resource_group, region)
                                    }
                                },
                            }
                        ],
                    },
                }
            ],
        },
    }
    if priority is not None:
        props["priority"] = priority
    if policy is not None:
        props["evictionPolicy"] = policy
    if max_price is not None:
        props["billingProfile"] = {"maxPrice": max_price}
    body: dict[str, Any] = {"location": region, "properties": props, "tags": tags or {}}
    if zones:
        body["zones"] = zones
    return body


def vmss_body(
    arm: ArmEmulator,
    *,
    capacity: int,
    policy: str = "Deallocate",
    region: str = "eastus",
    size: str = "Standard_D2s_v5",
    restore: dict[str, Any] | None = None,
    flexible: bool = False,
    zones: list[str] | None = None,
) -> dict[str, Any]:
    """A Spot scale set with a model; ``restore``: its spotRestorePolicy; ``flexible``: Flexible orchestration."""
    vm = vm_body(arm, region=region, size=size)["properties"]
    profile = {
        "storageProfile": vm["storageProfile"],
        "osProfile": {"computerNamePrefix": "ss", "adminUsername": "azureuser", "adminPassword": "Sup3r-secret!"},
        "networkProfile": {"networkInterfaceConfigurations": vm["networkProfile"]["networkInterfaceConfigurations"]},
        "priority": "Spot",
        "evictionPolicy": policy,
        "billingProfile": {"maxPrice": -1},
    }
    props: dict[str, Any] = {"virtualMachineProfile": profile}
    if restore is not None:
        props["spotRestorePolicy"] = restore  # a property of the set (VirtualMachineScaleSetProperties)
    props.update({"orchestrationMode": "Flexible"} if flexible else {"upgradePolicy": {"mode": "Manual"}})
    body: dict[str, Any] = {
        "location": region,
        "sku": {"name": size, "tier": "Standard", "capacity": capacity},
        "properties": props,
    }
    if zones:
        body["zones"] = zones
    return body


def autoscale_body(target: str, *, minimum: int, maximum: int, default: int, enabled: bool = True) -> dict[str, Any]:
    """An autoscale setting with one default profile and no rules (the emulator has no metrics)."""
    capacity = {"minimum": str(minimum), "maximum": str(maximum), "default": str(default)}
    return {
        "location": "eastus",
        "properties": {
            "profiles": [{"name": "default", "capacity": capacity, "rules": []}],
            "enabled": enabled,
            "targetResourceUri": target,
        },
    }


def graph(arm: ArmEmulator, query: str) -> list[dict[str, Any]]:
    """Rows of a Resource Graph query (the REST call azure-mgmt-resourcegraph makes)."""
    path = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    status, _, body = raw(arm, "POST", path, {"subscriptions": [arm.subscription], "query": query})
    assert status == 200, body
    rows: list[dict[str, Any]] = body["data"]
    return rows


def activity(arm: ArmEmulator, suffix: str) -> list[dict[str, Any]]:
    """Activity Log records whose operation ends with ``suffix`` (any case), oldest first."""
    records: list[dict[str, Any]] = control(arm, "/activity-log")["value"]
    return [r for r in records if r["operation_name"].lower().endswith(suffix.lower())]


def control(arm: ArmEmulator, path: str, body: Any | None = None, method: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{arm.url}/_localcloud{path}", data=data, method=method or ("POST" if data else "GET")
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def raw(
    arm: ArmEmulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "localcloud:test",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """A plain HTTP request, for what the SDK would never send (malformed bodies, missing auth)."""
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"{arm.url}{path}", data=payload, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
            return resp.status, dict(resp.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, dict(err.headers), json.loads(text) if text else None


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true: the emulator's world moves on its own clock, on another thread."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        event.wait(0.01)


def power_state(compute: Any, rg: str, name: str) -> str:
    statuses = compute.virtual_machines.instance_view(rg, name).statuses
    return next(s.code for s in statuses if s.code.startswith("PowerState/"))
