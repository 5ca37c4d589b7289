"""EXPERIMENTS, not respot's policy: variants of respot's scoring, walk and cool-down, tried on the same clock.

Everything here is a labelled proposal for orchestrator/domain (which this benchmark never changes). ``rank_copy``
is a copy of ``placement.rank`` + ``placement.score`` with the weights, the price term, a limit on Low placements
and an "other region first" order as parameters; with the default ``Weights`` it orders exactly as the product does
(a unit test holds it to that). Each variant is a ``Knobs`` for bench.sim.respot, so it runs through the same
``candidates``, ``Walk`` and ``Backoff``.

Two families (docs/benchmarks.md explains each with its figures):
- ``x*``: changes to respot alone, under the benchmark's default signal model;
- ``s*``: the signal model's sensitivity. ``s1`` changes no respot code: it reads Azure's placement score as current
  capacity (the latest probe) instead of the last hour's share. ``s2``/``s3`` are a signal-driven walk (create only
  on a High or Medium score, look again every minute, which costs reads, not writes) under each signal model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

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
    price: float = 2.0
    price_term: str = "ratio"  # "ratio": price / cheapest - 1 (the product); "log2": log2(price / cheapest)
    low_limit: int | None = None  # at most this many Low placements in a walk (None: all, as the product)
    other_region_first: bool = False  # the evicted member's region last (the product: no region preference)


def score_copy(c: Candidate, cheapest: float | None, w: Weights) -> float:
    placement = PLACEMENT_POINTS.get((c.placement_score or "").lower(), UNKNOWN_PLACEMENT)
    eviction = EVICTION_POINTS.get(c.eviction_rate or "", UNKNOWN_EVICTION)
    ratio = c.price / cheapest if c.price and cheapest else 1.0
    price = math.log2(ratio) if w.price_term == "log2" else ratio - 1.0
    return w.placement * placement - w.eviction * eviction - w.price * price


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


def cool(capacity_minutes: float, evicted_minutes: float) -> Callable[[datetime, str], datetime]:
    def until(now: datetime, why: str) -> datetime:
        return now + timedelta(minutes=evicted_minutes if why == "evicted" else capacity_minutes)

    return until


TIE_BREAK = Weights(price=0.5, price_term="log2")  # price as the tie-breaker placement.py's docstring calls it
LATEST = SignalConfig(placement_window=1.0)  # one tick: the latest probe
POLL = Backoff(first=timedelta(minutes=1), cap=timedelta(minutes=1), deadline=timedelta(days=366))


def variants() -> dict[str, Knobs]:
    together = replace(TIE_BREAK, low_limit=1, other_region_first=True)
    signal_driven = Knobs(
        ranker=rank_copy(replace(TIE_BREAK, low_limit=0)),
        exclude_evicted=False,
        cool=cool(10, 10),
        rerank=True,
        backoff=POLL,
    )
    return {
        "x1_evicted_cooldown_only": Knobs(exclude_evicted=False),
        "x2_price_tie_breaker": Knobs(ranker=rank_copy(TIE_BREAK)),
        "x3_one_low_per_walk": Knobs(ranker=rank_copy(Weights(low_limit=1))),
        "x4_cool_10min": Knobs(cool=cool(10, 10)),
        "x5_other_region_first": Knobs(ranker=rank_copy(Weights(other_region_first=True))),
        "x6_x1_to_x5": Knobs(ranker=rank_copy(together), exclude_evicted=False, cool=cool(10, 10)),
        "s1_score_is_latest_probe": Knobs(signals=LATEST),
        "s2_signal_driven_latest": replace(signal_driven, signals=LATEST),
        "s3_signal_driven_hourly": signal_driven,
    }
