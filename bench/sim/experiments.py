"""EXPERIMENTS, not respot's policy: variants of respot's scoring and walk, and of the signal model, on the same clock.

Everything here is a labelled proposal for orchestrator/domain (which this benchmark never changes). ``rank_copy``
is a copy of ``placement.rank`` + ``placement.score`` with the weights, a limit on Low placements and an "other
region first" order as parameters; with the default ``Weights`` it orders exactly as the product does (a unit test
holds it to that). Each variant is a ``Knobs`` for bench.sim.respot, so it runs through the same ``candidates``,
``Walk``, ``Backoff.next_round`` and the ``offerings`` entity's cool-downs.

Proposals that became the product (docs/benchmarks.md has their before/after figures) are gone from here: the
evicted VM's offering only cools down, price as a tie-breaker (log2), cool-downs of 10 minutes that double per
failure in a row, the next round at the first cool-down's end, and the region-cooling term.

Two families:
- ``x*``: changes to respot alone, under the benchmark's default signal model;
- ``s*``: the signal model's sensitivity. ``s1`` changes no respot code: it reads Azure's placement score as current
  capacity (the latest probe) instead of the last hour's share; ``s4`` neither: the score as fetched at the start of
  each hour (respot's market adapter caches it that long). ``s2``/``s3`` are a signal-driven walk (create only on a
  High or Medium score, rank again after every failure, look again every minute, which costs reads, not writes)
  under the latest-probe and the default signal models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta

from bench.sim.respot import Knobs, Ranker
from bench.sim.signals import SignalConfig
from orchestrator.domain.placement import (
    EVICTION_POINTS,
    PLACEMENT_POINTS,
    STRATEGIES,
    UNKNOWN_EVICTION,
    UNKNOWN_PLACEMENT,
    Candidate,
)
from orchestrator.domain.schedule import Backoff


@dataclass(frozen=True)
class Weights:
    placement: float = 2.0
    eviction: float = 1.5
    price: float = 0.5  # points per doubling of the price over the cheapest
    region: float = 1.0  # per other offering of the region cooling down ...
    region_max: int = 2  # ... at most this many counted
    low_limit: int | None = None  # at most this many Low placements in a walk (None: all, as the product)
    other_region_first: bool = False  # the evicted member's region last (the product: no region preference)


def score_copy(c: Candidate, cheapest: float | None, w: Weights) -> float:
    placement = PLACEMENT_POINTS.get((c.placement_score or "").lower(), UNKNOWN_PLACEMENT)
    eviction = EVICTION_POINTS.get(c.eviction_rate or "", UNKNOWN_EVICTION)
    ratio = c.price / cheapest if c.price and cheapest else 1.0
    region = w.region * min(w.region_max, c.region_cooling)
    return w.placement * placement - w.eviction * eviction - w.price * math.log2(max(ratio, 1.0)) - region


def rank_copy(w: Weights) -> Ranker:
    def ranker(found: list[Candidate], strategy: str, home: str | None) -> list[Candidate]:
        usable = [c for c in found if not c.excluded]
        prices = [c.price for c in usable if c.price is not None]
        cheapest = min(prices) if prices else None
        ordered = STRATEGIES[strategy]([replace(c, score=score_copy(c, cheapest, w)) for c in usable], home)
        if w.other_region_first:
            ordered = sorted(ordered, key=lambda c: c.offering.region == home)
        return _limit_low(ordered, w.low_limit)

    return ranker


def _limit_low(ordered: list[Candidate], limit: int | None) -> list[Candidate]:
    if limit is None:
        return ordered
    out, lows = [], 0
    for c in ordered:
        low = (c.placement_score or "").lower() == "low"
        if not low or lows < limit:
            out.append(c)
        lows += low
    return out


LATEST = SignalConfig(placement_window=1.0)  # one tick: the latest probe
HOURLY = SignalConfig(placement_refresh=3600.0)  # the score as fetched at the start of each hour
POLL = Backoff(first=timedelta(minutes=1), cap=timedelta(minutes=1), deadline=timedelta(days=366))


def variants() -> dict[str, Knobs]:
    signal_driven = Knobs(ranker=rank_copy(Weights(low_limit=0)), rerank=True, backoff=POLL)
    return {
        "x3_one_low_per_walk": Knobs(ranker=rank_copy(Weights(low_limit=1))),
        "x5_other_region_first": Knobs(ranker=rank_copy(Weights(other_region_first=True))),
        "x7_no_region_term": Knobs(ranker=rank_copy(Weights(region=0.0))),
        "s1_score_is_latest_probe": Knobs(signals=LATEST),
        "s2_signal_driven_latest": replace(signal_driven, signals=LATEST),
        "s3_signal_driven_hourly": signal_driven,
        "s4_score_cached_hourly": Knobs(signals=HOURLY),
    }
