"""The return to Spot's activities: which Regular fallbacks (and, under ``revert.better_by``, which Spot members)
are in scope for the timer trigger, the PUT of the Spot VM that replaces one, and the deletion of the replaced VM
once that Spot VM runs. Dict in, a few short calls, a dict out; nothing waits for an operation.

Trust: scope, profile and revert policy come from settings (the fleets file), never from the input. Each activity
reads the VM to replace first: it must be a Regular VM respot created as a fallback (``respot:fallback=regular``
and ``respot:recovery``) whose profile has ``revert.enabled``, or a Spot VM respot created (``respot:recovery``)
whose profile also has ``revert.better_by``: nothing a person made is ever replaced. A create first reads the Spot
VM's deterministic name (a retried or replayed create is reported, never PUT twice), and is refused while the
fleet has more live members than ``desired`` (at most one extra member during a swap). The replaced VM is deleted
only while its Spot replacement runs (read, not taken from the input) and the fleet keeps ``desired`` members and
its ``keep_regular`` floor without it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from orchestrator.activities.fleet import Order, create_request, live_members, put_replacement
from orchestrator.activities.steps import Refused, answer, vm_in_scope
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import FallbackMode, Fleets, Profile
from orchestrator.domain.models import InvalidInput, Step, StepResult, VmFacts, VmRef, iso
from orchestrator.domain.revert import above_floor, is_fallback, is_movable, to_move
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import REPLACES_TAG, Member
from orchestrator.domain.vmstate import is_recovered
from orchestrator.ports import Compute, MarketData, Secrets

log = logging.getLogger("respot.returns")


def fallbacks(compute: Compute, fleets: Fleets, scope: Scope, now: datetime) -> list[tuple[VmRef, Member, Profile]]:
    """Every Regular fallback in scope whose profile allows a return now (above its ``keep_regular`` floor), then,
    under ``revert.better_by``, the Spot members a move may look at (oldest first): one VM list per subscription."""
    found: list[tuple[VmRef, Member, Profile]] = []
    if not any(p.revert.enabled for p in fleets.fleets):
        return found  # no profile returns to Spot: no reads at all
    for subscription in sorted(scope.subscriptions):
        vms = [(r, f) for r, f in _listed(compute, subscription) if scope.allows(r)]
        for profile in fleets.fleets:
            found += _of_profile(profile, vms, scope, now)
    return found


def _listed(compute: Compute, subscription: str) -> list[tuple[VmRef, VmFacts]]:
    """The subscription's VMs; none when ARM will not list them now (logged: the next tick tries again)."""
    try:
        return compute.list_vms(subscription)
    except ArmFailure as failure:
        log.warning("returns: subscription %s not listed: %s %s", subscription, failure.code, failure.message)
        return []


def _of_profile(
    profile: Profile, vms: list[tuple[VmRef, VmFacts]], scope: Scope, now: datetime
) -> list[tuple[VmRef, Member, Profile]]:
    mine = [(r, f) for r, f in vms if profile.recognises(f.tags) and scope.tags_match(f) and not f.ignored_by_tag]
    regular = sum(1 for _, f in mine if not f.is_spot)
    facts = {r.id: f for r, f in mine}
    chosen = above_floor(profile, [r for r, f in mine if is_fallback(f)], regular) + to_move(profile, mine, now)
    return [(r, Member.from_facts(r, facts[r.id], profile.name, iso(now)), profile) for r in chosen]


def _fallback(compute: Compute, fleets: Fleets, vm: VmRef) -> tuple[VmFacts, Profile] | StepResult:
    """The facts and profile of the VM to replace (a fallback, or a Spot member respot created when its profile
    has ``revert.better_by``), or the answer to give (gone, not one of those, no return allowed)."""
    facts = compute.facts(vm)
    if not facts.exists:
        return StepResult(Step.DONE, reason="gone")
    if not (is_fallback(facts) or is_movable(facts)):
        return StepResult(Step.SKIPPED, facts=facts, reason="not_a_fallback")
    profile = fleets.of(facts.tags)
    if profile is None or not profile.revert.enabled:
        return StepResult(Step.OUT_OF_SCOPE, reason="no fleet profile with revert.enabled has this VM")
    if facts.is_spot and profile.revert.better_by is None:
        return StepResult(Step.OUT_OF_SCOPE, reason=f"fleet {profile.name} has no revert.better_by: no move")
    return facts, profile


def create_return(
    payload: Any, compute: Compute, market: MarketData, secrets: Secrets, fleets: Fleets, scope: Scope
) -> dict[str, Any]:
    """PUT the Spot VM that replaces a fallback: input {vm (the fallback), member, offering, attempt, recovery}."""

    def body() -> StepResult:
        fallback, target, offering, member = create_request(payload, scope)
        if member.name != fallback.name:
            raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="bad input: the member is not the fallback"))
        facts = compute.facts(target)
        if facts.exists:  # this attempt's Spot VM is already there: report it, never PUT again
            return StepResult(Step.SKIPPED, facts=facts, reason="exists")
        found = _fallback(compute, fleets, fallback)
        if isinstance(found, StepResult):
            return StepResult(Step.SKIPPED, reason="not_a_fallback") if found.step == Step.DONE else found
        before, profile = found
        live = sum(live_members(compute, target.subscription, profile, scope).values())
        if live > profile.desired:  # a swap (or more members than wanted) already: one extra member at most
            return StepResult(Step.SKIPPED, reason="fleet_full", value=str(live))
        known = Member.from_facts(fallback, before, profile.name, iso(datetime.now(UTC)))  # ARM's, not the input's
        order = Order(profile, known, offering, target, str(payload["recovery"]), spot=True)
        return put_replacement(order, compute, market, secrets)

    return answer(body)


def delete_fallback(payload: Any, compute: Compute, fleets: Fleets, scope: Scope) -> dict[str, Any]:
    """Delete a fallback whose Spot replacement runs: input {vm (the fallback), spot (the Spot VM's ref)}."""

    def body() -> StepResult:
        fallback = vm_in_scope(payload, scope)
        spot = _spot_ref(payload, fallback)
        found = _fallback(compute, fleets, fallback)
        if isinstance(found, StepResult):
            return found
        before, profile = found
        replacement = compute.facts(spot)
        replaces = replacement.tags.get(REPLACES_TAG) == fallback.name
        if not (replacement.exists and replacement.is_spot and replaces and is_recovered(replacement.codes)):
            return StepResult(Step.SKIPPED, facts=replacement, reason="spot_not_running")
        counts = live_members(compute, fallback.subscription, profile, scope)
        others = sum(counts.values()) - 1
        if others < profile.desired:  # never below the desired count: the fallback stays while the fleet needs it
            return StepResult(Step.SKIPPED, reason="below_desired", value=str(others))
        floor = profile.fallback.keep if profile.fallback.mode == FallbackMode.KEEP_REGULAR else 0
        if counts.get("Regular", 0) - (0 if before.is_spot else 1) < floor:
            return StepResult(Step.SKIPPED, reason="regular_floor", value=str(floor))
        operation = compute.begin_delete(fallback)
        return StepResult(Step.ACCEPTED if operation else Step.DONE, operation=operation)

    return answer(body)


def _spot_ref(payload: Any, fallback: VmRef) -> VmRef:
    try:
        spot = VmRef.from_dict(payload.get("spot"))
    except InvalidInput as exc:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}")) from None
    if (spot.subscription, spot.resource_group.lower()) != (fallback.subscription, fallback.resource_group.lower()):
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="bad input: the Spot VM is not beside the fallback"))
    return spot
