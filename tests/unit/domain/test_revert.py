"""The return to Spot, decided: which fallbacks, whether one may start now, and what ranks well enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.domain.fleet import Profile, parse_fleets
from orchestrator.domain.models import VmFacts
from orchestrator.domain.placement import Candidate, Offering
from orchestrator.domain.revert import (
    Previous,
    above_floor,
    good_candidate,
    is_fallback,
    is_movable,
    not_due,
    return_id,
    swap_at,
    to_move,
    worth_moving,
)
from orchestrator.domain.template import FALLBACK_TAG, RECOVERY_TAG
from tests.unit.domain.test_fleet import profile
from tests.unit.fakes import vm_ref

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ON = {"enabled": True, "after_minutes": 20, "min_placement": "Medium", "dwell_minutes": 60}


def web(**extra: Any) -> Profile:
    [p] = parse_fleets({"fleets": [profile(**extra)]}).fleets
    return p


def test_a_fallback_is_a_regular_vm_respot_created_and_marked() -> None:
    marked = {FALLBACK_TAG: "regular", RECOVERY_TAG: "respot-0123456789abcdef-0001"}
    assert is_fallback(VmFacts(exists=True, priority="Regular", tags=marked))
    assert not is_fallback(VmFacts(exists=True, priority="Spot", tags=marked))
    assert not is_fallback(VmFacts(exists=True, priority="Regular", tags={FALLBACK_TAG: "regular"}))  # a person's
    assert not is_fallback(VmFacts(exists=False, priority="Regular", tags=marked))


def test_keep_regular_leaves_the_floor_and_picks_the_same_fallbacks_every_tick() -> None:
    refs = [vm_ref("web-c"), vm_ref("web-a"), vm_ref("web-b")]
    assert above_floor(web(revert=ON), refs, regular=3) == sorted(refs, key=lambda r: r.id)
    keep = web(revert=ON, fallback={"mode": "keep_regular", "keep": 2})
    assert above_floor(keep, refs, regular=3) == [vm_ref("web-a")]
    assert above_floor(keep, refs, regular=2) == []
    assert above_floor(web(), refs, regular=3) == []  # revert not enabled


def test_one_return_in_flight_and_a_dwell_after_a_swap_that_did_not_hold() -> None:
    revert = web(revert=ON).revert
    assert not_due(revert, None, NOW) is None
    assert not_due(revert, Previous(running=True), NOW) == "a return is in flight"
    lost = Previous(running=False, reason="lost_in_warm_up", concluded_at=NOW - timedelta(minutes=30))
    assert (not_due(revert, lost, NOW) or "").startswith("dwell until 2026-03-01T12:30")
    assert not_due(revert, lost, NOW + timedelta(minutes=30)) is None
    waited = Previous(running=False, reason="no_good_candidate", concluded_at=NOW)
    assert not_due(revert, waited, NOW) is None  # nothing was swapped: look again at the next tick
    assert not_due(web().revert, None, NOW) == "the profile's revert is not enabled"


def candidate(zone: str, score: str | None) -> Candidate:
    return Candidate(Offering("Standard_D2s_v5", "eastus", zone), price=0.02, placement_score=score)


def test_the_best_candidate_at_or_above_the_placement_floor_is_good_and_stale_scores_are_none() -> None:
    revert = web(revert=ON).revert  # min_placement Medium
    ranked = [candidate("1", "Low"), candidate("2", "Medium"), candidate("3", "High")]
    assert good_candidate(ranked, revert, stale=False) == ranked[1]
    assert good_candidate(ranked[:1], revert, stale=False) is None
    assert good_candidate(ranked, revert, stale=True) is None
    assert good_candidate([candidate("1", None)], revert, stale=False) is None


def test_the_swap_is_due_after_minutes_after_the_first_good_look_and_ids_are_per_fallback() -> None:
    assert swap_at(NOW, web(revert=ON).revert) == NOW + timedelta(minutes=20)
    assert return_id(vm_ref("a")) == return_id(vm_ref("a")) != return_id(vm_ref("b"))
    assert return_id(vm_ref("a")).startswith("respot-return-")


def test_a_move_looks_only_at_respots_own_spot_members_old_enough_oldest_first() -> None:
    moves = web(revert={**ON, "better_by": 1.0})
    own = {RECOVERY_TAG: "respot-0123456789abcdef-0001"}
    old = VmFacts(exists=True, priority="Spot", tags=own, created_at="2026-03-01T10:00:00Z")
    older = VmFacts(exists=True, priority="Spot", tags=own, created_at="2026-03-01T09:00:00Z")
    young = VmFacts(exists=True, priority="Spot", tags=own, created_at="2026-03-01T11:30:00Z")  # dwell 60 min
    persons = VmFacts(exists=True, priority="Spot", tags={}, created_at="2026-03-01T09:00:00Z")
    unknown = VmFacts(exists=True, priority="Spot", tags=own)
    members = [(vm_ref("a"), old), (vm_ref("b"), older), (vm_ref("c"), young), (vm_ref("d"), persons)]
    members.append((vm_ref("e"), unknown))
    assert to_move(moves, members, NOW) == [vm_ref("b"), vm_ref("a")]
    assert to_move(web(revert=ON), members, NOW) == []  # no better_by: fallbacks only
    assert is_movable(old) and not is_movable(persons)
    assert not is_movable(VmFacts(exists=True, priority="Regular", tags=own))


def test_a_member_moves_only_for_a_good_candidate_better_by_enough() -> None:
    revert = web(revert={**ON, "better_by": 1.0}).revert
    best = Candidate(Offering("Standard_D2s_v5", "eastus", "2"), 0.02, "0-5", "High", score=6.0)
    mine = Candidate(Offering("Standard_D2s_v5", "eastus", "1"), 0.02, "0-5", "Low")  # 2 x 1 = 2 points
    close = Candidate(Offering("Standard_D2s_v5", "eastus", "3"), 0.02, "0-5", "High")  # 6 points
    chosen, why = worth_moving([best], [best, mine, close], mine.offering, revert, stale=False)
    assert chosen == best and "4.00 above" in why
    chosen, why = worth_moving([best], [best, mine, close], close.offering, revert, stale=False)
    assert chosen is None and "within better_by" in why
    chosen, why = worth_moving([best], [best], best.offering, revert, stale=False)
    assert chosen is None and "is the best good candidate" in why
    assert worth_moving([best], [best, mine], mine.offering, revert, stale=True) == (None, "no good candidate")
