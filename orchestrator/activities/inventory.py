"""The sweep's reads: every VM of each subscription in scope with its status, and every scale set (two VM lists and
one scale-set list per subscription, whatever the number of VMs); from them, which fleet members exist now and what
a replacement of each would need to know (it is gone when the eviction deletes it), and the capacity of each
Delete-policy scale set."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

from orchestrator.domain.capacity import ScaleSetFacts, scale_set_key
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.models import VmFacts, VmRef, iso
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import Member
from orchestrator.ports import Compute, ScaleSets

log = logging.getLogger("respot.inventory")
T = TypeVar("T")
ScaleSetRow = tuple[str, str, ScaleSetFacts, dict[str, str]]


@dataclass(frozen=True)
class Survey:
    """One subscription as the sweep listed it. ``vms`` or ``sets`` is None when ARM did not list them (``errors``
    says why): the next sweep tries again, and nothing is concluded from what was not seen."""

    subscription: str
    vms: list[tuple[VmRef, VmFacts]] | None
    sets: list[ScaleSetRow] | None
    errors: tuple[str, ...] = ()
    instances: list[tuple[VmRef, VmFacts]] = field(default_factory=list)  # of the Spot Uniform sets in scope
    swept_sets: frozenset[str] = frozenset()  # the ids of the sets whose instances are in ``instances``


def survey(compute: Compute, scale_sets: ScaleSets, scope: Scope) -> list[Survey]:
    """Per subscription: its VMs with their statuses, its scale sets, and the instances of each Spot Uniform set
    in scope that respot restores (not Try & restore's): 3 reads, and one more per such set."""
    out = []
    for subscription in sorted(scope.subscriptions):
        errors: list[str] = []
        vms = _listed(partial(compute.list_vms, subscription, status=True), f"VMs of {subscription}", errors)
        sets = _listed(partial(scale_sets.list_scale_sets, subscription), f"scale sets of {subscription}", errors)
        instances, swept = [], set()
        for rg, name, facts, tags in uniform_spot_sets(subscription, sets or [], scope):
            listed = _listed(partial(compute.list_instances, subscription, rg, name), f"instances of {name}", errors)
            if listed is not None:
                instances += [(ref, _of_set(got, facts, tags)) for ref, got in listed]
                swept.add(facts.id.lower())
        out.append(Survey(subscription, vms, sets, tuple(errors), instances, frozenset(swept)))
    return out


def uniform_spot_sets(subscription: str, sets: list[ScaleSetRow], scope: Scope) -> list[ScaleSetRow]:
    """The Uniform Spot sets in scope without Try & restore (Flexible members are VMs, listed as VMs)."""
    return [
        (rg, name, facts, tags)
        for rg, name, facts, tags in sets
        if facts.mode.lower() == "uniform"
        and facts.spot
        and not facts.restore
        and scope.allows(VmRef(subscription, rg, name))
        and scope.tags_match(VmFacts(exists=True, tags=tags))
    ]


def _of_set(got: VmFacts, facts: ScaleSetFacts, tags: dict[str, str]) -> VmFacts:
    """An instance's facts with its set's model: priority, eviction policy and tags belong to the set."""
    policy = "Delete" if facts.delete_policy else "Deallocate"
    return replace(got, priority="Spot", eviction_policy=policy, tags=dict(tags))


def _listed(read: Callable[[], list[T]], what: str, errors: list[str]) -> list[T] | None:
    try:
        return read()
    except ArmFailure as failure:
        log.warning("sweep: %s not listed: %s %s", what, failure.code, failure.message)
        errors.append(f"{what} not listed: {failure.code}")
        return None


def fleet_members(surveys: list[Survey], fleets: Fleets, scope: Scope, now: datetime) -> list[tuple[VmRef, Member]]:
    """Every Delete-policy Spot VM in scope that a profile recognises, or that belongs to a Flexible scale set (its
    eviction is the set's capacity to restore, and once the VM is gone only this record says which set)."""
    found = []
    for listed in surveys:
        for ref, facts in listed.vms or []:
            profile = fleets.of(facts.tags)
            protected = profile is not None or facts.scale_set_name  # a Flexible member: its set is restored
            if not protected or not scope.allows(ref) or not scope.tags_match(facts) or facts.ignored_by_tag:
                continue
            if facts.is_spot and facts.delete_policy:
                found.append((ref, Member.from_facts(ref, facts, profile.name if profile else "", iso(now))))
    return found


def scale_set_capacities(surveys: list[Survey], scope: Scope) -> list[tuple[str, int]]:
    """(scaleset entity key, capacity) of every Delete-policy Spot scale set in scope: what a restore goes back to.
    A set with Try & restore is the platform's (autoscale is checked when an eviction comes)."""
    found = []
    for listed in surveys:
        for rg, name, facts, tags in listed.sets or []:
            ref = VmRef(listed.subscription, rg, name)
            if not scope.allows(ref) or not scope.tags_match(VmFacts(exists=True, tags=tags)):
                continue
            if facts.spot and facts.delete_policy and not facts.restore:
                found.append((scale_set_key(listed.subscription, rg, name), facts.capacity))
    return found
