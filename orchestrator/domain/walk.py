"""The redeploy walk: down the ranked candidates, one create at a time, reacting to each failure by its class.
Pure; the redeploy orchestration and the policy benchmark both drive it.

| the create failed with                                   | then                                              |
|----------------------------------------------------------|---------------------------------------------------|
| quota (OperationNotAllowed ... quota)                    | skip that size's family in that region            |
| SkuNotAvailable                                          | skip that size in that region                     |
| AllocationFailed, ZonalAllocationFailed, Overconstrained | cool the offering down (shared memory), try next  |
| SpotPriceGreaterThanProvidedMaxPrice                     | skip that size in that region by price            |
| a configuration error                                    | fail the recovery with the message                |
| throttled, transient, no answer, conflict                | not the candidate's fault: try it again later     |
| evicted again while warming up                           | cool the offering down (evicted), try next        |

When the list runs out the recovery waits on the restart schedule and ranks again with fresh data (never a tight
loop); a Regular fallback comes when the profile allows it (``fallback_due``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.domain.errors import CAPACITY_CODES, Failure
from orchestrator.domain.fleet import FallbackMode, Profile
from orchestrator.domain.placement import Candidate, Offering


class Verdict(StrEnum):
    COOL = "cool"  # the offering is out of capacity: remember it, for every recovery, for a while
    SKIP_FAMILY = "skip_family"
    SKIP_SIZE = "skip_size"
    SKIP_PRICE = "skip_price"
    FAIL = "fail"
    AGAIN = "again"  # ARM trouble: the same candidate later


def verdict(kind: Failure, code: str) -> Verdict:
    low = code.lower()
    if kind == Failure.QUOTA:
        return Verdict.SKIP_FAMILY
    if low == "skunotavailable":
        return Verdict.SKIP_SIZE
    if kind == Failure.CAPACITY or low in CAPACITY_CODES:
        return Verdict.COOL
    if kind == Failure.PRICE:
        return Verdict.SKIP_PRICE
    if kind in (Failure.CONFIG, Failure.NOT_FOUND):
        return Verdict.FAIL
    return Verdict.AGAIN


@dataclass
class Walk:
    """Which candidate to try next, given what failed so far in this ranking."""

    ranked: list[Candidate]
    families: dict[str, str] = field(default_factory=dict)  # size lower -> quota family
    skipped: set[str] = field(default_factory=set)  # "family:<f>/<region>", "size:<s>/<region>", offering keys
    tried: list[tuple[str, str]] = field(default_factory=list)  # (offering key, what happened)

    def next(self) -> Candidate | None:
        return next((c for c in self.ranked if not self._skipped(c.offering)), None)

    def _skipped(self, o: Offering) -> bool:
        family = self.families.get(o.size.lower(), "")
        marks = (o.key, f"size:{o.size.lower()}/{o.region}", f"family:{family.lower()}/{o.region}")
        return any(m in self.skipped for m in marks)

    def record(self, offering: Offering, outcome: Verdict | str) -> None:
        """What happened to a create (a Verdict, or "succeeded"), and what it rules out for the rest."""
        self.tried.append((offering.key, str(outcome)))
        if outcome in (Verdict.COOL, Verdict.FAIL):
            self.skipped.add(offering.key)
        elif outcome == Verdict.SKIP_FAMILY:
            self.skipped.add(f"family:{self.families.get(offering.size.lower(), '').lower()}/{offering.region}")
        elif outcome in (Verdict.SKIP_SIZE, Verdict.SKIP_PRICE):
            self.skipped.add(f"size:{offering.size.lower()}/{offering.region}")


def fallback_due(profile: Profile, *, spot_lost_at: datetime, now: datetime, regular_members: int) -> bool:
    """May this recovery create a Regular VM instead of waiting for Spot?"""
    mode = profile.fallback.mode
    if mode == FallbackMode.AFTER_MINUTES:
        return now - spot_lost_at >= timedelta(minutes=profile.fallback.minutes)
    if mode == FallbackMode.KEEP_REGULAR:
        return regular_members < profile.fallback.keep
    return False
