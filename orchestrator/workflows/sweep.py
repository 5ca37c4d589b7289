"""The record of one reconciliation sweep: an orchestration ``respot-sweep-<minute>`` whose output is what that
sweep found and did (orchestrator.app.sweep starts it with the record as its input). Operators read it where they
read recoveries (the durable history, ``respot`` CLI, the Durable Task Scheduler dashboard); its id also tells a
second firing of the same occurrence that the sweep ran.

The input is not trusted (anyone holding the durable system key can start an orchestration): a record whose
``sweep`` does not name its own instance is rejected, so no other instance id can pass for a sweep's record.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain.models import Outcome, Reason
from orchestrator.domain.sweep import PREFIX
from orchestrator.workflows.flow import Context


def sweep_record(context: Context) -> dict[str, Any]:
    record = context.get_input()
    instance = str(context.instance_id)
    if not isinstance(record, dict) or record.get("sweep") != instance or not instance.startswith(PREFIX):
        detail = f"instance {instance[:80]} was not started by a sweep with its own record"
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": detail}
    return record
