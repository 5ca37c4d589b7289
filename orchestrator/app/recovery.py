"""The recovery orchestrations and their activities, registered under the names in workflows/names.py.

Each decorated function is one line into a plain function that tests call directly. Telemetry is recorded here,
outside the workflows: when recover_vm and redeploy_vm end (orchestrator.app.observer, never in a replay), and from
what the ARM activities answer (:func:`answered`: 429s and the retries they cause).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import azure.durable_functions as df

from orchestrator import telemetry
from orchestrator.activities import capacity, fleet, logs, policy
from orchestrator.activities import compute as compute_activities
from orchestrator.app import compose
from orchestrator.app.observer import at_end
from orchestrator.workflows import capacity as capacity_workflow
from orchestrator.workflows import names, observe, recover, redeploy, restart

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=names.RECOVER_VM)
def recover_vm(context: df.DurableOrchestrationContext) -> Any:
    ended = partial(telemetry.recovery_ended, instance_id=context.instance_id)
    return at_end(context, recover.recover_vm(context, df.EntityId), ended)


@bp.orchestration_trigger(context_name="context", orchestration=names.OBSERVE_VM)
def observe_vm(context: df.DurableOrchestrationContext) -> Any:
    return observe.observe_vm(context, df.EntityId)


@bp.orchestration_trigger(context_name="context", orchestration=names.RESTART_VM)
def restart_vm(context: df.DurableOrchestrationContext) -> Any:
    return restart.restart_vm(context, df.EntityId)


@bp.orchestration_trigger(context_name="context", orchestration=names.REDEPLOY_VM)
def redeploy_vm(context: df.DurableOrchestrationContext) -> Any:
    member = (context.get_input() or {}).get("member") if isinstance(context.get_input(), dict) else None
    ended = partial(telemetry.replacement_ended, instance_id=context.instance_id, member=member)
    return at_end(context, redeploy.redeploy_vm(context, df.EntityId), ended)


@bp.orchestration_trigger(context_name="context", orchestration=names.RESTORE_CAPACITY)
def restore_capacity(context: df.DurableOrchestrationContext) -> Any:
    return capacity_workflow.restore_capacity(context, df.EntityId)


@bp.activity_trigger(input_name="payload", activity=names.RECOVERY_POLICY)
def recovery_policy(payload: Any) -> dict[str, Any]:
    return policy.recovery_policy(compose.settings())


@bp.activity_trigger(input_name="payload", activity=names.READ_VM)
def read_vm(payload: Any) -> dict[str, Any]:
    return answered(
        names.READ_VM, payload, compute_activities.read_vm(payload, compose.compute(), compose.settings().scope)
    )


@bp.activity_trigger(input_name="payload", activity=names.TRY_START)
def try_start(payload: Any) -> dict[str, Any]:
    return answered(
        names.TRY_START, payload, compute_activities.try_start(payload, compose.compute(), compose.settings().scope)
    )


@bp.activity_trigger(input_name="payload", activity=names.CHECK_OPERATION)
def check_operation(payload: Any) -> dict[str, Any]:
    return answered(
        names.CHECK_OPERATION,
        payload,
        compute_activities.check_operation(payload, compose.compute(), compose.settings()),
    )


@bp.activity_trigger(input_name="payload", activity=names.RAISE_MAX_PRICE)
def raise_max_price(payload: Any) -> dict[str, Any]:
    return answered(
        names.RAISE_MAX_PRICE,
        payload,
        compute_activities.raise_max_price(payload, compose.compute(), compose.settings()),
    )


@bp.activity_trigger(input_name="payload", activity=names.USER_ACTION)
def user_action(payload: Any) -> dict[str, Any]:
    return logs.user_action(payload, compose.activity_log(), compose.settings().scope)


@bp.activity_trigger(input_name="payload", activity=names.EVICTION_RECORD)
def eviction_record(payload: Any) -> dict[str, Any]:
    return logs.eviction_record(payload, compose.activity_log(), compose.settings().scope)


@bp.activity_trigger(input_name="payload", activity=names.FLEET_PROFILE)
def fleet_profile(payload: Any) -> dict[str, Any]:
    return fleet.fleet_profile(payload, compose.fleets())


@bp.activity_trigger(input_name="payload", activity=names.GATHER_MARKET)
def gather_market(payload: Any) -> dict[str, Any]:
    settings = compose.settings()
    members_age = settings.quota_ttl_seconds
    return fleet.gather_market(
        payload, compose.market(), compose.compute(), compose.fleets(), settings.scope, members_age=members_age
    )


@bp.activity_trigger(input_name="payload", activity=names.CREATE_VM)
def create_vm(payload: Any) -> dict[str, Any]:
    settings = compose.settings()
    made = fleet.create_vm(
        payload,
        compose.compute(),
        compose.market(),
        compose.secrets(),
        compose.fleets(),
        settings.scope,
        members_age=settings.quota_ttl_seconds,
    )
    return answered(names.CREATE_VM, payload, made)


@bp.activity_trigger(input_name="payload", activity=names.DELETE_VM)
def delete_vm(payload: Any) -> dict[str, Any]:
    return answered(names.DELETE_VM, payload, fleet.delete_vm(payload, compose.compute(), compose.settings().scope))


@bp.activity_trigger(input_name="payload", activity=names.READ_SCALE_SET)
def read_scale_set(payload: Any) -> dict[str, Any]:
    return answered(
        names.READ_SCALE_SET, payload, capacity.read_scale_set(payload, compose.scale_sets(), compose.settings().scope)
    )


@bp.activity_trigger(input_name="payload", activity=names.SET_CAPACITY)
def set_capacity(payload: Any) -> dict[str, Any]:
    return answered(
        names.SET_CAPACITY, payload, capacity.set_capacity(payload, compose.scale_sets(), compose.settings().scope)
    )


def answered(activity: str, payload: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The activity's answer, unchanged, after counting a 429 or a retry it causes (orchestrator.telemetry)."""
    telemetry.activity_answered(activity, payload, result)
    return result
