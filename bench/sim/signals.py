"""What respot may know at a moment of the simulated clock, derived from the trace's past only, as a real ``Market``.

At time ``t`` the ticks that have begun (``k * gap <= t``) are the past: a trace value is a probe made at its tick's
start. From them, per decision:
- eviction-rate bucket per (size, region), as Azure's Resource Graph gives it (Azure's rate has no zone): over the
  trailing ``eviction_window`` (Azure: 28 days), 100 x the drops (an available tick followed by an unavailable one:
  a running VM there would have been evicted) per hour of available time, summed over the region's zones, put in
  Azure's buckets "0-5", "5-10", "10-15", "15-20", "20+" (% per hour); no available time at all: unknown;
- placement score per offering (Azure's Spot Placement Score is per region or zone): the share of available ticks
  over the trailing ``placement_window``: High at least ``high``, Medium at least ``medium``, else Low. By default
  the window is the latest tick alone, because Azure says a score "is only valid at the time when it's requested"
  (learn.microsoft.com/azure/virtual-machine-scale-sets/spot-placement-score), and the score is cached as respot's
  market adapter caches it: fetched when a ranking finds no score younger than ``placement_refresh`` (15 minutes,
  ``placement_ttl_seconds``, the shortest cache Azure suggests), and kept that long from then (the simulation keeps
  the fetch time: ``fetched``); the Market says when it is renewed. The experiments (bench.sim.experiments) try
  longer windows and other refresh periods;
- spot prices at the current tick (prices are public and current); quota unknown (not modelled); the shared
  cool-down memory as the simulation keeps it.
The fleet ``Profile`` is built from a fleets document through ``parse_fleets``, as the product reads its file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.sim.prices import PriceError
from bench.sim.world import World
from orchestrator.domain.fleet import Profile, parse_fleets
from orchestrator.domain.placement import Market, Sku

BUCKETS = ((5.0, "0-5"), (10.0, "5-10"), (15.0, "10-15"), (20.0, "15-20"))
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class SignalConfig:
    eviction_window: float = 28 * 86400.0  # seconds: Azure's trailing 28 days
    placement_window: float = 0.0  # seconds of recent ticks behind a placement score (0: the latest tick alone)
    high: float = 2 / 3  # share of available ticks for High
    medium: float = 1 / 3  # ... and for Medium
    placement_refresh: float = 900.0  # seconds a score is kept (the product's placement_ttl_seconds; 0: none)


def bucket(rate: float) -> str:
    """Azure's eviction-rate bucket of a rate in % per hour."""
    return next((name for limit, name in BUCKETS if rate < limit), "20+")


