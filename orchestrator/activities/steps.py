"""What every activity does at its edges: check its input against the settings' scope, and turn ARM's answers
into a :class:`StepResult` (only bugs raise, so an orchestration never fails because ARM had trouble)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator import readings
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.models import InvalidInput, Step, StepResult, VmFacts, VmRef
from orchestrator.domain.scope import Scope

_STEP_OF = {Failure.THROTTLED: Step.THROTTLED, Failure.TRANSIENT: Step.TRANSIENT, Failure.NO_ANSWER: Step.UNKNOWN}


class Refused(Exception):
    """The activity will not call ARM for this input; carries the answer to give."""

    def __init__(self, result: StepResult) -> None:
        super().__init__(result.reason)
        self.result = result


def vm_in_scope(payload: Any, scope: Scope) -> VmRef:
    """The payload's VM, if it is a VM by ARM's rules inside the subscriptions and resource groups of the
    settings. Raises :class:`Refused` (no ARM call is made for anything else)."""
    try:
        vm = VmRef.from_dict(payload.get("vm") if isinstance(payload, dict) else None)
    except InvalidInput as exc:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}")) from None
    if not scope.allows(vm):
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"{vm.id} is outside {scope.describe()}"))
    return vm


def tags_in_scope(facts: VmFacts, scope: Scope) -> None:
    if facts.exists and not scope.tags_match(facts):
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason="the VM lacks the tags the settings require"))


def answer(call: Callable[[], StepResult]) -> dict[str, Any]:
    """Run the activity body; ARM's failures and refusals become results. For the limiter: ``remaining`` carries
    the lowest ``x-ms-ratelimit-remaining-subscription-*`` readings its requests saw, ``spent`` the tokens they
    took per bucket (reads, writes, deletes)."""
    with readings.collect() as (seen, spent):
        try:
            result = call()
        except Refused as refused:
            result = refused.result
        except ArmFailure as failure:
            result = from_failure(failure)
    return {**result.to_dict(), "remaining": dict(seen) or None, "spent": dict(spent)}


def from_failure(failure: ArmFailure) -> StepResult:
    step = _STEP_OF.get(failure.kind, Step.FAILED)
    return StepResult(step, failure=failure.info(), retry_after=failure.retry_after, reason=failure.code)
