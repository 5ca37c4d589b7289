"""Delete-policy scale sets: an eviction deletes instances and the set's ``sku.capacity`` drops with them
(azure-facts.md 1e, 7); respot raises it back to what it was, once per eviction wave. Pure.

| the scale set                                           | then                                              |
|---------------------------------------------------------|---------------------------------------------------|
| Try & restore on (``properties.spotRestorePolicy``)     | left to the platform: ``ignored / try_and_restore`` |
| an enabled autoscale setting targets it                 | left to autoscale: ``ignored / autoscaled``         |
| another recovery of this wave owns the restore          | ``ignored / wave_joined`` (names the owner)         |
| capacity below what it was                              | PATCH ``sku.capacity`` to it: ``recovered / capacity_restored`` |

What it was: the highest capacity the inventory sweep saw in the last ``SEEN_HOLD`` (the ``scaleset`` entity), bounded by the capacity now
plus the instances this wave lost (each recovery of the wave is one lost instance), so that a person's scale-in
since the last sweep is never undone beyond what the eviction took. The wave owner gathers the wave's recoveries
for ``GATHER`` before it reads and writes, so a mass eviction is one PATCH. The highest reading, not the last: a
sweep between an eviction and its alert (Activity Log alerts arrive minutes late, azure-facts.md) reads the capacity
the eviction left, and that must not become what it was.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.models import InvalidInput, iso, parse_iso

SCALESET = "scaleset"  # entity name; key: the scale set's hash
GATHER = timedelta(seconds=60)  # the rest of a wave's instances are evicted within the Preempt notice (30 s)
WAVE = timedelta(minutes=30)  # a claim this long after the wave opened opens a new one
SEEN_HOLD = timedelta(hours=1)  # sweep readings kept; far longer than an alert's delivery delay
MAX_RAISE = 100  # instances one PATCH may add (a crafted input cannot ask for a thousand)


@dataclass(frozen=True)
class ScaleSetFacts:
    id: str
    capacity: int
    mode: str  # Uniform | Flexible
    spot: bool
    delete_policy: bool
    restore: bool  # Try & restore enabled
    autoscale: tuple[str, ...] = ()  # the names of enabled autoscale settings that target it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ScaleSetFacts:
        if not isinstance(data, dict):
            raise InvalidInput("scale set facts must be an object")
        try:
            return cls(**{**data, "autoscale": tuple(data.get("autoscale") or ())})
        except TypeError as exc:
            raise InvalidInput(f"scale set facts: {exc}") from None


def scale_set_key(subscription: str, resource_group: str, name: str) -> str:
    """The ``scaleset`` entity's key: a digest of the set's id (lower-case)."""
    set_id = f"/subscriptions/{subscription}/resourcegroups/{resource_group}/providers/microsoft.compute/virtualmachinescalesets/{name}"
    return hashlib.sha256(set_id.lower().encode()).hexdigest()[:24]


def target(seen: int | None, now: int, lost: int) -> int:
    """The capacity to restore: what the sweep saw, at most what the eviction took back."""
    restored = now + lost
    return restored if seen is None else max(now, min(seen, restored))


def scaleset_op(state: Any, operation: str, payload: Any) -> tuple[Any, Any]:
    """``seen`` {capacity, at}: the sweep's reading (kept while a wave is open). ``claim`` {by, at}: join the open
    wave or open one (a claim after the owner fixed its target opens one: that instance is not in the target);
    answers the wave {owner, opened, lost, seen}. ``fix`` {by}: the owner fixed its target. ``close`` {by}: done."""
    s: dict[str, Any] = dict(state) if isinstance(state, dict) else {}
    wave = s.get("wave")
    at = parse_iso((payload or {}).get("at"), "at") if operation in ("seen", "claim") else None
    open_wave = wave is not None and at is not None and parse_iso(wave["opened"], "opened") + WAVE > at
    if operation == "seen":
        if not open_wave and at is not None:
            s["readings"] = _readings(s.get("readings"), at, _count(payload.get("capacity")))
            s["seen"], s["seen_at"] = max(n for _, n in s["readings"]), iso(at)
        return s, None
    if operation == "claim":
        by = str(payload.get("by"))[:120]
        late = wave is not None and wave.get("fixed") and by not in wave["members"]
        if not open_wave or wave is None or late:  # a claim after the owner fixed its target: a wave of its own
            wave = {"owner": by, "opened": iso(at) if at else "", "lost": 0, "members": []}
        if by not in wave["members"]:
            wave = {**wave, "lost": wave["lost"] + 1, "members": [*wave["members"], by][-1000:]}
        s["wave"] = wave
        return s, {**wave, "seen": s.get("seen")}
    if operation == "fix":  # the owner counted the wave and fixed its target: later claims open a new wave
        if wave is not None and wave.get("owner") == str((payload or {}).get("by")):
            s["wave"] = {**wave, "fixed": True}
        return s, None
    if operation == "close":
        if wave is not None and wave.get("owner") == str((payload or {}).get("by")):
            s["wave"] = {**wave, "opened": "2000-01-01T00:00:00Z"}  # closed: the next claim opens a new wave
        return s, None
    if operation == "get":
        return s, s
    raise InvalidInput(f"scaleset: no operation {operation!r} (seen, claim, fix, close, get)")


def _readings(kept: Any, at: datetime, capacity: int) -> list[list[Any]]:
    """The sweep's readings of the last SEEN_HOLD, oldest first, with this one."""
    old = [r for r in kept if isinstance(r, list) and len(r) == 2] if isinstance(kept, list) else []
    recent = [[when, n] for when, n in old if at - SEEN_HOLD < parse_iso(when, "reading") <= at]
    return [*recent, [iso(at), capacity]][-100:]


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise InvalidInput("capacity must be an integer from 0 to 1000")
    return value


def gathered_until(wave: dict[str, Any]) -> datetime:
    return parse_iso(wave["opened"], "opened") + GATHER
