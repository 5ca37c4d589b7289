"""Looking at a VM, however long ARM takes to answer: its facts, what a person did to it since the eviction, and the
platform's eviction record of a VM that is gone. A sub-orchestration of ``recover_vm``, so that reads waited out
under throttling (a durable timer each) continue-as-new here and never lengthen the recovery's own history.

Event sequence::

    recovery_policy
    read_vm -> throttled (Retry-After 30): timer +30 s, read_vm -> ok
    [user_action]            with a Log Analytics workspace
    [eviction_record]        with a workspace, for a VM that is gone
    (with ``evidence``, a sweep's deallocated VM: eviction_record since ``evidence``, then user_action since it)
    ... after TASKS_PER_EXECUTION durable tasks still throttled: continue_as_new with what it has noted

Only reads: whatever its input says, it cannot change anything (and each activity checks the scope itself).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.models import InvalidInput, Missing, Step, StepResult, VmRef, iso, parse_iso
from orchestrator.domain.policy import TASKS_PER_EXECUTION, Policy
from orchestrator.domain.story import Story
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps

TROUBLE = (Step.THROTTLED, Step.TRANSIENT)


def observe_vm(context: Context, entity_id: EntityIds | None = None) -> Steps:
    data = context.get_input()
    try:
        vm, since = VmRef.from_dict(data.get("vm")), parse_iso(data.get("since"), "since")
        story = Story.from_dict(data.get("story"))
        started = parse_iso(data.get("started_at") or iso(context.current_utc_datetime), "started_at")
    except (InvalidInput, AttributeError, TypeError) as exc:
        return {"read": StepResult(Step.OUT_OF_SCOPE, reason=f"bad input: {exc}").to_dict(), "story": {}}
    flow, vm_dict = Flow(context, entity_id=entity_id), vm.to_dict()  # with entity ids: paced by the limiter
    # The policy goes beside the read's first hop (one hop less per look); the read is asked again on trouble.
    first, (raw,) = yield from flow.call_with(names.READ_VM, {"vm": vm_dict}, [(names.RECOVERY_POLICY, None)])
    policy = Policy.from_dict(raw)
    deadline = started + policy.backoff.deadline
    ask: dict[str, Any] = {"deadline": deadline, "budget": TASKS_PER_EXECUTION}
    read = yield from flow.ask(names.READ_VM, {"vm": vm_dict}, story, action="read", first=first, **ask)
    if read.step in TROUBLE and flow.now < deadline:  # still throttled: a fresh history, then read again
        context.continue_as_new({**data, "story": story.to_dict(), "started_at": iso(started)})
        return None
    out: dict[str, Any] = {"read": read.to_dict(), "user": None, "record": None}
    facts = read.facts if read.step == Step.OK else None
    window = _time(data.get("evidence"))
    if facts is not None and facts.exists and window is not None and policy.eviction_records:
        # A sweep's deallocated VM: the latest eviction in the window, then what a person did after it.
        payload = {"vm": vm_dict, "since": iso(window)}
        out["record"] = yield from _answer(flow, names.EVICTION_RECORD, payload, story, "eviction_record", ask, None)
        since = _time(out["record"]) or window
    checks: list[tuple[str, str, dict[str, Any]]] = []  # (activity, action, payload): Log Analytics queries
    if facts is not None and policy.user_checks:
        checks.append((names.USER_ACTION, "user_check", {"vm": vm_dict, "since": iso(since)}))
    if facts is not None and facts.missing == Missing.VM and policy.eviction_records:
        payload = {"vm": vm_dict, "since": iso(since - timedelta(hours=1))}
        checks.append((names.EVICTION_RECORD, "eviction_record", payload))
    answers = yield from _answers(flow, checks, story, ask)
    for (name, _, _), answer in zip(checks, answers, strict=True):
        out["user" if name == names.USER_ACTION else "record"] = answer
    return {**out, "story": story.to_dict(), "policy": policy.to_dict()}  # the parent's policy too (one read)


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(value, "time") if value else None
    except InvalidInput:
        return None


def _answers(flow: Flow, checks: list[tuple[str, str, dict[str, Any]]], story: Story, ask: dict[str, Any]) -> Steps:
    """The queries' values, asked at once (they are independent, and each is a hop through the activity queue on
    the recovery's way to its write); one answered with ARM trouble is waited out and asked again on its own."""
    firsts: list[StepResult | None] = [None] * len(checks)
    if len(checks) > 1:
        raws = yield from flow.together([(name, payload) for name, _, payload in checks])
        firsts = [StepResult.from_dict(raw) for raw in raws]
    values = []
    for (name, action, payload), first in zip(checks, firsts, strict=True):
        values.append((yield from _answer(flow, name, payload, story, action, ask, first)))
    return values


def _answer(
    flow: Flow, name: str, payload: Any, story: Story, action: str, ask: dict[str, Any], first: StepResult | None
) -> Steps:
    """A Log Analytics answer's value; a refusal (a wrong workspace, no role) is written down, never silent.
    ``first``: the answer already in hand (asked together with another); asked again only after trouble."""
    result = yield from flow.ask(name, payload, story, action=action, first=first, **ask)
    if result.step == Step.OK:
        return result.value
    if result.step not in TROUBLE:
        flow.note(result, story, action)
    return None
