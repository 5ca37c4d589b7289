"""The return to Spot, decided: which Regular fallbacks a return may start for now, whether one may start for a
fallback (its profile allows it, none is in flight, the dwell after the last try is over), and whether a Spot
candidate ranks well enough (``revert.min_placement``) and for long enough (``revert.after_minutes``). Pure: no
side effects; the timer trigger (orchestrator.app.returns) and the ``return_to_spot`` orchestration act on it.

A fallback is a VM respot created at Regular priority when no Spot VM could be had: it carries
``respot:fallback=regular`` and ``respot:recovery`` (orchestrator.domain.template). One ``return_to_spot`` per
fallback (instance id ``respot-return-<vm hash>``): at most one swap per member in flight.

With ``revert.better_by`` a Spot member respot created is **moved** the same way when a good candidate ranks at
least ``better_by`` points above its own offering (``worth_moving``): bounded churn, since a member is moved only
once it has existed ``dwell_minutes``, a look that finds it not worse waits ``dwell_minutes`` before the next, and
a fleet has one move in flight at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.fleet import FallbackMode, Profile, Revert
from orchestrator.domain.models import InvalidInput, Reason, VmFacts, VmRef, parse_iso
from orchestrator.domain.placement import Candidate, Offering, score
from orchestrator.domain.scope import vm_hash
from orchestrator.domain.template import FALLBACK_TAG, RECOVERY_TAG

RETURN_PREFIX = "respot-return-"
PLACEMENT_LEVEL = {"high": 3, "medium": 2, "low": 1}
NO_DWELL = (Reason.RETURNED.value, Reason.NO_GOOD_CANDIDATE.value)  # ends after which the next tick may try again


def return_id(vm: VmRef) -> str:
    """The instance id of a fallback's return: the same for every trigger, so one runs at a time."""
    return f"{RETURN_PREFIX}{vm_hash(vm)}"


def is_fallback(facts: VmFacts) -> bool:
    """A Regular VM respot created as a fallback (its tags say so; a VM a person made never has both)."""
    tags = {k.lower(): v for k, v in facts.tags.items()}
    return facts.exists and not facts.is_spot and tags.get(FALLBACK_TAG) == "regular" and bool(tags.get(RECOVERY_TAG))


def above_floor(profile: Profile, fallbacks: list[VmRef], regular: int) -> list[VmRef]:
    """The fallbacks a return may start for, in name order: all of them, or under ``keep_regular`` only as many as
    the fleet's ``regular`` members exceed ``keep`` by (the same ones at every tick, so two ticks never pick two)."""
    ordered = sorted(fallbacks, key=lambda v: v.id.lower())
    if not profile.revert.enabled:
        return []
    if profile.fallback.mode != FallbackMode.KEEP_REGULAR:
        return ordered
    return ordered[: max(0, regular - profile.fallback.keep)]


@dataclass(frozen=True)
class Previous:
    """The last return of a fallback, as the durable client reports it."""

    running: bool
    reason: str | None = None
    concluded_at: datetime | None = None


def not_due(revert: Revert, previous: Previous | None, now: datetime) -> str | None:
    """Why no return starts now (None: it may). A swap that did not hold (the Spot VM lost in warm-up, a create
    that failed, a fallback kept) waits ``dwell_minutes`` from its end: bounded churn."""
    if not revert.enabled:
        return "the profile's revert is not enabled"
    if previous is None:
        return None
    if previous.running:
        return "a return is in flight"
    if previous.reason in NO_DWELL or previous.concluded_at is None:
        return None
    until = previous.concluded_at + timedelta(minutes=revert.dwell_minutes)
    return f"dwell until {until.isoformat()}" if now < until else None


def good_candidate(ranked: list[Candidate], revert: Revert, *, stale: bool) -> Candidate | None:
    """The best ranked Spot candidate whose placement score is at least ``min_placement`` (none when the scores
    are stale: respot does not swap on old news)."""
    if stale:
        return None
    floor = PLACEMENT_LEVEL[revert.min_placement.lower()]
    return next((c for c in ranked if PLACEMENT_LEVEL.get((c.placement_score or "").lower(), 0) >= floor), None)


def swap_at(good_since: datetime, revert: Revert) -> datetime:
    """When a candidate first seen good at ``good_since`` (and good at every look since) has ranked long enough."""
    return good_since + timedelta(minutes=revert.after_minutes)


def is_movable(facts: VmFacts) -> bool:
    """A Spot VM respot created (a replacement, or a return): the only Spot members a move ever deletes."""
    tags = {k.lower(): v for k, v in facts.tags.items()}
    return facts.exists and facts.is_spot and bool(tags.get(RECOVERY_TAG)) and not tags.get(FALLBACK_TAG)


def to_move(profile: Profile, members: list[tuple[VmRef, VmFacts]], now: datetime) -> list[VmRef]:
    """The Spot members a move may look at, oldest first: respot's own, created ``dwell_minutes`` ago or more (a
    VM whose creation time ARM did not give is never moved). None unless the profile has ``revert.better_by``."""
    revert = profile.revert
    if not revert.enabled or revert.better_by is None:
        return []
    settled = []
    for ref, facts in members:
        try:
            created = parse_iso(facts.created_at, "created_at")
        except InvalidInput:
            continue
        if is_movable(facts) and now - created >= timedelta(minutes=revert.dwell_minutes):
            settled.append((created, ref.id.lower(), ref))
    return [ref for _, _, ref in sorted(settled, key=lambda t: (t[0], t[1]))]


def worth_moving(
    ranked: list[Candidate], found: list[Candidate], own: Offering, revert: Revert, *, stale: bool
) -> tuple[Candidate | None, str]:
    """(the good candidate to move to, or None; why). The member's own offering is scored as the ranking scores
    the others (an offering the profile no longer allows is always worse)."""
    good = good_candidate(ranked, revert, stale=stale)
    if good is None or revert.better_by is None:
        return None, "no good candidate"
    if good.offering.key == own.key:
        return None, f"{own.key} is the best good candidate"
    prices = [c.price for c in ranked if c.price is not None]
    mine = next((c for c in found if c.offering.key == own.key), None)
    if mine is None:
        return good, f"{own.key} is not among the profile's offerings any more"
    own_score = score(mine, min(prices) if prices else None, stale)
    gain = good.score - own_score
    if gain < revert.better_by:
        why = f"{own.key} scores {own_score:.2f}, {good.offering.key} {good.score:.2f}: within better_by"
        return None, f"{why} {revert.better_by:g}"
    return good, f"{good.offering.key} scores {good.score:.2f}, {gain:.2f} above {own.key}"
