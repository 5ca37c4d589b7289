"""EXPERIMENTS, not respot's policy: variants of respot's scoring and walk, and of the signal model, on the same clock.

Everything here is a labelled proposal for orchestrator/domain (which this benchmark never changes). ``rank_copy``
is a copy of ``placement.rank`` + ``placement.score`` with the weights, a limit on Low placements and an "other
region first" order as parameters; with the default ``Weights`` it orders exactly as the product does (a unit test
holds it to that). Each variant is a ``Knobs`` for bench.sim.respot, so it runs through the same ``candidates``,
``Walk``, ``Backoff.next_round`` and the ``offerings`` entity's cool-downs.

Proposals that became the product (docs/benchmarks.md has their before/after figures) are gone from here: the
evicted VM's offering only cools down, price as a tie-breaker (log2), cool-downs of 10 minutes that double per
failure in a row, the next round at the first cool-down's end, the region-cooling term, and no create on a fresh
Low placement score (one probe an hour) with the next round when the scores are renewed.

Two families:
- ``x*``: changes to respot alone, under the benchmark's default signal model; ``x8`` is the product before the
  Low-score rule (every candidate walked, whatever its score);
- ``s*``: the signal model's sensitivity, no respot change. The default is Azure's documented one: the score is
  valid when it is asked (the latest tick) and kept 15 minutes. ``s1`` is the earlier default (the trailing hour's
  share, worked out at every decision), ``s4`` the trailing hour kept an hour (the product's cache before),
  ``s5``/``s6`` the trailing 10 minutes / hour kept 15 minutes. ``s2`` is the bound a score asked every minute
  would give (the latest tick, no cache, rank again after every failure, look every minute: reads, not writes).
"""

from __future__ import annotations

import math
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


HOUR = 3600.0
POLL = Backoff(first=timedelta(minutes=1), cap=timedelta(minutes=1), deadline=timedelta(days=366))


def always(last_create: datetime, now: datetime) -> bool:
    return True


def variants() -> dict[str, Knobs]:
    every_minute = SignalConfig(placement_window=0.0, placement_refresh=0.0)
    return {
        "x3_one_low_per_walk": Knobs(ranker=rank_copy(Weights(low_limit=1)), low_probe=always, one_probe=False),
        "x5_other_region_first": Knobs(ranker=rank_copy(Weights(other_region_first=True))),
        "x7_no_region_term": Knobs(ranker=rank_copy(Weights(region=0.0))),
        "x8_walk_low_scores_too": Knobs(low_probe=always, one_probe=False),
        "s1_last_hour_every_decision": Knobs(signals=SignalConfig(placement_window=HOUR, placement_refresh=0.0)),
        "s2_asked_every_minute": Knobs(signals=every_minute, rerank=True, backoff=POLL),
        "s4_last_hour_kept_an_hour": Knobs(signals=SignalConfig(placement_window=HOUR, placement_refresh=HOUR)),
        "s5_last_10_minutes_kept_15": Knobs(signals=SignalConfig(placement_window=600.0)),
        "s6_last_hour_kept_15": Knobs(signals=SignalConfig(placement_window=HOUR)),
    }
