"""Scale-set activities for a capacity restore: read the set (with the autoscale settings that target it), and
raise its ``sku.capacity``. The set is the one the payload's VM (a Uniform instance, or a Flexible member) belongs
to, in that VM's subscription and resource group: inside the settings' scope."""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.activities.steps import Refused, answer, vm_in_scope
from orchestrator.domain.capacity import MAX_RAISE
from orchestrator.domain.models import Step, StepResult, VmRef
from orchestrator.domain.scope import Scope
from orchestrator.ports import ScaleSets

_NAME = re.compile(r"^[A-Za-z0-9][-\w.]{0,63}$")


def _scale_set(payload: Any, scope: Scope) -> tuple[VmRef, str]:
    vm = vm_in_scope(payload, scope)
    name = vm.scale_set or (payload.get("scale_set") if isinstance(payload, dict) else None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="bad input: scale_set must be a scale set's name"))
    return vm, name.lower()


def read_scale_set(payload: Any, scale_sets: ScaleSets, scope: Scope) -> dict[str, Any]:
    def body() -> StepResult:
        vm, name = _scale_set(payload, scope)
        facts = scale_sets.facts(vm.subscription, vm.resource_group, name)
        return StepResult(Step.OK, value=json.dumps(facts.to_dict()))

    return answer(body)


def set_capacity(payload: Any, scale_sets: ScaleSets, scope: Scope) -> dict[str, Any]:
    """Raise the set to ``capacity``: refused unless it is a Delete-policy Spot set respot may restore (no Try &
    restore, no autoscale), and by at most MAX_RAISE instances at once; SKIPPED when it is there already."""

    def body() -> StepResult:
        vm, name = _scale_set(payload, scope)
        wanted = payload.get("capacity")
        if isinstance(wanted, bool) or not isinstance(wanted, int):
            raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="bad input: capacity must be an integer"))
        facts = scale_sets.facts(vm.subscription, vm.resource_group, name)
        if facts.restore or facts.autoscale or not (facts.spot and facts.delete_policy):
            return StepResult(Step.SKIPPED, value=json.dumps(facts.to_dict()), reason="not_respots")
        if wanted <= facts.capacity:
            return StepResult(Step.SKIPPED, value=json.dumps(facts.to_dict()), reason="at_capacity")
        if wanted - facts.capacity > MAX_RAISE:
            raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"a raise of more than {MAX_RAISE} instances"))
        operation = scale_sets.begin_set_capacity(vm.subscription, vm.resource_group, name, wanted)
        return StepResult(Step.ACCEPTED if operation else Step.DONE, operation=operation)

    return answer(body)
