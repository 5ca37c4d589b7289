"""Spot prices per tick for each offering of a trace set, and the Regular price each is measured against.

Spot, in this order: the price CSV (``observed_at,arm_sku_name,arm_region_name,spot_price_usd_per_hour``, as
../shared/data/azure-spot-prices/spot_price_history.csv) as of each tick (the newest observation at or before it;
before the first, the first), times the size map's factor; else the trace file's own ``prices``; else
``DEFAULT_SPOT`` times the factor. Regular: no Regular prices exist in the shared data (vm_skus.csv has none), so a
size's Regular price is the highest spot price among the set's offerings of that size at the first scored tick,
divided by ``SPOT_SHARE``: a documented constant ratio (Azure caps a spot price at the Regular price, so the dearest
region is the one nearest to it). ``cost_vs_ondemand`` is therefore ``SPOT_SHARE`` for a member that always pays the
dearest region's price (and for every policy when the set has one region), lower for one that finds cheaper regions.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bench.sim.traces import Trace, TraceSet

SPOT_SHARE = (
    0.4  # spot / Regular: East US spot was 40 % of the list price in the CSV's 2022-09 rows (D4s_v5 0.0767 / 0.192)
)
COLUMNS = ("observed_at", "arm_sku_name", "arm_region_name", "spot_price_usd_per_hour")
DEFAULT_SPOT = 1.0  # USD/h (times the size map's factor) when neither the CSV nor the trace has a price


@dataclass(frozen=True)
class PriceBook:
    """Observations per (size lower, region): sorted times and their prices."""

    rows: dict[tuple[str, str], tuple[list[datetime], list[float]]] = field(default_factory=dict)

    def has(self, size: str, region: str) -> bool:
        return (size.lower(), region) in self.rows

    def at(self, size: str, region: str, when: datetime) -> float:
        times, prices = self.rows[(size.lower(), region)]
        return prices[max(0, bisect.bisect_right(times, when) - 1)]


class PriceError(ValueError):
    """A price CSV that cannot be read: names the file and the row."""


def load_csv(path: Path) -> PriceBook:
    """Raises :class:`PriceError`."""
    found: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    try:
        with path.open(newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                found.setdefault(_key(row, path, line), []).append(_observation(row, path, line))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PriceError(f"{path}: not readable ({exc})") from None
    rows = {}
    for key, obs in found.items():
        obs.sort()
        rows[key] = ([t for t, _ in obs], [p for _, p in obs])
    return PriceBook(rows)


def _key(row: dict[str, str], path: Path, line: int) -> tuple[str, str]:
    try:
        return row["arm_sku_name"].lower(), row["arm_region_name"]
    except (KeyError, AttributeError):
        raise PriceError(f"{path}:{line}: expected the columns {', '.join(COLUMNS)}") from None


def _observation(row: dict[str, str], path: Path, line: int) -> tuple[datetime, float]:
    try:
        return datetime.fromisoformat(row["observed_at"]), float(row["spot_price_usd_per_hour"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceError(f"{path}:{line}: {exc}") from None


@dataclass(frozen=True)
class Prices:
    spot: dict[str, list[float]]  # offering key -> USD/h per tick
    regular: dict[str, float]  # size lower -> USD/h
    source: dict[str, str]  # offering key -> "csv" | "trace" | "default"


def prices(traces: TraceSet, book: PriceBook | None, first_tick: int) -> Prices:
    spot, source = {}, {}
    for trace in traces.traces:
        key = trace.offering.key
        spot[key], source[key] = _series(trace, traces, book)
    by_size: dict[str, list[float]] = {}
    for trace in traces.traces:
        by_size.setdefault(trace.offering.size.lower(), []).append(spot[trace.offering.key][first_tick])
    regular = {size: max(ps) / SPOT_SHARE for size, ps in by_size.items()}
    return Prices(spot, regular, source)


def _series(trace: Trace, traces: TraceSet, book: PriceBook | None) -> tuple[list[float], str]:
    o, m, n = trace.offering, trace.price, traces.ticks
    if book is not None and book.has(m.price_size, o.region):
        times, _ = book.rows[(m.price_size.lower(), o.region)]
        out, last, price = [], None, 0.0
        for k in range(n):
            when = traces.start + timedelta(seconds=k * traces.gap)
            idx = max(0, bisect.bisect_right(times, when) - 1)
            if idx != last:
                price, last = book.at(m.price_size, o.region, when) * m.factor, idx
            out.append(price)
        return out, "csv"
    if trace.prices is not None:
        return list(trace.prices), "trace"
    return [DEFAULT_SPOT * m.factor] * n, "default"
