"""The Durable Entities respot remembers with (orchestrator.domain.memory): cool-downs shared by every recovery,
what respot knew of each fleet member, each subscription's roster of members at the last sweep, each
Delete-policy scale set's capacity and eviction wave, and each subscription's ARM budgets
(orchestrator.domain.limiter). Entity operations run one at a time per entity, so two recoveries
cooling the same offering never lose an update."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df

from orchestrator.app import compose
from orchestrator.domain import capacity, memory, sweep
from orchestrator.domain.limiter import LIMITER, limiter_op
from orchestrator.domain.models import InvalidInput

bp = df.Blueprint()
log = logging.getLogger("respot.entities")

Op = Callable[[Any, str, Any], tuple[Any, Any]]


@bp.entity_trigger(context_name="context", entity_name=memory.OFFERINGS)
def offerings(context: df.DurableEntityContext) -> None:
    _run(context, memory.offerings_op)


@bp.entity_trigger(context_name="context", entity_name=memory.PLACEMENTS)
def placements(context: df.DurableEntityContext) -> None:
    _run(context, memory.placements_op)


@bp.entity_trigger(context_name="context", entity_name=memory.MEMBER)
def member(context: df.DurableEntityContext) -> None:
    _run(context, memory.member_op)


@bp.entity_trigger(context_name="context", entity_name=capacity.SCALESET)
def scaleset(context: df.DurableEntityContext) -> None:
    _run(context, capacity.scaleset_op)


@bp.entity_trigger(context_name="context", entity_name=LIMITER)
def limiter(context: df.DurableEntityContext) -> None:
    budgets = compose.settings().budgets  # sized from settings where they are spent, never from a caller
    _run(context, lambda state, op, payload: limiter_op(state, op, payload, budgets))


@bp.entity_trigger(context_name="context", entity_name=sweep.ROSTER)
def roster(context: df.DurableEntityContext) -> None:
    _run(context, sweep.roster_op)


def _run(context: df.DurableEntityContext, op: Op) -> None:
    """One operation; a bad one is logged and answered with an error, and leaves the state as it was."""
    name = str(context.operation_name)
    try:
        state, result = op(context.get_state(lambda: None), name, context.get_input())
    except (InvalidInput, ValueError, KeyError, TypeError) as exc:
        log.warning("entity %s: operation %s refused: %s", context.entity_key, name, exc)
        raise ValueError(f"{name}: {exc}") from None
    context.set_state(state)
    context.set_result(result)
