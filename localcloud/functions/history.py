"""Durable Task history events in the JSON the azure-functions-durable replay engine reads.

Shapes follow the wheel's own test ContextBuilder (tests/test_utils/ContextBuilder.py): every event carries
EventType, EventId, IsPlayed and Timestamp; results and inputs are JSON strings; completions point at their task
with TaskScheduledId, timers with TimerId.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # azure.durable_functions.constants.DATETIME_STRING_FORMAT


class Kind(IntEnum):
    """HistoryEventType values (azure.durable_functions.models.history.HistoryEventType)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class Action(IntEnum):
    """ActionType values (azure.durable_functions.models.actions.ActionType)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9


# Actions that take a number from the orchestration's task sequence (the SDK numbers them in the same order).
SEQUENCED = {
    Action.CALL_ACTIVITY,
    Action.CALL_ACTIVITY_WITH_RETRY,
    Action.CALL_SUB_ORCHESTRATOR,
    Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    Action.CREATE_TIMER,
    Action.CALL_ENTITY,
    Action.CALL_HTTP,
    Action.SIGNAL_ENTITY,
}


def stamp(when: datetime) -> str:
    return when.strftime(TIMESTAMP)


def event(kind: Kind, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": stamp(when), **fields}
