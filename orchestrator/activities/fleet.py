"""Fleet activities: the profile (from settings), the market a ranking needs, and creating or deleting a
replacement. Dict in, a few short calls, a dict out; nothing waits for an operation.

Trust: the profile is the one in the settings' fleets file whose membership tag the member carried (never a name
from the input); a create is refused unless the evicted VM is really gone, the fleet has fewer live members than
its ``desired`` count (the recovery's own earlier, failed attempts still being deleted do not count), its offering
is one the profile allows (by the region's resource SKUs), the name is the attempt's deterministic replacement
name, and the resource group is in scope. The PUT is a create only (``If-None-Match: *``): a VM already there
under that name (a retried or replayed create) is answered 412 by ARM, left as it is, read and reported, so a
first create needs no read; one asked ``again`` (an earlier PUT's outcome unknown) reads its name first. The live members and whether the evicted VM is still listed come from the
subscription's VM list, at most ``members_age`` seconds old (a wave's creates share one list: one list per
create was one read and a thousand VM models each); a listed evicted VM is read, and a fleet that looks full is
listed afresh before the create is refused (a shared list may still show members the wave has since taken). The max price comes from the profile (its cap, or its
ceiling after a price eviction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.activities.steps import Refused, answer, vm_in_scope
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.fleet import Fleets, Profile
from orchestrator.domain.models import InvalidInput, Step, StepResult, VmFacts, VmRef
from orchestrator.domain.placement import Market, Offering, Sku, candidates, market_to_dict, offerings
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import RECOVERY_TAG, Member, replacement_name, vm_body
from orchestrator.ports import Compute, MarketData, Secrets


def _member(payload: Any) -> Member:
    try:
        return Member.from_dict(payload.get("member") if isinstance(payload, dict) else None)
    except InvalidInput as exc:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}")) from None


def _profile(payload: Any, fleets: Fleets) -> Profile:
    member = _member(payload)
    profile = fleets.of(member.tags)
    if profile is None:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="no fleet profile's membership tag is on the member"))
    return profile


def fleet_profile(payload: Any, fleets: Fleets) -> dict[str, Any]:
    """The profile that protects the member (OUT_OF_SCOPE when none does)."""

    def body() -> StepResult:
        return StepResult(Step.OK, value=_profile(payload, fleets).model_dump_json())

    return answer(body)


def gather_market(
    payload: Any, market: MarketData, compute: Compute, fleets: Fleets, scope: Scope, *, members_age: float = 0.0
) -> dict[str, Any]:
    """SKUs and quota of every region the fleet may use, spot prices, eviction rates, placement scores, and the
    fleet's live members by priority (a ``keep_regular`` fallback counts them; from a list at most ``members_age``
    seconds old: the create checks the count again, on a fresh list)."""

    def body() -> StepResult:
        vm, profile = vm_in_scope(payload, scope), _profile(payload, fleets)
        regions = [p.region for p in profile.placements]
        skus = {(r, k): s for r in regions for k, s in market.skus(vm.subscription, r).items()}
        sizes = sorted({o.size.lower() for o in offerings(profile, Market(skus=skus))})
        scores = market.placement_scores(vm.subscription, sizes, regions)
        gathered = Market(
            skus=skus,
            spot_prices={(s, r): p for r in regions for s, p in market.spot_prices(r).items()},
            eviction_rates=market.eviction_rates(vm.subscription, sizes, regions),
            placement=scores.scores,
            placement_stale=scores.stale,
            placement_renewed_in=scores.renewed_in,
            quota={r: market.quota(vm.subscription, r) for r in regions},
            members=live_members(compute, vm.subscription, profile, scope, max_age=members_age),
        )
        return StepResult(Step.OK, value=json.dumps(market_to_dict(gathered)))

    return answer(body)


def live_members(
    compute: Compute,
    subscription: str,
    profile: Profile,
    scope: Scope,
    *,
    besides: frozenset[str] = frozenset(),
    max_age: float = 0.0,
) -> dict[str, int]:
    """The fleet's VMs by priority, but for those named in ``besides`` (lower case)."""
    return members_of(compute.list_vms(subscription, max_age=max_age), profile, scope, besides=besides)


