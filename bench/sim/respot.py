"""respot's redeploy policy on the simulated clock, through the product's own domain code, as redeploy.py drives it.

One recovery, as the redeploy orchestration runs it (orchestrator/workflows/redeploy.py):
- at its start, the evicted VM's own offering cools down (``"evicted"``), through the ``offerings`` entity's own
  operation (``memory.offerings_op``, whose state the simulation keeps as the durable entity would);
- each round reads the entity (``get``), builds the ``Market`` a ranking sees (bench.sim.signals), calls
  ``candidates`` (hard limits, the shared cool-downs) and ``rank`` with the profile's strategy, then walks the list
  with ``Walk``: each failed create is ``verdict(Failure.CAPACITY, "AllocationFailed")`` (``Verdict.COOL``), a
  ``cool`` of the offering (the entity counts the strikes: 10 minutes doubling to an hour); an eviction before the
  profile's ``healthy_seconds`` cools it with ``"evicted"`` and the walk goes on; a replacement that holds is
  ``held`` there (its strikes are forgotten);
- when the walk runs out the recovery waits for ``Policy().backoff.next_round`` (the restart schedule, or the first
  cool-down's end when that is sooner) and ranks again with fresh data. When the schedule's deadline passes it gives
  up and the reconciliation sweep starts a new recovery ``SWEEP`` later.
Like the orchestration, the recovery keeps its own view of the entity (``memory.cooling`` on what it last read),
which is the entity's state here (one member, no concurrent recovery). While it waits, ``blame`` records why no
available offering was being tried (the investigation in docs/benchmarks.md). ``Knobs`` only exist so that
experiments (bench.sim.experiments) can swap a part; their defaults are the product's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bench.sim.signals import SignalConfig, fetch_due, market_at, profile, skus
from bench.sim.world import Tally, World, create
from orchestrator.domain import memory
from orchestrator.domain.errors import Failure
from orchestrator.domain.models import iso
from orchestrator.domain.placement import (
    LOW_EXCLUDED,
    Candidate,
    Market,
    Offering,
    candidates,
    low_probe_due,
    one_probe,
    rank,
    round_ends,
    waiting_for_score,
)
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
    signals: SignalConfig = field(default_factory=SignalConfig)
    backoff: Backoff = field(default_factory=lambda: Policy().backoff)
    rerank: bool = False  # rank again after every failed create (the product walks one ranking to its end)
    low_probe: Callable[[datetime, datetime], bool] = low_probe_due  # when Low-scored offerings are candidates
    one_probe: bool = True  # ... and then only the best of them (off: every Low one is walked, as before)


class RespotSim:
    def __init__(self, world: World, knobs: Knobs, vm_sizes: dict[str, tuple[int, float]] | None = None) -> None:
        self.world, self.knobs = world, knobs
        self.profile = profile(world, knobs.strategy)
        self.skus = skus(world, vm_sizes or {})
        self.entity: Any = None  # the offerings entity's state, changed only by memory.offerings_op
        self.memory: dict[str, dict[str, Any]] = {}  # the recovery's view of it (Redeploy.memory)
        self.tally = Tally()
        self.recoveries = 0
        self.last_create = world.when(world.start)  # this recovery's last create, or its start (low_probe_due)
        self.fetched: float | None = None  # when the cached placement scores were fetched (MarketAdapter's cache)
        self.waiting = False  # the last ranking left a candidate waiting for its placement score ...
        self.low: set[str] = set()  # ... these

    @property
    def cooled(self) -> dict[str, datetime]:
        """The entity's offerings as a Market's ``cooled`` (key -> until; an end already past cools nothing)."""
        return memory.cooled_until(self.entity)

    def run(self) -> Tally:
        t, evicted = self.world.start, None
        while t < self.world.end:
            t, evicted = self.recover(t, evicted)
        return self.tally

    def recover(self, t: float, evicted: Offering | None) -> tuple[float, Offering | None]:
        """One recovery from ``t``: until the member runs and is lost again (when respot hears of it, and where)."""
        self.recoveries += 1
        key, started, attempt = f"bench/{self.recoveries}", self.world.when(t), 0
        self.last_create = started
        if evicted is not None:
            self.cool(evicted, t, "evicted")
        while t < self.world.end:
            ranked_at = self.world.when(t)
            t, lost, market = self.walk(t, evicted)
            if lost is not None or t >= self.world.end:
                return t, lost
            if market is None:
                continue  # an experiment's re-ranking after a failure (Knobs.rerank)
            self.tally.events["walk_exhausted"] += 1
            attempt += 1
            now = self.world.when(t)
            cooled = replace(market, cooled=memory.cooled_until(self.memory))
            ends = round_ends(self.profile, cooled, now, since=ranked_at, key=key, rounds=attempt, waiting=self.waiting)
            nxt = self.knobs.backoff.next_round(now, attempt, key, started, ends)
            if nxt is None:
                self.tally.events["gave_up"] += 1
                self.blame(t, t + SWEEP)
                return t + SWEEP, evicted
            until = self.world.seconds(nxt)
            self.blame(t, until)
            t = until
        return t, None

    def blame(self, a: float, b: float) -> None:
        """While respot waits from ``a`` to ``b``: why it is not trying an offering that is available (per tick,
        as of the tick's start): ``backoff`` (one is free: only the restart schedule's timer holds respot back) or
        ``cooling`` (every available one is cooling down) or ``score`` (every free one scored Low in the last
        ranking, which waits for the scores to be renewed)."""
        t, cooled = a, self.cooled
        while t < min(b, self.world.end):
            nxt = min(b, (self.world.tick(t) + 1) * self.world.gap)
            up = [k for k in self.world.lanes if self.world.up(k, t)]
            if up:
                now = self.world.when(t)
                free = [k for k in up if cooled.get(k, now) <= now]
                why = "cooling" if not free else "score" if set(free) <= self.low else "backoff"
                self.tally.waits[why] = self.tally.waits.get(why, 0.0) + nxt - t
            t = nxt

    def walk(self, t: float, evicted: Offering | None) -> tuple[float, Offering | None, Market | None]:
        """Down one ranking: (when respot hears the member was lost, its offering, None), or (when the walk stops,
        None, the round's market when the list ran out, else None)."""
        ranked, market = self.ranked(t, evicted)
        w = Walk(ranked)
        while (c := w.next()) is not None:
            o = c.offering
            self.last_create = self.world.when(t)
            done = create(self.world, self.tally, o.key, t)
            if done is None:
                return self.world.end, None, None
            if done.ok and done.end >= self.world.end:  # it holds to the end of the trace
                self.held(o)
                return self.world.end, None, None
            if not done.ok:
                w.record(o, verdict(Failure.CAPACITY, "AllocationFailed"))
                self.cool(o, done.at, "capacity")
                t = done.at
            elif done.end - done.at >= self.profile.healthy_seconds:
                self.held(o)
                return done.end + self.world.detect, o, None
            else:
                self.tally.events["warmup_eviction"] += 1  # evicted while warming up: the walk goes on
                t = done.end + self.world.detect
                w.record(o, Verdict.COOL)
                self.cool(o, t, "evicted")
            if self.knobs.rerank:
                return t, None, None
        return t, None, market

    def ranked(self, t: float, evicted: Offering | None) -> tuple[list[Candidate], Market]:
        now = self.world.when(t)
        self.entity, live = memory.offerings_op(self.entity, "get", {"now": iso(now)})
        self.memory = dict(live)
        config, cooled = self.knobs.signals, memory.cooled_until(self.memory)
        self.fetched = fetch_due(self.fetched, t, config)
        market = market_at(self.world, t, skus=self.skus, cooled=cooled, config=config, fetched=self.fetched)
        probe = self.knobs.low_probe(self.last_create, now)  # Redeploy.probe_due (no fallback here)
        found = candidates(self.profile, market, now=now, probe_low=probe)
        ordered = self.knobs.ranker(found, self.knobs.strategy, evicted.region if evicted else None)
        if probe and self.knobs.one_probe:
            ordered, found = one_probe(ordered, found, market)
        self.waiting = waiting_for_score(found)
        self.low = {c.offering.key for c in found if c.excluded.startswith(LOW_EXCLUDED)}
        return ordered, market

    def cool(self, o: Offering, t: float, why: str) -> None:
        """Redeploy.cool: the recovery's own view follows the entity's rule; the entity counts the strike."""
        at, by = self.world.when(t), f"bench/{self.recoveries}"
        self.memory[o.key] = memory.cooling(self.memory.get(o.key), why=why, by=by, at=at)
        payload = {"key": o.key, "at": iso(at), "why": why, "by": by}
        self.entity, _ = memory.offerings_op(self.entity, "cool", payload)

    def held(self, o: Offering) -> None:
        self.memory.pop(o.key, None)
        self.entity, _ = memory.offerings_op(self.entity, "held", {"key": o.key})


def run(world: World, knobs: Knobs, vm_sizes: dict[str, tuple[int, float]] | None = None) -> Tally:
    return RespotSim(world, knobs, vm_sizes).run()
