"""The recovery orchestration and its activities, registered under the names in workflows/names.py."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrator.activities import vm as activities
from orchestrator.app import compose
from orchestrator.workflows import names, recovery

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=names.RECOVER_VM)
def recover_vm(context: df.DurableOrchestrationContext) -> Any:
    return recovery.recover_vm(context)


@bp.activity_trigger(input_name="payload", activity=names.GET_VM_FACTS)
def get_vm_facts(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.get_vm_facts(payload, compose.compute())


@bp.activity_trigger(input_name="payload", activity=names.START_VM)
def start_vm(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.start_vm(payload, compose.compute())


@bp.activity_trigger(input_name="payload", activity=names.SET_MAX_PRICE)
def set_max_price(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.set_max_price(payload, compose.compute())


@bp.activity_trigger(input_name="payload", activity=names.LAST_USER_ACTION)
def last_user_action(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.last_user_action(payload, compose.activity_log())
