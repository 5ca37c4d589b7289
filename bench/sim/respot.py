"""respot's redeploy policy on the simulated clock, through the product's own domain code.

One recovery, as the redeploy orchestration runs it: build the ``Market`` a ranking sees (bench.sim.signals), call
``candidates`` (hard limits, the shared cool-down memory, the evicted VM's own offering excluded) and ``rank`` with
the profile's strategy, then walk the list with ``Walk``: each failed create is ``verdict(Failure.CAPACITY,
"AllocationFailed")`` (``Verdict.COOL``), which cools the offering down for every later ranking
(``cool_until(now, "capacity")``); an eviction cools it with ``"evicted"``; an eviction before the profile's
``healthy_seconds`` is a failure of the walk (the walk goes on). When the walk runs out the recovery waits on the
restart schedule (``Policy().backoff``, the product's defaults: 1 min doubling to 15 min, deterministic jitter) and
ranks again with fresh data. When the schedule's deadline passes the recovery gives up and the reconciliation sweep
starts a new one ``SWEEP`` later. While it waits, ``blame`` records why no available offering was being tried (the
investigation in docs/benchmarks.md). ``Knobs`` only exist so that experiments (bench.sim.experiments) can swap a
part; their defaults are the product's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bench.sim.signals import SignalConfig, market_at, profile, skus
from bench.sim.world import Tally, World, create
from orchestrator.domain.errors import Failure
from orchestrator.domain.placement import Candidate, Offering, candidates, cool_until, rank
from orchestrator.domain.policy import Policy
from orchestrator.domain.schedule import Backoff
from orchestrator.domain.walk import Verdict, Walk, verdict

SWEEP = 900.0  # seconds from a recovery giving up to the sweep's new recovery (an assumption: one sweep period)

Ranker = Callable[[list[Candidate], str, str | None], list[Candidate]]


def product_rank(found: list[Candidate], strategy: str, home: str | None) -> list[Candidate]:
    return rank(found, strategy=strategy, home_region=home)


@dataclass(frozen=True)
class Knobs:
    strategy: str = "ranked"
    ranker: Ranker = product_rank
    cool: Callable[[datetime, str], datetime] = cool_until
    signals: SignalConfig = field(default_factory=SignalConfig)
    exclude_evicted: bool = True  # candidates(..., evicted=...) as the product calls it
    backoff: Backoff = field(default_factory=lambda: Policy().backoff)
    rerank: bool = False  # rank again after every failed create (the product walks one ranking to its end)


class RespotSim:
    def __init__(self, world: World, knobs: Knobs, vm_sizes: dict[str, tuple[int, float]] | None = None) -> None:
        self.world, self.knobs = world, knobs
        self.profile = profile(world, knobs.strategy)
        self.skus = skus(world, vm_sizes or {})
        self.cooled: dict[str, datetime] = {}  # the shared cool-down memory: offering key -> until
        self.tally = Tally()
        self.recoveries = 0

    def run(self) -> Tally:
        t, evicted = self.world.start, None
        while t < self.world.end:
            t, evicted = self.recover(t, evicted)
        return self.tally

    def recover(self, t: float, evicted: Offering | None) -> tuple[float, Offering | None]:
        """One recovery from ``t``: until the member runs and is lost again (when respot hears of it, and where)."""
        self.recoveries += 1
        key, started, attempt = f"bench/{self.recoveries}", self.world.when(t), 0
        while t < self.world.end:
            t, lost, exhausted = self.walk(t, evicted)
            if lost is not None or t >= self.world.end:
                return t, lost
            if not exhausted:
                continue  # an experiment's re-ranking after a failure (Knobs.rerank)
            self.tally.events["walk_exhausted"] += 1
            attempt += 1
            nxt = self.knobs.backoff.next_try(self.world.when(t), attempt, key, started)
            if nxt is None:
                self.tally.events["gave_up"] += 1
                self.blame(t, t + SWEEP, evicted)
                return t + SWEEP, evicted
            until = self.world.seconds(nxt)
            self.blame(t, until, evicted)
            t = until
        return t, None

    def blame(self, a: float, b: float, evicted: Offering | None) -> None:
        """While respot waits from ``a`` to ``b``: why it is not trying an offering that is available (per tick,
        as of the tick's start): ``backoff`` (one is free: only the restart schedule's timer holds respot back),
        ``cooling`` (every available one is cooling down), ``evicted`` (only the evicted VM's own offering is)."""
        t, excluded = a, evicted.key if evicted and self.knobs.exclude_evicted else None
        while t < min(b, self.world.end):
            nxt = min(b, (self.world.tick(t) + 1) * self.world.gap)
            up = [k for k in self.world.lanes if self.world.up(k, t)]
            if up:
                now = self.world.when(t)
                free = [k for k in up if k != excluded and self.cooled.get(k, now) <= now]
                cooling = [k for k in up if self.cooled.get(k, now) > now]
                why = "backoff" if free else "cooling" if cooling else "evicted"
                self.tally.waits[why] = self.tally.waits.get(why, 0.0) + nxt - t
            t = nxt

    def walk(self, t: float, evicted: Offering | None) -> tuple[float, Offering | None, bool]:
        """Down one ranking: (when respot hears the member was lost, its offering, False), or (when the walk stops,
        None, whether the list ran out)."""
        w = Walk(self.ranked(t, evicted))
        while (c := w.next()) is not None:
            o = c.offering
            done = create(self.world, self.tally, o.key, t)
            if done is None or (done.ok and done.end >= self.world.end):
                return self.world.end, None, False
            if not done.ok:
                w.record(o, verdict(Failure.CAPACITY, "AllocationFailed"))
                self.cooled[o.key] = self.knobs.cool(self.world.when(done.at), "capacity")
                t = done.at
            else:
                self.cooled[o.key] = self.knobs.cool(self.world.when(done.end), "evicted")
                if done.end - done.at >= self.profile.healthy_seconds:
                    return done.end + self.world.detect, o, False
                self.tally.events["warmup_eviction"] += 1  # evicted while warming up: the walk goes on
                w.record(o, Verdict.COOL)
                t = done.end + self.world.detect
            if self.knobs.rerank:
                return t, None, False
        return t, None, True

    def ranked(self, t: float, evicted: Offering | None) -> list[Candidate]:
        market = market_at(self.world, t, skus=self.skus, cooled=self.cooled, config=self.knobs.signals)
        excluded = evicted if self.knobs.exclude_evicted else None
        found = candidates(self.profile, market, now=self.world.when(t), evicted=excluded)
        return self.knobs.ranker(found, self.knobs.strategy, evicted.region if evicted else None)


def run(world: World, knobs: Knobs, vm_sizes: dict[str, tuple[int, float]] | None = None) -> Tally:
    return RespotSim(world, knobs, vm_sizes).run()
