"""The inventory sweep: which fleet members exist now, and what a replacement of each would need to know (it is
gone when the eviction deletes it), and the capacity of each Delete-policy scale set. Reads only: one VM list and
one scale-set list per subscription in scope."""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator.domain.capacity import scale_set_key
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.models import VmFacts, VmRef, iso
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import Member
from orchestrator.ports import Compute, ScaleSets

log = logging.getLogger("respot.inventory")


def fleet_members(compute: Compute, fleets: Fleets, scope: Scope, now: datetime) -> list[tuple[VmRef, Member]]:
    """Every Delete-policy Spot VM in scope that a profile recognises, or that belongs to a Flexible scale set (its
    eviction is the set's capacity to restore, and once the VM is gone only this record says which set). A
    subscription ARM will not list now is logged and skipped (the next sweep tries again; what was recorded stays)."""
    found = []
    for subscription in sorted(scope.subscriptions):
        try:
            vms = compute.list_vms(subscription)
        except ArmFailure as failure:
            log.warning("inventory: subscription %s not listed: %s %s", subscription, failure.code, failure.message)
            continue
        for ref, facts in vms:
            profile = fleets.of(facts.tags)
            protected = profile is not None or facts.scale_set_name  # a Flexible member: its set is restored
            if not protected or not scope.allows(ref) or not scope.tags_match(facts) or facts.ignored_by_tag:
                continue
            if facts.is_spot and facts.delete_policy:
                found.append((ref, Member.from_facts(ref, facts, profile.name if profile else "", iso(now))))
    return found


def scale_set_capacities(scale_sets: ScaleSets, scope: Scope) -> list[tuple[str, int]]:
    """(scaleset entity key, capacity) of every Delete-policy Spot scale set in scope: what a restore goes back to.
    A set with Try & restore is the platform's (autoscale is checked when an eviction comes)."""
    found = []
    for subscription in sorted(scope.subscriptions):
        try:
            sets = scale_sets.list_scale_sets(subscription)
        except ArmFailure as failure:
            log.warning("inventory: scale sets of %s not listed: %s %s", subscription, failure.code, failure.message)
            continue
        for rg, name, facts, tags in sets:
            ref = VmRef(subscription, rg, name)
            if not scope.allows(ref) or not scope.tags_match(VmFacts(exists=True, tags=tags)):
                continue
            if facts.spot and facts.delete_policy and not facts.restore:
                found.append((scale_set_key(subscription, rg, name), facts.capacity))
    return found
