"""The inventory sweep: which fleet members exist now, and what a replacement of each would need to know (it is
gone when the eviction deletes it). Reads only: one VM list per subscription in scope."""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.models import VmRef, iso
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import Member
from orchestrator.ports import Compute

log = logging.getLogger("respot.inventory")


def fleet_members(compute: Compute, fleets: Fleets, scope: Scope, now: datetime) -> list[tuple[VmRef, Member]]:
    """Every Delete-policy Spot VM in scope that a profile recognises. A subscription ARM will not list now is
    logged and skipped (the next sweep tries again; what was recorded before stays)."""
    found = []
    for subscription in sorted(scope.subscriptions):
        try:
            vms = compute.list_vms(subscription)
        except ArmFailure as failure:
            log.warning("inventory: subscription %s not listed: %s %s", subscription, failure.code, failure.message)
            continue
        for ref, facts in vms:
            profile = fleets.of(facts.tags)
            if profile is None or not scope.allows(ref) or not scope.tags_match(facts) or facts.ignored_by_tag:
                continue
            if facts.is_spot and facts.delete_policy:
                found.append((ref, Member.from_facts(ref, facts, profile.name, iso(now))))
    return found