def eviction_rates(world: World, t: float, window: float) -> dict[tuple[str, str], str]:
    k = world.tick(t)
    lo = max(0, k + 1 - max(1, int(window // world.gap)))
    drops: dict[tuple[str, str], int] = {}
    hours: dict[tuple[str, str], float] = {}
    for key, lane in world.lanes.items():
        o = world.offerings[key]
        pair = (o.size.lower(), o.region)
        drops[pair] = drops.get(pair, 0) + lane.drops_cum[k + 1] - lane.drops_cum[lo + 1]
        up = (k + 1 - lo) - (lane.down_cum[k + 1] - lane.down_cum[lo])
        hours[pair] = hours.get(pair, 0.0) + up * world.gap / 3600.0
    return {pair: bucket(100.0 * drops[pair] / h) for pair, h in hours.items() if h > 0}


def placement_scores(world: World, t: float, config: SignalConfig) -> dict[str, str]:
    """The scores a fetch at ``t`` gets."""
    k = world.tick(t)
    lo = max(0, k + 1 - max(1, round(config.placement_window / world.gap)))
    out = {}
    for key, lane in world.lanes.items():
        share = 1.0 - (lane.down_cum[k + 1] - lane.down_cum[lo]) / (k + 1 - lo)
        out[key] = "High" if share >= config.high else "Medium" if share >= config.medium else "Low"
    return out


def fetch_due(fetched: float | None, t: float, config: SignalConfig) -> float:
    """When the scores a ranking at ``t`` sees were fetched: now, unless the last fetch (``fetched``) is younger
    than ``placement_refresh`` (the adapter's cache: ``time.monotonic() - fetched < placement_ttl``)."""
    if fetched is None or config.placement_refresh <= 0 or t - fetched >= config.placement_refresh:
        return t
    return fetched


def market_at(
    world: World,
    t: float,
    *,
    skus: dict[tuple[str, str], Sku],
    cooled: dict[str, datetime],
    config: SignalConfig,
    fetched: float | None = None,
) -> Market:
    """The Market a ranking at ``t`` sees, its scores fetched at ``fetched`` (default: ``t``)."""
    at = t if fetched is None else fetched
    return Market(
        skus=skus,
        spot_prices={(o.size.lower(), o.region): world.price(key, t) for key, o in world.offerings.items()},
        eviction_rates=eviction_rates(world, t, config.eviction_window),
        placement=placement_scores(world, at, config),
        placement_until=world.when(at + config.placement_refresh) if config.placement_refresh > 0 else None,
        cooled=dict(cooled),
    )


def skus(world: World, sizes: dict[str, tuple[int, float]]) -> dict[tuple[str, str], Sku]:
    """One Sku per (region, size) of the set, offered in the zones that have a trace (quota is not modelled)."""
    zones: dict[tuple[str, str], set[str]] = {}
    names: dict[str, str] = {}
    for o in world.offerings.values():
        zones.setdefault((o.region, o.size.lower()), set()).add(o.zone)
        names[o.size.lower()] = o.size
    out = {}
    for (region, lower), zs in zones.items():
        vcpus, memory = sizes.get(lower, (1, 1.0))
        out[(region, lower)] = Sku(names[lower], vcpus, memory, family=names[lower], zones=tuple(sorted(zs - {""})))
    return out


def load_vm_skus(path: Path | None) -> dict[str, tuple[int, float]]:
    """vCPUs and memory per size from vm_skus.csv (only for the Sku records; the profile sets no minimums).
    Raises :class:`PriceError` naming the file and row: it sits beside the prices and is read with them."""
    if path is None or not path.exists():
        return {}
    sizes = {}
    try:
        with path.open(newline="") as fh:
            for line, r in enumerate(csv.DictReader(fh), start=2):
                name, size = _sku_row(r, path, line)
                sizes[name] = size
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PriceError(f"{path}: not readable ({exc})") from None
    return sizes


def _sku_row(r: dict[str, str], path: Path, line: int) -> tuple[str, tuple[int, float]]:
    try:
        return r["Name"].lower(), (int(r["vCPUs"]), float(r["MemoryGB"]))
    except (KeyError, AttributeError, TypeError, ValueError):
        raise PriceError(f"{path}:{line}: expected the columns Name, vCPUs, MemoryGB") from None


def profile(world: World, strategy: str) -> Profile:
    """The fleet profile of one member that may go to any offering of the set, through the product's parser."""
    regions: dict[str, set[str]] = {}
    for o in world.offerings.values():
        regions.setdefault(o.region, set()).add(o.zone)
    subnet = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/bench/providers/Microsoft.Network/virtualNetworks/bench/subnets/"
    )
    document = {
        "fleets": [
            {
                "name": "bench",
                "desired": 1,
                "template": {
                    "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
                    "admin": {"username": "bench", "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 bench"},
                },
                "sizes": sorted({o.size for o in world.offerings.values()}),
                "placements": [
                    {"region": r, "zones": sorted(zs - {""}), "subnet": subnet + r} for r, zs in sorted(regions.items())
                ],
                "strategy": strategy,
            }
        ]
    }
    return parse_fleets(document).fleets[0]
