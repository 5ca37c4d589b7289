"""One trace set on a simulated clock: what a create does, when a running member is evicted, what it all costs.

Time is seconds since tick 0; tick ``k`` covers ``[k * gap, (k + 1) * gap)``. The rules every policy lives by:
- a create requested at ``t`` is allocated at ``t + provision`` and succeeds only if the offering is available at
  that tick (else it fails like AllocationFailed, known at that moment; the Failed VM it leaves is deleted);
- a running member is evicted at the start of the first later tick whose value is 1 (Delete policy: it is gone);
  the policy hears of it ``detect`` seconds later and only then acts;
- every policy starts with no member at the end of the warm-up (``start``); the warm-up only feeds the signals.
Each create and each delete of a failed VM is one ARM write; Azure deletes an evicted Delete-policy VM itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.sim.prices import Prices
from bench.sim.traces import TraceSet

PROVISION = 150.0  # seconds from a create request to its allocation (Spot creates take ~2-3 minutes)
DETECT = 30.0  # seconds from an eviction to the policy's first action (Event Grid / Scheduled Events notice)
DELETE_FAILED = 1  # writes to delete the Failed VM a failed create leaves (0 to model synchronous 409s)
WARMUP_MAX, WARMUP_SHARE = 24 * 3600.0, 0.1  # the warm-up: a tenth of the trace, at most a day


def first_tick(traces: TraceSet, warmup: float | None = None) -> int:
    """The first scored tick: after the warm-up (by default a tenth of the trace, at most a day)."""
    lead = min(WARMUP_MAX, WARMUP_SHARE * traces.ticks * traces.gap) if warmup is None else warmup
    return int(lead // traces.gap)


class Lane:
    """One offering's trace with prefix sums, so each question is O(1)."""

    def __init__(self, down: tuple[bool, ...], price: list[float], gap: float) -> None:
        n = len(down)
        self.down, self.price, self.gap = down, price, gap
        self.next_down = [n] * (n + 1)  # the first tick >= k that is unavailable (n: none)
        for k in range(n - 1, -1, -1):
            self.next_down[k] = k if down[k] else self.next_down[k + 1]
        self.down_cum, self.drops_cum, self.spend_cum = [0] * (n + 1), [0] * (n + 1), [0.0] * (n + 1)
        for k in range(n):
            drop = down[k] and k > 0 and not down[k - 1]
            self.down_cum[k + 1] = self.down_cum[k] + down[k]
            self.drops_cum[k + 1] = self.drops_cum[k] + drop
            self.spend_cum[k + 1] = self.spend_cum[k] + price[k] * gap / 3600.0


@dataclass
class Tally:
    """What one policy did over the scored window."""

    running: float = 0.0  # seconds
    writes: int = 0
    creates: int = 0
    failed: int = 0
    evictions: int = 0
    spend: float = 0.0  # USD at spot prices
    regular: float = 0.0  # USD the same running hours cost at Regular prices
    placed: Counter[str] = field(default_factory=Counter)  # offering key -> successful creates
    events: Counter[str] = field(default_factory=Counter)  # what a policy went through (walk_exhausted, ...)
    log: list[tuple[float, Create]] = field(default_factory=list)  # (request time, outcome) of every create
    waits: dict[str, float] = field(default_factory=dict)  # respot: seconds waited with capacity there, by cause


@dataclass(frozen=True)
class Create:
    at: float  # when the outcome is known (the allocation moment)
    ok: bool
    end: float = 0.0  # a success: when the member is evicted, or the trace's end


class World:
    def __init__(
        self,
        traces: TraceSet,
        prices: Prices,
        *,
        provision: float = PROVISION,
        detect: float = DETECT,
        delete_failed: int = DELETE_FAILED,
        warmup: float | None = None,
    ) -> None:
        self.traces, self.prices, self.gap, self.ticks = traces, prices, traces.gap, traces.ticks
        self.provision, self.detect, self.delete_failed = provision, detect, delete_failed
        self.offerings = {t.offering.key: t.offering for t in traces.traces}
        self.lanes = {t.offering.key: Lane(t.down, prices.spot[t.offering.key], self.gap) for t in traces.traces}
        self.end = self.ticks * self.gap
        self.start = first_tick(traces, warmup) * self.gap

    @property
    def days(self) -> float:
        return (self.end - self.start) / 86400.0

    def tick(self, t: float) -> int:
        return min(self.ticks - 1, int(t // self.gap))

    def when(self, t: float) -> datetime:
        return self.traces.start + timedelta(seconds=t)

    def seconds(self, when: datetime) -> float:
        return (when - self.traces.start).total_seconds()

    def up(self, key: str, t: float) -> bool:
        return not self.lanes[key].down[self.tick(t)]

    def run_end(self, key: str, t: float) -> float:
        """When a member allocated on ``key`` at ``t`` (an available tick) is evicted, or the trace's end."""
        return min(self.end, self.lanes[key].next_down[self.tick(t)] * self.gap)

    def price(self, key: str, t: float) -> float:
        return self.lanes[key].price[self.tick(t)]

    def spend(self, key: str, a: float, b: float) -> float:
        """USD for running on ``key`` from ``a`` to ``b`` at its spot price per tick."""
        return self._cum(key, b) - self._cum(key, a)

    def _cum(self, key: str, t: float) -> float:
        lane, k = self.lanes[key], min(self.ticks, int(t // self.gap))
        partial = lane.price[k] * (t - k * self.gap) / 3600.0 if k < self.ticks else 0.0
        return lane.spend_cum[k] + partial

    def regular(self, key: str) -> float:
        return self.prices.regular[self.offerings[key].size.lower()]


def create(world: World, tally: Tally, key: str, t: float) -> Create | None:
    """One create on ``key`` requested at ``t``, accounted; None when its allocation would fall past the trace."""
    alloc = t + world.provision
    if alloc >= world.end:
        return None
    tally.writes += 1
    tally.creates += 1
    if not world.up(key, alloc):
        tally.writes += world.delete_failed
        tally.failed += 1
        tally.log.append((t, Create(alloc, ok=False)))
        return Create(alloc, ok=False)
    end = world.run_end(key, alloc)
    tally.log.append((t, Create(alloc, ok=True, end=end)))
    tally.running += end - alloc
    tally.spend += world.spend(key, alloc, end)
    tally.regular += world.regular(key) * (end - alloc) / 3600.0
    tally.placed[key] += 1
    if end < world.end:
        tally.evictions += 1
    return Create(alloc, ok=True, end=end)
