"""The oracle: knows the whole trace and places the member as well as the rules allow (an upper bound).

It plays by the same rules as every policy (bench.sim.world): it acts only when the member is gone (at the start,
or ``detect`` after an eviction), a create takes ``provision`` and must land on an available tick, and it pays the
same writes. Knowing the future it never fails a create and, instead of a greedy "the offering that stays up
longest", it solves the placement exactly: a dynamic programme over the availability runs (maximal spans of
available ticks) maximising running time, then fewer evictions. The chosen plan is replayed through
``world.create`` so its figures are accounted exactly like the others'.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from bench.sim.world import Tally, World, create

Value = tuple[float, int]  # (running seconds, -evictions): bigger is better


@dataclass(frozen=True)
class Run:
    start: float
    end: float
    key: str


def runs(world: World) -> list[Run]:
    """Every span of available ticks inside the scored window, by end."""
    out = []
    for key, lane in world.lanes.items():
        k = world.tick(world.start)
        while k < world.ticks:
            if lane.down[k]:
                k += 1
                continue
            stop = lane.next_down[k]
            out.append(Run(max(world.start, k * world.gap), min(world.end, stop * world.gap), key))
            k = stop
    return sorted(out, key=lambda r: (r.end, r.key))


def plan(world: World) -> list[tuple[float, Run]]:
    """The best sequence of (create request time, run) from the start."""
    spans = runs(world)
    ends = [r.end for r in spans]
    memo: dict[float, tuple[Value, int]] = {}
    frees = sorted({world.start} | {r.end + world.detect for r in spans if r.end < world.end}, reverse=True)
    for q in frees:
        memo[q] = _best(world, spans, ends, memo, q)
    steps, q = [], world.start
    while q in memo and memo[q][1] >= 0:
        r = spans[memo[q][1]]
        steps.append((max(q + world.provision, r.start) - world.provision, r))
        q = r.end + world.detect
    return steps


def _best(
    world: World, spans: list[Run], ends: list[float], memo: dict[float, tuple[Value, int]], q: float
) -> tuple[Value, int]:
    best: tuple[Value, int] = ((0.0, 0), -1)
    for i in range(bisect.bisect_right(ends, q + world.provision), len(spans)):
        r = spans[i]
        alloc = max(q + world.provision, r.start)
        if alloc >= r.end:
            continue
        if r.end < world.end:
            later = memo.get(r.end + world.detect, ((0.0, 0), -1))[0]
            value = (r.end - alloc + later[0], later[1] - 1)
        else:
            value = (r.end - alloc, 0)
        if value > best[0]:
            best = (value, i)
    return best


def oracle(world: World) -> Tally:
    tally = Tally()
    for at, r in plan(world):
        done = create(world, tally, r.key, at)
        assert done is not None and done.ok, "the oracle's plan must hold under the shared rules"
    return tally


def perfect_create(world: World) -> Tally:
    """A reference, not a baseline: knows whether a create would succeed (the allocation tick's value) and nothing
    later, so it never fails a create; among the offerings that would succeed it takes the one that has been up
    the longest so far (the past), then the cheapest. The gap between it and the oracle is what knowing how long an
    offering will stay up is worth; no past-only policy can close it."""
    tally, t = Tally(), world.start
    while t < world.end:
        alloc = t + world.provision
        if alloc >= world.end:
            break
        up = [key for key, lane in world.lanes.items() if not lane.down[world.tick(alloc)]]
        if not up:
            t = (world.tick(alloc) + 1) * world.gap - world.provision
            continue
        key = min(up, key=lambda k: (_up_since(world, k, t), world.price(k, t), k))
        done = create(world, tally, key, t)
        assert done is not None and done.ok
        t = done.end + world.detect
    return tally


def _up_since(world: World, key: str, t: float) -> int:
    """The tick since which ``key`` has been up without a break, as of the ticks begun by ``t`` (lower: longer)."""
    lane, k = world.lanes[key], world.tick(t)
    while k > 0 and not lane.down[k - 1]:
        k -= 1
    return k if not lane.down[world.tick(t)] else world.ticks
