"""Trace files -> Azure offerings: each file of a directory is one (size, region, zone), on one shared clock.

The format is ../shared/data/spot-traces/FORMAT.md: ``{"metadata": {"gap_seconds": N}, "data": [...],
"prices": [...]?}``, where a 1 at a tick means spot capacity could NOT be had there (0: it could). A file is named
either after the cloud it was measured on (``us-west-2a_v100_1.json``, ``us-central1-a_c3-88.json``: zone, then
machine type) or after an Azure offering (``eastus-1_Standard_D4s_v5.json``; ``eastus_Standard_D4s_v5.json`` is the
region's pool without zones), which is how the synthetic sets are written.

Mapping (documented in docs/benchmarks.md): the cloud region goes to an Azure region (``REGIONS``; an unknown one
takes the next unused region of ../shared/data/azure-spot-prices/regions.txt's list), the set's zones of one region in
letter order become Azure zones "1", "2", "3", and a machine type goes to the Azure size with the same accelerators
(``TYPES``). A size without its own row in the price CSV takes the price of a sibling times a factor.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.domain.placement import Offering


@dataclass(frozen=True)
class SizeMap:
    """The Azure size a trace's machine type stands for, and where its spot price comes from."""

    size: str
    price_size: str  # the size whose spot price (in the price CSV) it takes ...
    factor: float = 1.0  # ... times this (the accelerator or vCPU ratio)


TYPES = {
    "v100_1": SizeMap("Standard_NC6s_v3", "Standard_NC6s_v3"),  # 1 V100 (p3.2xlarge)
    "v100_8": SizeMap("Standard_ND40rs_v2", "Standard_NC6s_v3", 8),  # 8 V100 (p3.16xlarge)
    "k80_1": SizeMap("Standard_NC4as_T4_v3", "Standard_NC4as_T4_v3"),  # Azure retired its K80 sizes: 1 T4
    "k80_8": SizeMap("Standard_NC64as_T4_v3", "Standard_NC4as_T4_v3", 4),  # the largest T4 size: 4 T4
    "c3-88": SizeMap("Standard_D96s_v5", "Standard_D16s_v5", 6),  # 88 vCPU -> 96 vCPU general purpose
}
FALLBACK_SIZES = ("Standard_D4s_v5", "Standard_E4s_v5", "Standard_F4s_v2", "Standard_D4as_v5", "Standard_D4s_v4")
REGIONS = {"us-west-2": "westus2", "us-east-1": "eastus", "us-central1": "centralus", "us-east1": "eastus2"}
FALLBACK_REGIONS = (
    "canadacentral",
    "canadaeast",
    "centralus",
    "eastus",
    "eastus2",
    "northcentralus",
    "southcentralus",
    "westcentralus",
    "westus",
    "westus2",
    "westus3",
)
DEFAULT_START = datetime(2023, 1, 1, tzinfo=UTC)  # a set whose directory name or metadata gives no date

_AZURE = re.compile(r"^(?P<region>[a-z0-9]+)(?:-(?P<zone>[123]))?_(?P<size>Standard_\w+)$")
_CLOUD = re.compile(r"^(?P<region>[a-z]+-[a-z]+(?:-\d+|\d+))-?(?P<letter>[a-z])_(?P<type>.+)$")
_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{4})$")  # aws-10-26-2022: month, day, year


class TraceError(ValueError):
    """A trace directory that cannot be replayed; the message names the file."""


@dataclass(frozen=True)
class Trace:
    """One file: one offering's availability per tick (True: spot could NOT be had) and its own prices, if any."""

    source: str  # the file's name
    offering: Offering
    down: tuple[bool, ...]
    prices: tuple[float, ...] | None
    price: SizeMap


@dataclass(frozen=True)
class TraceSet:
    name: str
    gap: float  # seconds per tick
    start: datetime  # the wall-clock moment of tick 0 (for as-of prices)
    traces: tuple[Trace, ...]

    @property
    def ticks(self) -> int:
        return len(self.traces[0].down)


