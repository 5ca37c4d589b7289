"""The recovery orchestration of one evicted VM: classify, then restart on a schedule until capacity returns.

A deterministic generator (replayed by Durable Functions): no I/O, no environment, no clock but
``context.current_utc_datetime``; waits are durable timers. Configuration travels in the input.

Event sequence of a typical Stop/Deallocate recovery::

    get_vm_facts -> classify: restart (evicted)
    start_vm -> AllocationFailed      status: waiting, attempt 1, next try in ~1 min
    timer, get_vm_facts (still deallocated, nobody touched it)
    start_vm -> AllocationFailed      status: waiting, attempt 2, next try in ~2 min
    ... every `attempts_per_execution` tries: continue_as_new (history stays short)
    start_vm -> ok, get_vm_facts: PowerState/running + ProvisioningState/succeeded -> recovered
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.classify import Action, Decision, VmFacts, classify, stop_reason
from orchestrator.domain.errors import Failure
from orchestrator.domain.schedule import Backoff
from orchestrator.domain.vmstate import VmStatus, is_recovered
from orchestrator.workflows import names

Context = Any  # azure.durable_functions.DurableOrchestrationContext (workflows do not import the SDK)
Steps = Generator[Any, Any, Any]
GIVE_UP = {Failure.CONFIG.value, Failure.QUOTA.value, Failure.NOT_FOUND.value}


@dataclass
class Config:
    retry_first_seconds: float = 60
    retry_cap_seconds: float = 900
    retry_deadline_hours: float = 24
    attempts_per_execution: int = 5
    price_policy: str = "wait"
    max_price_ceiling: float = 0
    required_tags: dict[str, str] = field(default_factory=dict)
    user_checks: bool = False
    require_health: bool = False

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            first=timedelta(seconds=self.retry_first_seconds),
            cap=timedelta(seconds=self.retry_cap_seconds),
            deadline=timedelta(hours=self.retry_deadline_hours),
        )


@dataclass
class Progress:
    attempt: int = 0
    started_at: str | None = None
    before: dict[str, Any] | None = None
    decision: dict[str, str] | None = None
    last_error: dict[str, Any] | None = None
    executions: int = 1
    started: bool = False  # respot's own start succeeded: a running VM is ours, waiting for its health gate


def recover_vm(context: Context) -> Steps:
    data = context.get_input()
    config, progress = Config(**data.get("config", {})), Progress(**data.get("progress", {}))
    vm, eviction = data["vm"], data.get("eviction", {})
    if progress.decision is None:
        decision, facts = yield from _classify(context, vm, eviction, config)
        progress.decision, progress.before = decision.to_dict(), facts.to_dict()
        progress.started_at = context.current_utc_datetime.isoformat()
        if decision.action != Action.RESTART:
            return _finish(
                context,
                progress,
                "ignored" if decision.action == Action.IGNORE else "redeploy_pending",
                data.get("previous"),
            )
    for _ in range(config.attempts_per_execution):
        outcome = yield from _attempt(context, vm, eviction, config, progress)
        if outcome is not None:
            return _finish(context, progress, outcome, data.get("previous"))
    progress.executions += 1
    _status(context, progress, "continuing")
    context.continue_as_new({**data, "progress": asdict(progress)})
    return None


def _classify(
    context: Context, vm: dict[str, Any], eviction: dict[str, Any], config: Config
) -> Generator[Any, Any, tuple[Decision, VmFacts]]:
    facts = VmFacts.from_dict((yield context.call_activity(names.GET_VM_FACTS, {"vm": vm})))
    user = yield from _user_action(context, vm, eviction, config)
    decision = classify(facts, user_action=user, required_tags=config.required_tags or None)
    context.set_custom_status({"phase": "classified", "decision": decision.to_dict()})
    return decision, facts


def _user_action(
    context: Context, vm: dict[str, Any], eviction: dict[str, Any], config: Config
) -> Generator[Any, Any, str | None]:
    if not config.user_checks or not eviction.get("occurred_at"):
        return None
    answer = yield context.call_activity(names.LAST_USER_ACTION, {"vm": vm, "since": eviction["occurred_at"]})
    action = answer.get("action")
    return str(action) if action else None


def _attempt(
    context: Context, vm: dict[str, Any], eviction: dict[str, Any], config: Config, progress: Progress
) -> Generator[Any, Any, str | None]:
    """One try. Returns an outcome that ends the orchestration, or None to keep waiting."""
    progress.attempt += 1
    _status(context, progress, "starting")
    result = yield context.call_activity(names.START_VM, {"vm": vm})
    if result["ok"]:
        progress.started = True
        facts = VmFacts.from_dict((yield context.call_activity(names.GET_VM_FACTS, {"vm": vm})))
        if is_recovered(facts.codes, health=facts.health, require_health=config.require_health):
            return "recovered"
        waiting_for = "a healthy Application Health extension" if facts.status.value == "running" else "the VM to run"
        progress.last_error = {
            "kind": "not_ready",
            "code": facts.health or facts.status.value,
            "message": f"started; waiting for {waiting_for}",
        }
    else:
        progress.last_error = result["failure"]
        kind = result["failure"]["kind"]
        if kind in GIVE_UP:
            return f"failed_{kind}"
        if kind == Failure.PRICE.value and config.price_policy == "raise":
            raised = yield from _raise_price(context, vm, config, progress)
            if raised:
                return None
    return (yield from _wait(context, vm, eviction, config, progress))


def _raise_price(context: Context, vm: dict[str, Any], config: Config, progress: Progress) -> Generator[Any, Any, bool]:
    current = (progress.before or {}).get("max_price")
    if not config.max_price_ceiling or current is None or current == -1 or current >= config.max_price_ceiling:
        return False
    result = yield context.call_activity(names.SET_MAX_PRICE, {"vm": vm, "price": config.max_price_ceiling})
    if result["ok"] and progress.before is not None:
        progress.before["max_price"] = config.max_price_ceiling
    return bool(result["ok"])


def _wait(
    context: Context, vm: dict[str, Any], eviction: dict[str, Any], config: Config, progress: Progress
) -> Generator[Any, Any, str | None]:
    now: datetime = context.current_utc_datetime
    started = datetime.fromisoformat(progress.started_at) if progress.started_at else now
    next_try = config.backoff.next_try(now, progress.attempt, context.instance_id, started)
    if next_try is None:
        return "gave_up_deadline"
    _status(context, progress, "waiting", next_try=next_try.isoformat())
    yield context.create_timer(next_try)
    facts = VmFacts.from_dict((yield context.call_activity(names.GET_VM_FACTS, {"vm": vm})))
    if progress.started and facts.status in (VmStatus.RUNNING, VmStatus.STARTING):
        return (
            "recovered"
            if is_recovered(facts.codes, health=facts.health, require_health=config.require_health)
            else None
        )
    user = yield from _user_action(context, vm, eviction, config)
    before = VmFacts.from_dict(progress.before) if progress.before else facts
    reason = stop_reason(before, facts, user)
    return f"stopped_{reason}" if reason else None


def _status(context: Context, progress: Progress, phase: str, **extra: Any) -> None:
    context.set_custom_status(
        {
            "phase": phase,
            "attempt": progress.attempt,
            "lastError": progress.last_error,
            "decision": progress.decision,
            **extra,
        }
    )


def _finish(context: Context, progress: Progress, outcome: str, previous: Any = None) -> dict[str, Any]:
    result = {
        "previous": previous,
        "outcome": outcome,
        "decision": progress.decision,
        "attempts": progress.attempt,
        "executions": progress.executions,
        "lastError": progress.last_error,
        "finishedAt": context.current_utc_datetime.isoformat(),
    }
    context.set_custom_status(
        {"phase": "done", "outcome": outcome, "attempt": progress.attempt, "decision": progress.decision}
    )
    return result
