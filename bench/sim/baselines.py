"""The policies respot is measured against, on the same clock and the same create rules (bench.sim.world).

- ``restart_in_place``: stay on the original offering (the one respot's ranking picks first at the start) and try a
  create there again every 5 minutes until one holds;
- ``eager_next_region``: SkyPilot's EAGER_NEXT_REGION (sky/jobs/recovery_strategy.py): on a preemption try every
  other offering in turn (SkyPilot's optimizer order: cheapest first), then passes over all of them, backing off
  1 min doubling to 15 min between passes. SkyPilot itself blocks the preempted *region* in the first pass; with one
  region (the aws-10-26-2022 set) that would leave nothing to try, so the benchmark blocks the offering, as the
  issue states it. No jitter (SkyPilot adds some; a single member does not need it).
"""

from __future__ import annotations

from bench.sim.world import Tally, World, create

RESTART_EVERY = 300.0
EAGER_FIRST, EAGER_CAP = 60.0, 900.0


def restart_in_place(world: World, home: str, every: float = RESTART_EVERY) -> Tally:
    tally, t = Tally(), world.start
    while t < world.end:
        done = create(world, tally, home, t)
        if done is None or (done.ok and done.end >= world.end):
            break
        t = done.end + world.detect if done.ok else max(done.at, t + every)
    return tally


def eager_next_region(world: World) -> Tally:
    tally, t, last = Tally(), world.start, ""
    while t < world.end:
        t, last = _eager_recover(world, tally, t, last)
    return tally


def _eager_recover(world: World, tally: Tally, t: float, last: str) -> tuple[float, str]:
    """One recovery: (when the member is lost again and heard of, where it ran), or the trace's end."""
    tries, wait = [k for k in by_price(world, t) if k != last], EAGER_FIRST
    while t < world.end:
        for key in tries:
            done = create(world, tally, key, t)
            if done is None:
                return world.end, last
            if done.ok:
                return (done.end + world.detect if done.end < world.end else world.end), key
            t = done.at
        tally.events["pass_exhausted"] += 1
        t, wait = t + wait, min(EAGER_CAP, wait * 2)
        tries = by_price(world, t)
    return t, last


def by_price(world: World, t: float) -> list[str]:
    """Every offering, cheapest first at ``t`` (ties by name)."""
    return sorted(world.lanes, key=lambda key: (world.price(key, t), key))
