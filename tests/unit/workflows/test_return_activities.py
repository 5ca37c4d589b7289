"""The return to Spot's activities over the fake Compute: the trigger's list (one read per subscription, the
keep_regular floor), and the guards that keep a create or a delete from doing harm whatever the input says."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.activities import returns
from orchestrator.domain.models import VmRef, VmStatus
from orchestrator.domain.template import FALLBACK_TAG, RECOVERY_TAG, REPLACES_TAG, replacement_name
from tests.unit.fakes import T0, vm_ref
from tests.unit.workflows.test_revert_replay import FALLBACK, fallback_member, world

RECOVERY = "respot-return-0123456789abcdef01234567-20260301120000"


def create_payload(attempt: int = 1) -> dict[str, object]:
    member = fallback_member().to_dict()
    offering = "standard_d2s_v5/eastus/2"
    return {"vm": FALLBACK.to_dict(), "member": member, "offering": offering, "attempt": attempt, "recovery": RECOVERY}


def spot_ref(attempt: int = 1) -> VmRef:
    return vm_ref(replacement_name(FALLBACK.name, RECOVERY, attempt))


def test_the_trigger_lists_fallbacks_with_one_read_per_subscription_above_the_floor() -> None:
    w = world()
    found = returns.fallbacks(w.compute, w.fleets, w.config.scope, T0)
    assert [(ref.name, member.priority, p.name) for ref, member, p in found] == [(FALLBACK.name, "Regular", "web")]
    assert w.compute.count("list") == 1  # one VM list for the subscription, never a GET per VM
    floor = world(fallback={"mode": "keep_regular", "keep": 1})
    assert returns.fallbacks(floor.compute, floor.fleets, floor.config.scope, T0) == []
    person = world()
    person.compute.vms[FALLBACK.id].tags.pop(RECOVERY_TAG)  # a Regular VM a person made, whatever its tags say
    assert returns.fallbacks(person.compute, person.fleets, person.config.scope, T0) == []


def test_a_create_reads_its_name_first_and_refuses_anything_but_respots_fallback() -> None:
    w = world()
    first = returns.create_return(create_payload(), w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    assert first["step"] == "accepted"
    again = returns.create_return(create_payload(), w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    assert (again["step"], again["reason"]) == ("skipped", "exists") and w.compute.count("create") == 1
    w.compute.vms[FALLBACK.id].tags.pop(FALLBACK_TAG)
    other = returns.create_return(create_payload(2), w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    assert (other["step"], other["reason"]) == ("skipped", "not_a_fallback") and w.compute.count("create") == 1


def test_the_fallback_is_deleted_only_while_its_spot_replacement_runs() -> None:
    w = world()
    payload = {"vm": FALLBACK.to_dict(), "spot": spot_ref().to_dict()}
    early = returns.delete_fallback(payload, w.compute, w.fleets, w.config.scope)
    assert (early["step"], early["reason"]) == ("skipped", "spot_not_running")
    returns.create_return(create_payload(), w.compute, w.market, w.secrets, w.fleets, w.config.scope)
    creating = returns.delete_fallback(payload, w.compute, w.fleets, w.config.scope)
    assert creating["reason"] == "spot_not_running"  # created, not yet running
    w.compute.tick(T0 + timedelta(minutes=5))
    assert w.compute.vms[spot_ref().id].status == VmStatus.RUNNING
    assert w.compute.vms[spot_ref().id].tags[REPLACES_TAG] == FALLBACK.name
    done = returns.delete_fallback(payload, w.compute, w.fleets, w.config.scope)
    assert done["step"] == "done" and FALLBACK.id not in w.compute.vms
    gone = returns.delete_fallback(payload, w.compute, w.fleets, w.config.scope)
    assert (gone["step"], gone["reason"]) == ("done", "gone")  # a retried delete is harmless


def test_a_spot_vm_elsewhere_is_refused_without_a_read() -> None:
    w = world()
    payload = {"vm": FALLBACK.to_dict(), "spot": vm_ref("x", rg="other").to_dict()}
    out = returns.delete_fallback(payload, w.compute, w.fleets, w.config.scope)
    assert out["step"] == "out_of_scope" and w.compute.count("facts") == 0
