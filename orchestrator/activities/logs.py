"""Activity Log activities (Log Analytics): what a person did to a VM, and the platform's eviction record.

``since`` is parsed as a datetime here; the adapter formats it itself, so no payload text reaches a query.
"""

from __future__ import annotations

from typing import Any

from orchestrator.activities.steps import Refused, answer, vm_in_scope
from orchestrator.domain.models import InvalidInput, Step, StepResult, iso, parse_iso
from orchestrator.domain.scope import Scope
from orchestrator.ports import ActivityLog


def _since(payload: Any) -> Any:
    try:
        return parse_iso(payload.get("since"), "since")
    except InvalidInput as exc:
        raise Refused(StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}")) from None


def user_action(payload: Any, log: ActivityLog, scope: Scope) -> dict[str, Any]:
    def body() -> StepResult:
        vm, since = vm_in_scope(payload, scope), _since(payload)
        action = log.last_user_action(vm, since)
        return StepResult(Step.OK, value=action.value if action else None)

    return answer(body)


def eviction_record(payload: Any, log: ActivityLog, scope: Scope) -> dict[str, Any]:
    def body() -> StepResult:
        vm, since = vm_in_scope(payload, scope), _since(payload)
        when = log.eviction_record(vm, since)
        return StepResult(Step.OK, value=iso(when) if when else None)

    return answer(body)