def members_of(
    vms: list[tuple[VmRef, VmFacts]], profile: Profile, scope: Scope, *, besides: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Of listed VMs, the fleet's by priority, but for those named in ``besides`` (lower case)."""
    counts: dict[str, int] = {}
    for ref, facts in vms:
        if scope.allows(ref) and profile.recognises(facts.tags) and ref.name.lower() not in besides:
            priority = "Spot" if facts.is_spot else "Regular"
            counts[priority] = counts.get(priority, 0) + 1
    return counts


def create_vm(
    payload: Any,
    compute: Compute,
    market: MarketData,
    secrets: Secrets,
    fleets: Fleets,
    scope: Scope,
    *,
    members_age: float = 0.0,
) -> dict[str, Any]:
    """PUT the attempt's replacement: input {vm (the evicted one), member, offering, attempt, recovery, spot, raised}."""

    def body() -> StepResult:
        profile = _profile(payload, fleets)
        evicted, target, offering, member = create_request(payload, scope)
        spot, raised = payload.get("spot") is not False, payload.get("raised") is True
        if payload.get("again") is True:  # re-asked after an unknown outcome: read before re-issuing the write
            facts = compute.facts(target)
            if facts.exists:
                return StepResult(Step.SKIPPED, facts=facts, reason="exists")
        vms = compute.list_vms(target.subscription, max_age=members_age)
        before = compute.facts(evicted) if evicted.id.lower() in {ref.id.lower() for ref, _ in vms} else None
        if before is not None and before.exists:  # still being deleted (ask again shortly), or back: nothing to replace
            return StepResult(Step.SKIPPED, facts=before, reason="evicted_vm_exists")
        # The evicted VM is gone (or we returned above) and this recovery's own VMs never count against it.
        mine = _earlier(payload) | {target.name.lower(), evicted.name.lower()}
        live = sum(members_of(vms, profile, scope, besides=mine).values())
        if live >= profile.desired and members_age > 0:  # a shared list may still show members evicted since
            live = sum(members_of(compute.list_vms(target.subscription), profile, scope, besides=mine).values())
        if live >= profile.desired:  # never more members than the profile wants, however the input came
            return StepResult(Step.SKIPPED, reason="fleet_full", value=str(live))
        max_price = profile.price_ceiling if raised and profile.price_ceiling else None
        order = Order(profile, member, offering, target, str(payload["recovery"]), spot, max_price)
        try:
            return put_replacement(order, compute, market, secrets)
        except ArmFailure as failure:
            if failure.status != 412:
                raise
        return StepResult(Step.SKIPPED, facts=compute.facts(target), reason="exists")  # a retried create: its VM

    return answer(body)


@dataclass(frozen=True)
class Order:
    """What a create PUTs: the profile's template with the member's tags and disks, on one offering."""

    profile: Profile
    member: Member
    offering: Offering
    target: VmRef
    recovery: str
    spot: bool = True
    max_price: float | None = None


def put_replacement(order: Order, compute: Compute, market: MarketData, secrets: Secrets) -> StepResult:
    """The offering checked against the profile (by the region's SKUs), then the PUT (raises :class:`Refused`)."""
    profile, target = order.profile, order.target
    offering = _allowed(profile, order.offering, market.skus(target.subscription, order.offering.region), order.spot)
    request = vm_body(
        profile,
        order.member,
        offering,
        name=target.name,
        ssh_public_key=_ssh_key(profile, secrets),
        spot=order.spot,
        recovery_id=order.recovery,
        max_price=order.max_price,
    )
    operation = compute.begin_create(target, request)
    return StepResult(Step.ACCEPTED if operation else Step.DONE, operation=operation)


def _earlier(payload: dict[str, Any]) -> frozenset[str]:
    """This recovery's earlier attempts: each failed (a success ends the recovery), and its VM may still be on its
    way out (the discard is issued, not waited for): never a live member."""
    member, recovery = str(payload["member"]["name"]), str(payload["recovery"])
    return frozenset(replacement_name(member, recovery, n).lower() for n in range(1, int(payload["attempt"])))


def _ssh_key(profile: Profile, secrets: Secrets) -> str:
    """The profile's key, or the current version of its Key Vault secret (ArmFailure CONFIG names what is wrong)."""
    admin = profile.template.admin
    if admin.ssh_public_key is not None:
        return admin.ssh_public_key
    ref = admin.ssh_public_key_secret
    assert ref is not None  # the profile's validator allows exactly one of the two
    return secrets.ssh_key(ref.vault_url, ref.secret_name)


def create_request(payload: Any, scope: Scope) -> tuple[VmRef, VmRef, Offering, Member]:
    evicted, member = vm_in_scope(payload, scope), _member(payload)
    try:
        offering = Offering.from_key(str(payload["offering"]))
        attempt, recovery = int(payload["attempt"]), str(payload["recovery"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}")) from None
    if not 0 < attempt < 10_000 or not recovery.startswith("respot-"):
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="bad input: attempt or recovery id"))
    name = replacement_name(member.name, recovery, attempt)
    return evicted, VmRef(evicted.subscription, evicted.resource_group, name), offering, member


def _allowed(profile: Profile, offering: Offering, skus: dict[str, Sku], spot: bool) -> Offering:
    """The offering (with the size's own spelling), if the profile allows it by the region's SKUs (size, zone,
    constraints). Raises :class:`Refused`."""
    known = Market(skus={(offering.region, k): v for k, v in skus.items()})
    found = {c.offering.key: c for c in candidates(profile, known, now=datetime.now(UTC), spot=spot, cap=None)}
    candidate = found.get(offering.key)
    if candidate is None or candidate.excluded:
        why = candidate.excluded if candidate else "not among its sizes, regions and zones"
        raise Refused(
            StepResult(Step.OUT_OF_SCOPE, reason=f"fleet {profile.name} does not allow {offering.key}: {why}")
        )
    return candidate.offering


def delete_vm(payload: Any, compute: Compute, scope: Scope) -> dict[str, Any]:
    """Delete a replacement respot created that did not make it (its NIC and disks go with it): only a VM that
    carries respot's recovery tag, so nothing a person made is ever deleted."""

    def body() -> StepResult:
        vm = vm_in_scope(payload, scope)
        facts = compute.facts(vm)
        if not facts.exists:
            return StepResult(Step.DONE, reason="gone")
        if not facts.tags.get(RECOVERY_TAG):
            return StepResult(Step.SKIPPED, reason="not a VM respot created")
        operation = compute.begin_delete(vm)
        return StepResult(Step.ACCEPTED if operation else Step.DONE, operation=operation)

    return answer(body)
