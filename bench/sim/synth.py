"""Seeded synthetic trace sets in the spot-traces format, for regimes the shared traces do not cover.

Each offering's availability is a two-state Markov chain per tick (mean time up, mean time down), whose means a
regime may change over time or share between offerings. The offerings are Azure-named (``eastus-1_Standard_D4s_v5``)
so the price CSV prices them directly. The same seed gives the same files, byte for byte (``random.Random`` seeded
with a string is stable across runs and platforms).

Regimes:
- ``mostly_available``: long runs up (1-4 days), short gaps (5-30 min), each offering its own;
- ``bursty``: calm (up 12-48 h, down 15 min) broken by storms (every ~day, ~3 h) in which every offering flaps (up
  30 min, down 45 min on average);
- ``region_dying``: one region decays over the week from up 24 h / down 10 min to up 20 min / down 4 h; the others
  stay moderate (up 6-24 h, down 10-60 min);
- ``correlated_zones``: each region has a driver (up 8 h, down 1 h) that takes all its zones and sizes down
  together, under independent noise per offering (up 24 h, down 20 min).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

GAP = 300.0
DAYS = 7
START = datetime(2023, 12, 15, tzinfo=UTC)  # prices as of the CSV's 2023-12-01 rows
SIZES = ("Standard_D4s_v5", "Standard_E4s_v5")
REGIONS = ("eastus", "eastus2", "westus2")
ZONES = ("1", "2", "3")
H, M = 3600.0, 60.0

Means = Callable[[int], tuple[float, float]]  # tick -> (mean seconds up, mean seconds down)


def chain(rng: random.Random, ticks: int, means: Means) -> list[bool]:
    """True where spot could NOT be had."""
    down, out = False, []
    for k in range(ticks):
        up_mean, down_mean = means(k)
        if rng.random() < GAP / (down_mean if down else up_mean):
            down = not down
        out.append(down)
    return out


def _offerings() -> list[tuple[str, str, str]]:
    return [(r, z, s) for r in REGIONS for z in ZONES for s in SIZES]


def steady(up: float, down: float) -> Means:
    return lambda k: (up, down)


def stormy(storms: list[bool], calm: float) -> Means:
    return lambda k: (30 * M, 45 * M) if storms[k] else (calm, 15 * M)


def decaying(ticks: int) -> Means:
    """From up 24 h / down 10 min at the start to up 20 min / down 4 h at the end."""
    return lambda k: (24 * H + (20 * M - 24 * H) * k / ticks, 10 * M + (4 * H - 10 * M) * k / ticks)


def mostly_available(seed: str, ticks: int) -> dict[str, list[bool]]:
    out = {}
    for r, z, s in _offerings():
        rng = random.Random(f"{seed}/mostly/{r}/{z}/{s}")
        out[f"{r}-{z}_{s}"] = chain(rng, ticks, steady(rng.uniform(24 * H, 96 * H), rng.uniform(5 * M, 30 * M)))
    return out


def bursty(seed: str, ticks: int) -> dict[str, list[bool]]:
    storms = chain(random.Random(f"{seed}/bursty/storms"), ticks, steady(24 * H, 3 * H))
    out = {}
    for r, z, s in _offerings():
        rng = random.Random(f"{seed}/bursty/{r}/{z}/{s}")
        out[f"{r}-{z}_{s}"] = chain(rng, ticks, stormy(storms, rng.uniform(12 * H, 48 * H)))
    return out


def region_dying(seed: str, ticks: int) -> dict[str, list[bool]]:
    out = {}
    for r, z, s in _offerings():
        rng = random.Random(f"{seed}/dying/{r}/{z}/{s}")
        means = decaying(ticks) if r == REGIONS[0] else steady(rng.uniform(6 * H, 24 * H), rng.uniform(10 * M, 60 * M))
        out[f"{r}-{z}_{s}"] = chain(rng, ticks, means)
    return out


def correlated_zones(seed: str, ticks: int) -> dict[str, list[bool]]:
    drivers = {r: chain(random.Random(f"{seed}/corr/{r}"), ticks, steady(8 * H, 1 * H)) for r in REGIONS}
    out = {}
    for r, z, s in _offerings():
        noise = chain(random.Random(f"{seed}/corr/{r}/{z}/{s}"), ticks, steady(24 * H, 20 * M))
        out[f"{r}-{z}_{s}"] = [a or b for a, b in zip(drivers[r], noise, strict=True)]
    return out


REGIMES: dict[str, Callable[[str, int], dict[str, list[bool]]]] = {
    "mostly_available": mostly_available,
    "bursty": bursty,
    "region_dying": region_dying,
    "correlated_zones": correlated_zones,
}


def write(out: Path, seed: int) -> list[Path]:
    """One directory per regime under ``out``; returns them in REGIMES order."""
    ticks = int(DAYS * 86400 / GAP)
    dirs = []
    for name, make in REGIMES.items():
        d = out / f"synthetic-{name}-seed{seed}"
        d.mkdir(parents=True, exist_ok=True)
        for stem, down in make(str(seed), ticks).items():
            meta = {"gap_seconds": GAP, "start": START.isoformat(), "generator": f"bench.sim.synth {name} seed {seed}"}
            doc = {"metadata": meta, "data": [int(v) for v in down]}
            (d / f"{stem}.json").write_text(json.dumps(doc, separators=(",", ":")))
        dirs.append(d)
    return dirs
