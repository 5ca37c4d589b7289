"""Where a policy's downtime went: the investigation behind the figures (which decisions lose availability).

A member is down from the warm-up's end until its first allocation, and from each eviction until the next. Each
down second is one of: ``detection`` (an eviction not yet heard of), ``provisioning`` (the create that then held),
``failed_wrong_pick`` (a create that failed while another offering was available at its allocation tick: a better
pick existed), ``failed_nothing_up`` (no offering was available then), ``waiting_capacity`` (no create in flight,
backing off or cooling down, while some offering was available) and ``waiting_nothing_up``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.sim.world import Tally, World


@dataclass(frozen=True)
class Losses:
    """Hours of downtime by cause."""

    down: float
    detection: float
    provisioning: float
    failed_wrong_pick: float
    failed_nothing_up: float
    waiting_capacity: float
    waiting_nothing_up: float


class Capacity:
    """Whether any offering was available, per tick, with prefix sums."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.any_up = [any(not lane.down[k] for lane in world.lanes.values()) for k in range(world.ticks)]
        self.cum = [0] * (world.ticks + 1)
        for k, up in enumerate(self.any_up):
            self.cum[k + 1] = self.cum[k] + up

    def up_seconds(self, a: float, b: float) -> float:
        return max(0.0, self._at(b) - self._at(a))

    def _at(self, t: float) -> float:
        gap, k = self.world.gap, min(self.world.ticks, int(t // self.world.gap))
        partial = (t - k * gap) if k < self.world.ticks and self.any_up[k] else 0.0
        return self.cum[k] * gap + partial


def losses(world: World, tally: Tally, capacity: Capacity | None = None) -> Losses:
    cap = capacity or Capacity(world)
    h: dict[str, float] = dict.fromkeys(Losses.__dataclass_fields__, 0.0)
    cursor, evicted = world.start, False
    for request, c in sorted(tally.log, key=lambda e: e[0]):
        _wait(h, cap, cursor, request, world.detect if evicted else 0.0)
        if c.ok:
            h["provisioning"] += c.at - request
            cursor, evicted = c.end, True
        else:
            others = cap.any_up[world.tick(c.at)]
            h["failed_wrong_pick" if others else "failed_nothing_up"] += c.at - request
            cursor, evicted = c.at, False
    _wait(h, cap, cursor, world.end, world.detect if evicted else 0.0)
    h["down"] = world.end - world.start - tally.running
    return Losses(**{k: round(v / 3600.0, 2) for k, v in h.items()})


def _wait(h: dict[str, float], cap: Capacity, a: float, b: float, detect: float) -> None:
    if b <= a:
        return
    heard = min(b, a + detect)
    h["detection"] += heard - a
    up = cap.up_seconds(heard, b)
    h["waiting_capacity"] += up
    h["waiting_nothing_up"] += (b - heard) - up