def load(directory: Path) -> TraceSet:
    """Every ``*.json`` of ``directory``, mapped and cut to the shortest file. Raises :class:`TraceError`."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise TraceError(f"{directory}: no *.json trace files")
    docs = {f.name: _read(f) for f in files}
    gaps = {float(d["metadata"]["gap_seconds"]) for d in docs.values()}
    if len(gaps) != 1:
        raise TraceError(f"{directory}: the files disagree on gap_seconds ({sorted(gaps)})")
    offerings = _offerings([f.stem for f in files])
    ticks = min(len(d["data"]) for d in docs.values())
    traces = tuple(
        Trace(
            f.name,
            offerings[f.stem][0],
            tuple(bool(v) for v in docs[f.name]["data"][:ticks]),
            _prices(docs[f.name], ticks),
            offerings[f.stem][1],
        )
        for f in files
    )
    return TraceSet(directory.name, gaps.pop(), _start(directory, docs), traces)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc["data"], list) or float(doc["metadata"]["gap_seconds"]) <= 0:
            raise ValueError("data must be a list and gap_seconds above 0")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TraceError(f"{path}: not a trace file ({type(exc).__name__}: {exc})") from None
    return dict(doc)


def _prices(doc: dict[str, Any], ticks: int) -> tuple[float, ...] | None:
    prices = doc.get("prices")
    if not prices or len(prices) < ticks:
        return None
    return tuple(float(p) for p in prices[:ticks])


def _start(directory: Path, docs: dict[str, dict[str, Any]]) -> datetime:
    stated = {d["metadata"].get("start") for d in docs.values()} - {None}
    if stated:
        return datetime.fromisoformat(str(min(stated))).astimezone(UTC)
    found = _DATE.search(directory.name)
    if found:
        month, day, year = (int(g) for g in found.groups())
        return datetime(year, month, day, tzinfo=UTC)
    return DEFAULT_START


def _offerings(stems: list[str]) -> dict[str, tuple[Offering, SizeMap]]:
    """Each file stem's offering; the cloud-named ones mapped all together (zones are numbered per region)."""
    out: dict[str, tuple[Offering, SizeMap]] = {}
    cloud: dict[str, re.Match[str]] = {}
    for stem in stems:
        if m := _AZURE.match(stem):
            out[stem] = (Offering(m["size"], m["region"], m["zone"] or ""), SizeMap(m["size"], m["size"]))
        elif m := _CLOUD.match(stem):
            cloud[stem] = m
        else:
            raise TraceError(f"{stem}.json: name it <zone>_<type>.json or <azure-region>[-<zone>]_<size>.json")
    return out | _map_cloud(cloud, used={o.region for o, _ in out.values()})


def _map_cloud(found: dict[str, re.Match[str]], used: set[str]) -> dict[str, tuple[Offering, SizeMap]]:
    regions = _region_map(sorted({m["region"] for m in found.values()}), used)
    sizes = _size_map(sorted({m["type"] for m in found.values()}))
    letters: dict[str, list[str]] = {}
    for m in found.values():
        letters.setdefault(m["region"], []).append(m["letter"])
    zones = {(r, letter): str(i + 1) for r, ls in letters.items() for i, letter in enumerate(sorted(set(ls)))}
    crowded = [r for r, ls in letters.items() if len(set(ls)) > 3]
    if crowded:
        raise TraceError(f"{', '.join(crowded)}: more than 3 zones (an Azure region has at most 3)")
    return {
        stem: (
            Offering(sizes[m["type"]].size, regions[m["region"]], zones[(m["region"], m["letter"])]),
            sizes[m["type"]],
        )
        for stem, m in found.items()
    }


def _region_map(cloud_regions: list[str], used: set[str]) -> dict[str, str]:
    out, taken = {}, set(used) | {REGIONS[r] for r in cloud_regions if r in REGIONS}
    spare = iter(r for r in FALLBACK_REGIONS if r not in taken)
    for region in cloud_regions:
        out[region] = REGIONS.get(region) or next(spare)
    return out


def _size_map(types: list[str]) -> dict[str, SizeMap]:
    spare = iter(FALLBACK_SIZES)
    out = {}
    for kind in types:
        if kind in TYPES:
            out[kind] = TYPES[kind]
        else:
            size = next(spare, None)
            if size is None:
                raise TraceError(f"more unknown machine types than fallback sizes: {kind}")
            out[kind] = SizeMap(size, size)
    return out
