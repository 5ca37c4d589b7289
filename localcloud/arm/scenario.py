"""Scenarios: the world the emulator starts in and what happens to it over time, from a JSON document.

```json
{
  "seed": 7,
  "subscriptions": {"<subscription id>": {"resourceGroups": ["respot-demo"]}},
  "subnets": [{"id": "/subscriptions/.../virtualNetworks/vnet-eastus/subnets/default", "region": "eastus"}],
  "capacity": [{"region": "eastus", "size": "Standard_D2s_v5", "zone": "1", "available": 3},
               {"region": "westus", "size": "Standard_E4s_v5", "available": 0, "code": "OverconstrainedAllocationRequest"}],
  "prices": [{"region": "eastus", "size": "Standard_D2s_v5", "price": 0.02}],
  "evictionRates": [{"region": "eastus", "size": "Standard_D2s_v5", "rate": "5-10"}],
  "quotas": [{"region": "eastus", "name": "lowPriorityCores", "limit": 20}],
  "restrictions": [{"region": "westus", "size": "Standard_E2s_v5"}],
  "durations": {"create": 40, "start": 25, "preempt_notice": 30},
  "throttling": true,
  "actionGroups": [{"name": "respot", "url": "http://127.0.0.1:7071/api/alerts", "kind": "activityLogAlert", "delay_seconds": 60}],
  "timeline": [{"at": "PT10M", "capacity": {"region": "eastus", "size": "Standard_D2s_v5", "available": 0}},
               {"at": 3600, "price": {"region": "eastus", "size": "Standard_D2s_v5", "price": 0.05}}],
  "traces": [{"file": "us-west-2a_v100_1.json", "region": "eastus", "zone": "1", "size": "Standard_NC6s_v3", "slots": 2}],
  "vaults": [{"name": "respot-kv", "secrets": {"ssh-key": "ssh-ed25519 AAAA... me"},
              "roleAssignments": {"respot": "Key Vault Secrets User"}}]
}
```

Trace mapping (``../shared/data/spot-traces``, FORMAT.md): tick ``i`` happens at ``startTick`` offset
``(i - startTick) * gap_seconds`` of simulated time. In a 1-node trace, 1 means spot could NOT be had, so the
pool's capacity becomes 0 (recalling whatever runs there); 0 means it could, so the capacity becomes ``slots``.
Multi-node traces hold counts, which become the capacity directly. With ``"usePrices": true`` a preemption
trace's ``prices`` set the spot price of the (region, size) at each tick.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from localcloud.arm import catalog, evictions, keyvault
from localcloud.arm.backend import Backend, Durations
from localcloud.arm.models import AllocationFault, Json, Nic

DEFAULT_SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
DEFAULT_RESOURCE_GROUP = "respot-demo"


# What an empty pool answers (capacity "code"); the zonal variant follows the VM (pinned to a zone or not).
EMPTY_CODES = ("AllocationFailed", "OverconstrainedAllocationRequest")
SERVICE_KEYS = {"throttling", "actionGroups", "faults"}  # applied by the emulator's services, not the backend


class ScenarioError(ValueError):
    pass


def default_subnet(sub: str, rg: str, region: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet-{region}/subnets/default"


def default_scenario() -> Json:
    """One subscription, one resource group, a default subnet in every region, Azure-like defaults otherwise."""
    return {
        "subscriptions": {DEFAULT_SUBSCRIPTION: {"resourceGroups": [DEFAULT_RESOURCE_GROUP]}},
        "subnets": [
            {"id": default_subnet(DEFAULT_SUBSCRIPTION, DEFAULT_RESOURCE_GROUP, r), "region": r}
            for r in catalog.REGIONS
        ],
    }


def parse_at(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", value.upper())
        if m and any(m.groups()):
            d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
            return timedelta(days=d, hours=h, minutes=mi, seconds=s).total_seconds()
    raise ScenarioError(f"{where}: 'at' must be seconds or an ISO 8601 duration like PT10M, not {value!r}")


def _req(obj: Any, key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ScenarioError(f"{where}: missing '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ScenarioError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _size(obj: Any, where: str) -> str:
    size = _req(obj, "size", where)
    if catalog.size_of(size) is None:
        raise ScenarioError(f"{where}.size: unknown VM size {size!r}")
    return catalog.canonical_size(size)


def _region(b: Backend, obj: Any, where: str) -> str:
    region = str(_req(obj, "region", where)).lower()
    if region not in b.world.regions:
        raise ScenarioError(f"{where}.region: unknown region {region!r}")
    return region


CAPACITY_KEYS = {"region", "size", "zone", "available", "code"}
PRICE_KEYS = {"region", "size", "price"}
TRACE_KEYS = {"file", "region", "zone", "size", "slots", "gapSeconds", "startTick", "usePrices"}


def _known(spec: Any, keys: set[str], where: str) -> None:
    """A misspelt key (``slots`` for ``available``) is named, not silently ignored until something fails later."""
    if not isinstance(spec, dict):
        raise ScenarioError(f"{where}: expected an object")
    unknown = set(spec) - keys
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(keys))})")


def _count(spec: Json, key: str, where: str, default: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScenarioError(f"{where}.{key}: expected a whole number >= 0, got {value!r}")
    return value


def _zones(b: Backend, region: str, zone: Any, where: str) -> list[str]:
    slots = [str(zone)] if zone not in (None, "") else list(b.slots_of(region))
    for slot in slots:
        if slot not in b.slots_of(region):
            raise ScenarioError(f"{where}.zone: region {region} has no zone {slot!r}")
    return slots


@dataclass(frozen=True)
class _Capacity:
    region: str
    size: str
    slots: list[str]
    available: int
    code: str | None


def _capacity(b: Backend, spec: Any, where: str) -> _Capacity:
    _known(spec, CAPACITY_KEYS, where)
    region, size = _region(b, spec, where), _size(spec, where)
    available = _req(spec, "available", where, int)
    if available < 0:
        raise ScenarioError(f"{where}.available: must be >= 0")
    code = spec.get("code")
    if code is not None and code not in EMPTY_CODES:
        raise ScenarioError(f"{where}.code: one of {', '.join(EMPTY_CODES)}")
    return _Capacity(region, size, _zones(b, region, spec.get("zone"), where), available, code)


def set_capacity(b: Backend, spec: Json, where: str = "capacity") -> list[str]:
    c = _capacity(b, spec, where)
    evicted: list[str] = []
    for slot in c.slots:
        b.world.capacity[(c.region, slot, c.size.lower())] = c.available
        if c.code is not None:
            b.world.empty_codes[(c.region, slot, c.size.lower())] = c.code
        evicted += evictions.on_capacity_change(b, c.region, slot, c.size)
    return evicted


def _price(b: Backend, spec: Any, where: str) -> tuple[str, str, float]:
    _known(spec, PRICE_KEYS, where)
    region, size = _region(b, spec, where), _size(spec, where)
    price = _req(spec, "price", where, (int, float))
    if not math.isfinite(price) or price <= 0:
        raise ScenarioError(f"{where}.price: must be > 0")
    return region, size, float(price)


def set_price(b: Backend, spec: Json, where: str = "price") -> list[str]:
    region, size, price = _price(b, spec, where)
    b.world.prices[(region, size.lower())] = price
    b.world.price_history.append((b.now(), region, size.lower(), price))
    return evictions.on_price_change(b, region, size)


def apply(b: Backend, doc: Any, *, base_dir: Path | None = None) -> None:
    """Apply a scenario document (merging into the current world). Raises :class:`ScenarioError`."""
    if not isinstance(doc, dict):
        raise ScenarioError("a scenario is a JSON object")
    unknown = set(doc) - set(_SECTIONS) - SERVICE_KEYS - {"seed", "speed", "start", "$schema", "description"}
    if unknown:
        raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
    for key, fn in _SECTIONS.items():
        if key in doc:
            fn(b, doc[key], base_dir or Path.cwd())


def _subscriptions(b: Backend, value: Any, _: Path) -> None:
    if not isinstance(value, dict):
        raise ScenarioError("subscriptions: expected an object of subscription id -> {resourceGroups: [...]}")
    for sub, spec in value.items():
        b.world.subscriptions.add(sub.lower())
        for rg in (spec or {}).get("resourceGroups", []):
            b.world.resource_groups[(sub.lower(), str(rg).lower())] = str(rg)


def _subnets(b: Backend, value: Any, _: Path) -> None:
    for i, spec in enumerate(_list(value, "subnets")):
        b.world.subnets[str(_req(spec, "id", f"subnets[{i}]")).lower()] = _region(b, spec, f"subnets[{i}]")


def _nics(b: Backend, value: Any, _: Path) -> None:
    """Existing network interfaces a VM can reference through networkProfile.networkInterfaces."""
    for i, spec in enumerate(_list(value, "nics")):
        nic_id = str(_req(spec, "id", f"nics[{i}]"))
        region = _region(b, spec, f"nics[{i}]")
        name = nic_id.rsplit("/", 1)[-1]
        b.world.nics[nic_id.lower()] = Nic(
            nic_id, name, region, str(spec.get("subnet", "")), None, delete_with_vm=False
        )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected a list")
    return value


def _each(fn: Callable[[Backend, Json, str], object], key: str) -> Callable[[Backend, Any, Path], None]:
    def run(b: Backend, value: Any, _: Path) -> None:
        for i, spec in enumerate(_list(value, key)):
            fn(b, spec, f"{key}[{i}]")

    return run


def _eviction_rate(b: Backend, spec: Json, where: str) -> None:
    rate = _req(spec, "rate", where)
    if rate not in ("0-5", "5-10", "10-15", "15-20", "20+"):
        raise ScenarioError(f"{where}.rate: one of 0-5, 5-10, 10-15, 15-20, 20+")
    b.world.eviction_rates[(_region(b, spec, where), _size(spec, where).lower())] = rate


def set_quota(b: Backend, spec: Json, where: str = "quota") -> None:
    region = _region(b, spec, where)
    limit = _req(spec, "limit", where, int)
    sub = str(spec.get("subscription") or next(iter(sorted(b.world.subscriptions)), DEFAULT_SUBSCRIPTION)).lower()
    b.world.quotas[(sub, region, _req(spec, "name", where))] = limit


def _restriction(b: Backend, spec: Json, where: str) -> None:
    b.world.restrictions.add((_region(b, spec, where), str(spec.get("zone") or ""), _size(spec, where).lower()))


def _durations(b: Backend, value: Any, _: Path) -> None:
    if not isinstance(value, dict):
        raise ScenarioError("durations: expected an object")
    for key, seconds in value.items():
        if not hasattr(b.durations, key):
            raise ScenarioError(f"durations.{key}: unknown (known: {', '.join(Durations.__dataclass_fields__)})")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ScenarioError(f"durations.{key}: expected seconds >= 0")
        setattr(b.durations, key, float(seconds))


def _timeline(b: Backend, value: Any, _: Path) -> None:
    for i, step in enumerate(_list(value, "timeline")):
        where = f"timeline[{i}]"
        at = parse_at(_req(step, "at", where, (int, float, str)), where)
        actions = {k: v for k, v in step.items() if k != "at"}
        if len(actions) != 1 or next(iter(actions)) not in ("capacity", "price", "evict"):
            raise ScenarioError(f"{where}: exactly one of capacity, price, evict")
        kind, spec = next(iter(actions.items()))
        _validate_step(b, kind, spec, where)
        b.schedule(at - b.clock.elapsed(), f"{where} {kind}", _step(b, kind, spec, f"{where}.{kind}"))


def _validate_step(b: Backend, kind: str, spec: Any, where: str) -> None:
    """Check the whole step now, as the docs promise: a bad one found when it fires is a traceback in a log."""
    if kind == "capacity":
        _capacity(b, spec, f"{where}.capacity")
    elif kind == "price":
        _price(b, spec, f"{where}.price")
    elif not isinstance(spec, str):
        raise ScenarioError(f"{where}.evict: expected a VM resource id")


def _step(b: Backend, kind: str, spec: Any, where: str) -> Callable[[], None]:
    def run() -> None:
        if kind == "capacity":
            set_capacity(b, spec, where)
        elif kind == "price":
            set_price(b, spec, where)
        else:
            vm = b.world.vms.get(str(spec).lower())
            if vm is not None:
                evictions.schedule_eviction(b, vm, reason="capacity")

    return run


@dataclass(frozen=True)
class _Trace:
    region: str
    size: str
    zone: str
    slots: int
    gap: float
    start: int
    ticks: list[int]
    prices: list[float] | None


def _traces(b: Backend, value: Any, base_dir: Path) -> None:
    for i, spec in enumerate(_list(value, "traces")):
        _schedule_trace(b, _trace(b, spec, base_dir, f"traces[{i}]"), f"traces[{i}]")


def _trace(b: Backend, spec: Any, base_dir: Path, where: str) -> _Trace:
    """Every field and every tick checked at load, so that no tick fails later, one per tick, without its path."""
    _known(spec, TRACE_KEYS, where)
    path = Path(_req(spec, "file", where))
    path = path if path.is_absolute() else base_dir / path
    doc = _read_trace(path, where)
    region, size = _region(b, spec, where), _size(spec, where)
    zone = str(spec.get("zone") or "")
    if zone:
        _zones(b, region, zone, where)
    gap = spec.get("gapSeconds") or doc.get("metadata", {}).get("gap_seconds", 600)
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap) or gap <= 0:
        raise ScenarioError(
            f"{where}.gapSeconds: expected seconds > 0 (or the file's metadata.gap_seconds), got {gap!r}"
        )
    ticks = doc.get("data") or []
    if not isinstance(ticks, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ticks):
        raise ScenarioError(f"{where}.file: {path}: 'data' must be a list of whole numbers >= 0")
    prices = doc.get("prices") if spec.get("usePrices") else None
    if prices is not None and (not isinstance(prices, list) or not all(_positive(p) for p in prices)):
        raise ScenarioError(f"{where}.file: {path}: 'prices' must be a list of prices > 0")
    slots, start = _count(spec, "slots", where, 1), _count(spec, "startTick", where, 0)
    return _Trace(region, size, zone, slots, float(gap), start, ticks, prices)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _read_trace(path: Path, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{where}.file: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata", {}), dict):
        raise ScenarioError(f"{where}.file: {path} is not a trace (FORMAT.md: an object with metadata and data)")
    return doc


def _schedule_trace(b: Backend, t: _Trace, where: str) -> None:
    one_node = all(v in (0, 1) for v in t.ticks)
    previous = None
    for tick in range(t.start, len(t.ticks)):
        cap = (0 if t.ticks[tick] == 1 else t.slots) if one_node else t.ticks[tick]
        at = (tick - t.start) * t.gap
        if cap != previous:
            step = {"region": t.region, "size": t.size, "available": cap, **({"zone": t.zone} if t.zone else {})}
            b.schedule(
                at - b.clock.elapsed(), f"{where} tick {tick}", _step(b, "capacity", step, f"{where} tick {tick}")
            )
            previous = cap
        if t.prices and tick < len(t.prices):
            step = {"region": t.region, "size": t.size, "price": float(t.prices[tick])}
            b.schedule(
                at - b.clock.elapsed(), f"{where} price {tick}", _step(b, "price", step, f"{where} price {tick}")
            )


def add_allocation_fault(b: Backend, spec: Json, where: str = "faults.allocation") -> None:
    """Queue ``count`` allocation failures with ``code`` (optionally for one VM ``id``, a region or a size)."""
    code = _req(spec, "code", where)
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ScenarioError(f"{where}.count: expected a whole number >= 1")
    vm_id, message = spec.get("id"), spec.get("message")
    if vm_id is not None and not isinstance(vm_id, str):
        raise ScenarioError(f"{where}.id: expected a VM resource id")
    if message is not None and not isinstance(message, str):
        raise ScenarioError(f"{where}.message: expected a string")
    region = str(spec["region"]).lower() if spec.get("region") else None
    b.allocation_faults.append(AllocationFault(code, count, region, spec.get("size"), vm_id, message))


def _vault(b: Backend, spec: Json, where: str) -> None:
    """A Key Vault (localcloud.arm.keyvault.put_vault); ``roleAssignments`` absent: open to every caller."""
    try:
        keyvault.put_vault(b, spec, subscription=DEFAULT_SUBSCRIPTION, resource_group=DEFAULT_RESOURCE_GROUP)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


_SECTIONS: dict[str, Callable[[Backend, Any, Path], None]] = {
    "subscriptions": _subscriptions,
    "subnets": _subnets,
    "nics": _nics,
    "capacity": _each(set_capacity, "capacity"),
    "prices": _each(set_price, "prices"),
    "evictionRates": _each(_eviction_rate, "evictionRates"),
    "quotas": _each(set_quota, "quotas"),
    "restrictions": _each(_restriction, "restrictions"),
    "durations": _durations,
    "timeline": _timeline,
    "traces": _traces,
    "vaults": _each(_vault, "vaults"),
}
