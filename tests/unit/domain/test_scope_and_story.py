"""ARM name rules, the settings' scope, operation URLs, the bounded story, and the JSON depth check."""

from __future__ import annotations

import pytest

from orchestrator.domain.models import InvalidInput, VmFacts, VmRef
from orchestrator.domain.scope import (
    InvalidOperation,
    InvalidResourceId,
    Scope,
    check_operation_url,
    parse_vm_id,
    vm_hash,
)
from orchestrator.domain.signals import Malformed, check_depth
from orchestrator.domain.story import MAX_RUNS, MAX_SIGNALS, AttemptRun, SignalEntry, Story

SUB = "11111111-1111-1111-1111-111111111111"
BASE = f"/subscriptions/{SUB}/resourceGroups"


def test_vm_ids_normalise_and_refuse_everything_else() -> None:
    ref = parse_vm_id(f"{BASE}/RG/providers/Microsoft.Compute/virtualMachines/Vm1/")
    assert ref.id == f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1"
    assert vm_hash(ref) == vm_hash(parse_vm_id(ref.id.upper().replace("/SUBSCRIPTIONS", "/subscriptions")))
    instance = parse_vm_id(f"{BASE}/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3")
    assert (instance.scale_set, instance.instance_id, instance.scale_set_id) == (
        "ss",
        "3",
        instance.id[: -len("/virtualmachines/3")],
    )
    for bad in (None, 42, "x" * 500, "/subscriptions/x", instance.id.replace("/3", "/\u0663")):  # an Arabic-Indic 3
        with pytest.raises(InvalidResourceId):
            parse_vm_id(bad)


@pytest.mark.parametrize("group", [".", "..", "rg.", "a" * 91, "rg/x", "r g", "", "grüppe", "İstanbul"])
def test_resource_group_names_that_arm_would_rewrite_or_refuse_are_refused(group: str) -> None:
    with pytest.raises(InvalidResourceId):
        parse_vm_id(f"{BASE}/{group}/providers/Microsoft.Compute/virtualMachines/vm")


@pytest.mark.parametrize("group", ["rg", "my.rg", ".rg", "rg_(1)", "a" * 90])
def test_resource_group_names_arm_allows_are_accepted(group: str) -> None:
    assert parse_vm_id(f"{BASE}/{group}/providers/Microsoft.Compute/virtualMachines/vm").resource_group == group.lower()


@pytest.mark.parametrize("name", ["vm.", "vm-", "-vm", ".vm", "a" * 65, "v m", "vm$"])
def test_vm_names_outside_arm_rules_are_refused(name: str) -> None:
    with pytest.raises(InvalidResourceId):
        parse_vm_id(f"{BASE}/rg/providers/Microsoft.Compute/virtualMachines/{name}")


def test_a_vm_from_an_orchestration_input_is_validated_like_an_id() -> None:
    assert VmRef.from_dict({"subscription": SUB, "resource_group": "rg", "name": "vm"}).name == "vm"
    for bad in ({"subscription": SUB, "resource_group": "..", "name": "vm"}, {"name": "vm"}, "vm", None):
        with pytest.raises(InvalidInput):
            VmRef.from_dict(bad)


def test_scope_is_subscriptions_groups_and_tags() -> None:
    scope = Scope(frozenset({SUB}), frozenset({"rg"}), (("team", "spot"),))
    assert scope.allows(VmRef(SUB, "rg", "vm")) and not scope.allows(VmRef(SUB, "other", "vm"))
    assert not scope.allows(VmRef("22222222-2222-2222-2222-222222222222", "rg", "vm"))
    assert scope.tags_match(VmFacts(exists=True, tags={"Team": "spot"}))
    assert not scope.tags_match(VmFacts(exists=True, tags={"team": "other"}))


def test_respot_sends_its_token_only_to_operations_of_the_configured_arm_in_scope() -> None:
    scope = Scope(frozenset({SUB}))
    ok = f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/abc-1?api-version=2026-04-01"
    assert check_operation_url(ok, "https://management.azure.com", scope) == ok
    for bad in (
        ok.replace("management.azure.com", "evil.example"),
        ok.replace("https://", "http://"),
        ok.replace(SUB, "22222222-2222-2222-2222-222222222222"),
        f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg",
        None,
    ):
        with pytest.raises(InvalidOperation):
            check_operation_url(bad, "https://management.azure.com", scope)


def test_the_story_counts_redeliveries_and_bounds_signals() -> None:
    story = Story()
    assert story.add_signal(SignalEntry("event-grid", "e", "t", "t"))
    assert not story.add_signal(SignalEntry("event-grid", "e", "t", "t2"))
    for i in range(MAX_SIGNALS + 5):
        story.add_signal(SignalEntry("activity-log-alert", str(i), "t", "t"))
    assert len(story.signals) == MAX_SIGNALS and story.signals_omitted == 6 and story.duplicates == 1


def test_attempts_are_run_length_encoded_and_bounded() -> None:
    story = Story()
    for i in range(200):
        story.add_attempt(AttemptRun("start", "capacity", "ZonalAllocationFailed", f"try {i}", str(i), str(i)))
    assert len(story.runs) == 1 and story.runs[0].count == 200 and story.runs[0].message == "try 199"
    for i in range(3 * MAX_RUNS):
        story.add_attempt(AttemptRun("start", "capacity" if i % 2 else "throttled", str(i % 2), "", "t", "t"))
    assert len(story.runs) == MAX_RUNS and story.runs[0].count == 200
    assert story.attempts == 200 + 3 * MAX_RUNS == sum(r.count for r in story.runs) + story.runs_omitted
    assert Story.from_dict(story.to_dict()) == story


def test_json_nesting_is_refused_before_decoding() -> None:
    check_depth(b'{"a": [{"b": "[[[[[[[[[["}]}', 4)
    with pytest.raises(Malformed, match="deeper than 4"):
        check_depth(b"[[[[[]]]]]", 4)
    with pytest.raises(Malformed):
        check_depth(b"[" * 10_000 + b"]" * 10_000, 32)
    check_depth(b'"\\"[[[[[[["', 2)  # brackets inside a string with an escaped quote
