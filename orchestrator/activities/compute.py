"""Compute activities: dict in, one short thing, a StepResult dict out. None of them waits for an operation.

- ``read_vm``: the VM's facts.
- ``try_start``: read the VM, and start it only if the read says it is still deallocated, unchanged and in scope
  (so a start whose first try got no answer is never sent again once it took, nor mistaken for someone else's).
- ``check_operation``: one look at a long-running operation, by the status URL ARM gave (validated: respot sends its
  token only to the configured ARM host, for a subscription in scope).
- ``raise_max_price``: with the raise price policy, lift a deallocated standalone VM's maxPrice to the configured
  ceiling (settings only; never a value from the input).
"""

from __future__ import annotations

from typing import Any

from orchestrator.activities.steps import Refused, answer, tags_in_scope, vm_in_scope
from orchestrator.domain.classify import stop_reason
from orchestrator.domain.errors import ArmFailure, Failure, classify
from orchestrator.domain.models import FailureInfo, Operation, Reason, ScaleSetMode, Step, StepResult, VmFacts, VmStatus
from orchestrator.domain.scope import InvalidOperation, Scope, check_operation_url
from orchestrator.ports import Compute
from orchestrator.settings import Settings


def read_vm(payload: Any, compute: Compute, scope: Scope) -> dict[str, Any]:
    def body() -> StepResult:
        facts = compute.facts(vm_in_scope(payload, scope))
        tags_in_scope(facts, scope)
        return StepResult(Step.OK, facts=facts)

    return answer(body)


def try_start(payload: Any, compute: Compute, scope: Scope) -> dict[str, Any]:
    def body() -> StepResult:
        vm = vm_in_scope(payload, scope)
        facts = compute.facts(vm)
        tags_in_scope(facts, scope)
        reason = _why_not_start(facts, payload.get("size"))
        if reason is not None:
            return StepResult(Step.SKIPPED, facts=facts, reason=reason.value)
        operation = compute.begin_start(vm)
        return StepResult(Step.ACCEPTED if operation else Step.DONE, facts=facts, operation=operation)

    return answer(body)


def _why_not_start(facts: VmFacts, size: Any) -> Reason | None:
    expected = VmFacts(exists=True, size=size if isinstance(size, str) else None)
    reason = stop_reason(expected, facts, None)
    if reason is None and facts.status != VmStatus.DEALLOCATED:
        return Reason.IN_TRANSITION  # deallocating, or an operation in flight: not now
    return reason


def check_operation(payload: Any, compute: Compute, settings: Settings) -> dict[str, Any]:
    def body() -> StepResult:
        try:
            raw = payload["operation"]
            url = check_operation_url(raw.get("url"), settings.arm_endpoint, settings.scope)
        except (InvalidOperation, KeyError, TypeError, AttributeError) as exc:
            raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad operation: {exc}")) from None
        try:
            state = compute.operation(Operation(url))
        except ArmFailure as failure:
            if failure.kind == Failure.NOT_FOUND:  # the operation is gone: the VM will say what happened
                return StepResult(Step.UNKNOWN, reason="operation not found")
            raise
        return _state(state.status, state.code, state.message, state.retry_after)

    return answer(body)


def _state(status: str, code: str | None, message: str, retry_after: float | None) -> StepResult:
    low = status.lower()
    if low == "succeeded":
        return StepResult(Step.DONE)
    if low in ("failed", "canceled"):
        kind = classify(code or status, None, message)
        info = FailureInfo(kind.value, (code or status)[:100], message[:500], None)
        return StepResult(Step.FAILED, failure=info, reason=info.code)
    return StepResult(Step.RUNNING, retry_after=retry_after)


def raise_max_price(payload: Any, compute: Compute, settings: Settings) -> dict[str, Any]:
    def body() -> StepResult:
        vm = vm_in_scope(payload, settings.scope)
        facts = compute.facts(vm)
        tags_in_scope(facts, settings.scope)
        why = _why_not_raise(facts, settings)
        if why:
            return StepResult(Step.SKIPPED, facts=facts, reason=why)
        operation = compute.begin_set_max_price(vm, settings.max_price_ceiling)
        return StepResult(Step.ACCEPTED if operation else Step.DONE, facts=facts, operation=operation)

    return answer(body)


def _why_not_raise(facts: VmFacts, settings: Settings) -> str:
    ceiling, current = settings.max_price_ceiling, facts.max_price
    if settings.price_policy != "raise" or ceiling <= 0:
        return "the price policy is wait"
    if facts.scale_set_mode == ScaleSetMode.UNIFORM:
        return "a Uniform scale-set instance's maxPrice belongs to the whole set's model"
    if not facts.exists or facts.status != VmStatus.DEALLOCATED:
        return "maxPrice can only change while the VM is deallocated"
    if current is None or current == -1 or current >= ceiling:
        return f"maxPrice {current} is already at or above the ceiling {ceiling}"
    return ""
