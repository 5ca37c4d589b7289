"""ARM emulator throughput and latency through the real azure-mgmt-compute client.

- GET: VirtualMachines_Get from one client, then from two client processes at once (one Python client is
  bound by the SDK's own cost, about 1.3 ms a request, so it cannot show what the emulator sustains).
  Throttling is off: one VM allows a burst of 36 GETs in Azure, and this measures the server, not the bucket.
- LRO: a full create with 2 s of simulated provisioning at speed 1. The SDK makes 4 round trips (PUT, an
  immediate status poll, a poll at Retry-After, a final GET). The emulator's overhead is its handler time for
  those requests plus how late, after the operation was due, a poller learns it has ended. Retry-After is whole
  seconds of simulated time, which at speed 1 are real seconds: the client needs no clock to wait them out.
Targets (issue #2): at least 500 GET/s; at most 5 ms of emulator overhead per create.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import urllib.request
from datetime import datetime
from typing import Any

from bench.common import emulator_process, machine, median, pct
from localcloud.arm.clients import compute_client
from localcloud.arm.scenario import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, default_subnet

RG = DEFAULT_RESOURCE_GROUP
PROVISIONING = 2.0


def body(region: str = "eastus") -> dict[str, Any]:
    subnet = default_subnet(DEFAULT_SUBSCRIPTION, RG, region)
    nic = {
        "name": "nic",
        "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": subnet}}}]},
    }
    return {
        "location": region,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "priority": "Spot",
            "evictionPolicy": "Deallocate",
            "billingProfile": {"maxPrice": -1},
            "storageProfile": {
                "imageReference": {"publisher": "Canonical", "offer": "ubuntu", "sku": "server", "version": "latest"}
            },
            "osProfile": {"computerName": "b", "adminUsername": "azureuser"},
            "networkProfile": {"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": [nic]},
        },
    }


def control(url: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(f"{url}/_localcloud{path}", method=method)
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def _gets(url: str, n: int, start_at: float = 0.0) -> tuple[list[float], float]:
    """n sequential GETs after a warm-up; returns latencies (ms) and the seconds they took."""
    client = compute_client(url, DEFAULT_SUBSCRIPTION, retry_total=0)
    for _ in range(50):
        client.virtual_machines.get(RG, "bench")
    while time.time() < start_at:  # client processes start measuring together
        time.sleep(0.001)
    lat = []
    began = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        client.virtual_machines.get(RG, "bench")
        lat.append((time.perf_counter() - t) * 1000)
    return lat, time.perf_counter() - began


def _line(label: str, count: int, seconds: float, lat: list[float]) -> str:
    return f"{label:<22}{count / seconds:7.0f} req/s   p50 {median(lat):.2f} ms   p99 {pct(lat, 99):.2f} ms   ({count} requests)"


def bench_get(url: str, n: int = 2000) -> list[str]:
    compute_client(url, DEFAULT_SUBSCRIPTION).virtual_machines.begin_create_or_update(RG, "bench", body()).result()
    lat, seconds = _gets(url, n)
    lines = [_line("GET, 1 client:", n, seconds, lat)]
    control(url, "/requests", method="DELETE")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        start_at = time.time() + 3.0
        results = pool.starmap(_gets, [(url, n, start_at)] * 2)
    both = [x for r, _ in results for x in r]
    wall = max(s for _, s in results)
    server = [e["ms"] for e in control(url, "/requests")["entries"] if e["operation"] == "VirtualMachines_Get"]
    lines.append(_line("GET, 2 client procs:", len(both), wall, both))
    lines.append(f"{'':<22}emulator handler p50 {median(server):.3f} ms, p99 {pct(server, 99):.3f} ms per GET")
    return lines


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def bench_lro(url: str, n: int = 10) -> list[str]:
    client = compute_client(url, DEFAULT_SUBSCRIPTION, retry_total=0)
    client.virtual_machines.get  # noqa: B018 - build the pipeline before timing
    control(url, "/requests", method="DELETE")
    walls = []
    for i in range(n):
        t = time.perf_counter()
        client.virtual_machines.begin_create_or_update(RG, f"lro{i}", body()).result()
        walls.append((time.perf_counter() - t - PROVISIONING) * 1000)
    log = control(url, "/requests")["entries"]
    ops = [
        o
        for o in control(url, "/operations")["value"]
        if o["name"] == "write" and o["resource_id"].split("/")[-1].startswith("lro")
    ]
    late = [(_parse(o["reported_at"]) - _parse(o["expected_end"])).total_seconds() * 1000 for o in ops]
    handler = sum(e["ms"] for e in log) / n
    emulator = [lt + handler for lt in late]
    return [
        f"create LRO:           {PROVISIONING:.0f} s simulated provisioning at 1x, {n} creates, {len(log) / n:.0f} round trips each (the SDK's)",
        (
            f"{'':<22}emulator overhead median {median(emulator):.2f} ms, max {max(emulator):.2f} ms "
            f"(handlers {handler:.2f} ms + completion reported {median(late):.2f} ms after due)"
        ),
        f"{'':<22}client-observed wall beyond provisioning: median {median(walls):.1f} ms (mostly azure-core's per-request cost)",
    ]


def main() -> list[str]:
    lines = [f"ARM emulator through azure-mgmt-compute 39 ({machine()})"]
    with emulator_process("--no-throttling", scenario={"durations": {"create": PROVISIONING}}) as url:
        lines += bench_get(url)
        lines += bench_lro(url)
    return lines
