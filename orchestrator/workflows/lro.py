"""Watching an ARM long-running operation from an orchestration (the Durable Functions monitor pattern).

The activity that issued the write returned the operation's status URL; here the orchestration waits on a durable
timer (at least the operation's Retry-After, at least the poll floor) and takes one short look with
``check_operation``, until the operation ends. No worker slot is held while Azure works. Sequence::

    timer +30 s (a create's: +45 s), check_operation -> running (Retry-After 15)
    timer +15 s, check_operation -> done            (or failed, with the code from the status body)

A 429 on a look waits its Retry-After; a 5xx or a dropped connection backs off; after MAX_POLLS looks, or if the
operation is gone, the result is UNKNOWN and the caller reads the VM to learn what happened.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from orchestrator.domain.models import Operation, Step, StepResult
from orchestrator.domain.schedule import MAX_POLLS, poll_delay
from orchestrator.domain.story import Story
from orchestrator.workflows import names
from orchestrator.workflows.flow import Flow


def watch(
    flow: Flow, operation: Operation, story: Story, *, budget: int | None, first: float | None = None
) -> Generator[Any, Any, StepResult]:
    """Until the operation ends: DONE, FAILED (with the failure), or UNKNOWN; RUNNING (with the operation to watch
    on, its polls counted) once ``flow`` has used ``budget`` durable tasks, so the caller can continue as new.
    ``first``: the first look's floor in seconds (a create's is later than a start's)."""
    retry_after, polls = operation.retry_after, operation.polls
    while polls < MAX_POLLS:
        if budget is not None and flow.tasks >= budget:
            return StepResult(Step.RUNNING, operation=Operation(operation.url, retry_after, polls))
        yield from flow.sleep_until(flow.now + poll_delay(polls, retry_after, first))
        polls += 1
        result = yield from flow.call(names.CHECK_OPERATION, {"operation": operation.to_dict()})
        trouble = flow.arm_trouble(result, story, "poll")
        if trouble is not None:
            retry_after = trouble.total_seconds()
            continue
        if result.step == Step.RUNNING:
            retry_after = result.retry_after
            continue
        if result.step in (Step.DONE, Step.FAILED, Step.UNKNOWN):
            return result
        return StepResult(Step.UNKNOWN, reason=result.reason)  # out of scope: the URL was refused
    return StepResult(Step.UNKNOWN, reason=f"still running after {MAX_POLLS} looks")
