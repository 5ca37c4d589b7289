"""The return to Spot, decided: which Regular fallbacks a return may start for now, whether one may start for a
fallback (its profile allows it, none is in flight, the dwell after the last try is over), and whether a Spot
candidate ranks well enough (``revert.min_placement``) and for long enough (``revert.after_minutes``). Pure: no
side effects; the timer trigger (orchestrator.app.returns) and the ``return_to_spot`` orchestration act on it.

A fallback is a VM respot created at Regular priority when no Spot VM could be had: it carries
``respot:fallback=regular`` and ``respot:recovery`` (orchestrator.domain.template). One ``return_to_spot`` per
fallback (instance id ``respot-return-<vm hash>``): at most one swap per member in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.fleet import FallbackMode, Profile, Revert
from orchestrator.domain.models import Reason, VmFacts, VmRef
from orchestrator.domain.placement import Candidate
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
