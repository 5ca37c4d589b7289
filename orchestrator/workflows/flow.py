"""What every orchestration here does the same way: typed activity calls, timers, waits that ARM asked for, and one
pending wait for joining signals. Deterministic: time is ``context.current_utc_datetime``, nothing else.

:class:`Flow` counts the durable tasks of the execution, so workflows continue-as-new before the history grows
past ~100 events (replay cost grows with it).

With entity ids, :meth:`Flow.call` paces every ARM step through the subscription's ``limiter`` entity
(orchestrator.domain.limiter): it reserves the step's tokens, waits on a durable timer if the budget is spent, and
hands on what ARM said of its budgets (the readings the last step saw, a 429).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.limiter import ARM_THROTTLED, LATE, LIMITER, MAX_COST, MAX_DEFERRALS, wait_until
from orchestrator.domain.models import Step, StepResult, iso
from orchestrator.domain.schedule import throttle_delay, transient_delay
from orchestrator.domain.story import AttemptRun, Story
from orchestrator.workflows import names
from orchestrator.workflows.pacing import FIRST_LANE, LEARN_ONLY, cost_of, subscription_of

Context = Any  # azure.durable_functions.DurableOrchestrationContext (workflows do not import the SDK)
Steps = Generator[Any, Any, Any]


EntityIds = Callable[[str, str], Any]  # azure.durable_functions.EntityId, handed in by the app


class Flow:
    def __init__(
        self,
        context: Context,
        on_signal: Callable[[Any], None] | None = None,
        entity_id: EntityIds | None = None,
    ) -> None:
        self.context = context
        self.on_signal = on_signal
        self.entity_id = entity_id
        self.tasks = 0
        self._signal: Any = None  # the one pending wait for a signal event (the SDK hands events LIFO to waiters)
        self._troubles = 0  # consecutive throttled / transient answers, for jitter keys and backoff
        self.trouble_delay: timedelta | None = None  # the wait the last answer asked for (None: it was no trouble)
        self._seen: dict[str, Any] | None = None  # the last step's budget readings, for the next take
        self._unspent: dict[str, int] = {}  # tokens reserved by earlier steps and not spent, for the next take

    @property
    def now(self) -> datetime:
        now: datetime = self.context.current_utc_datetime
        return now

    @property
    def key(self) -> str:
        return str(self.context.instance_id)

    def call(self, name: str, payload: Any) -> Generator[Any, Any, StepResult]:
        result, _ = yield from self.call_with(name, payload, [])
        return result

    def call_with(
        self, name: str, payload: Any, beside: list[tuple[str, Any]]
    ) -> Generator[Any, Any, tuple[StepResult, list[Any]]]:
        """``name``'s answer, and the raw answers of the unpaced activities ``beside`` it, which go at once with
        its first hop (the limiter's take, or the activity itself when it is not paced): one hop less."""
        extra = self._unpaced(beside)
        cost = cost_of(name, payload) if self.entity_id is not None else None
        if cost is None and name in LEARN_ONLY and self.entity_id is not None:
            cost = {}  # nothing reserved, but ARM's readings and 429s reach the limiter (pacing.LEARN_ONLY)
        subscription = subscription_of(payload) if cost is not None else None
        extra_raw: list[Any] | None = None
        if cost and subscription is not None:
            extra_raw = yield from self.pace(subscription, cost, extra, first=name in FIRST_LANE)
            if extra_raw is None and extra:  # the take failed, and took them with it: they go with the step
                extra = self._unpaced(beside)
        self.tasks += 1
        task = self.context.call_activity(name, payload)
        if extra_raw is None and extra:
            raw, *extra_raw = yield from self.wait_for(self.context.task_all([task, *extra]))
        else:
            raw = yield from self.wait_for(task)
        result = StepResult.from_dict(raw)
        if cost is not None and subscription is not None:
            self.learn(subscription, cost, result, raw.get("remaining"))
            if name in FIRST_LANE and result.step == Step.THROTTLED:
                self.expect_first_lane(subscription)  # its next take: room kept again, ahead of the starts
            self.unspent(cost, raw.get("spent"))
        return result, extra_raw or []

    def _unpaced(self, calls: list[tuple[str, Any]]) -> list[Any]:
        paced = [name for name, payload in calls if cost_of(name, payload) is not None]
        if paced:
            raise ValueError(f"paced activities cannot run beside another step: {', '.join(paced)}")
        self.tasks += len(calls)
        return [self.context.call_activity(name, payload) for name, payload in calls]

    def pace(
        self, subscription: str, cost: dict[str, int], beside: list[Any] | None = None, *, first: bool = False
    ) -> Steps:
        """Reserve ``cost`` in the subscription's budgets; wait until the limiter says go. A turn missed by more
        than LATE (the host was down when it came: timers fire late, together) is asked for again, once, so that
        the steps of an outage do not all go at once beside the turns the limiter gave out since. ``beside``:
        activity tasks to run at once with the first take; their results are returned (None without them).
        ``first``: the limiter's first lane (a create: see pacing.FIRST_LANE). An answer ``again`` gave no turn yet
        (a start while creates are expected, see orchestrator.domain.limiter): it is asked again at its time."""
        refund: dict[str, int] | None = self._unspent or None
        extra: list[Any] | None = None
        deferred = late = 0
        while True:
            ask: dict[str, Any] = {"cost": cost, "at": iso(self.now), **(self._seen or {})}
            if first:
                ask["lane"] = "first"
            if deferred:
                ask["deferred"] = deferred
            if refund is not None:
                ask["refund"] = refund  # tokens reserved and never spent: a cache's reads, a late turn
            self._seen, self._unspent, refund = None, {}, None
            try:
                if beside and extra is None:
                    self.tasks += 1
                    take = self.context.call_entity(self._entity(LIMITER, subscription), "take", ask)
                    answer, *extra = yield from self.wait_for(self.context.task_all([take, *beside]))
                else:
                    answer = yield from self.call_entity(LIMITER, subscription, "take", ask)
            except Exception:  # noqa: BLE001 - the SDK raises what the entity raised; unpaced beats a failed recovery
                return extra  # ARM's own 429s still pace this step
            when = wait_until(answer, self.now)
            again = isinstance(answer, dict) and answer.get("again") is True and deferred < MAX_DEFERRALS
            if again:  # no turn was given yet (creates are expected): ask for one at the time it says
                deferred += 1
                if when is not None:
                    yield from self.sleep_until(when)
                continue
            if when is None:
                return extra
            yield from self.sleep_until(when)
            if self.now - when <= LATE or late:
                return extra
            late, refund = 1, cost

    def unspent(self, cost: dict[str, int], spent: Any) -> None:
        """What a step reserved of ARM's buckets and did not spend (its answer says what its requests took): handed
        back with the next take. Compute's own policies are not reported per request, so they are never refunded."""
        if not isinstance(spent, dict):
            return
        for bucket in ("reads", "writes", "deletes"):
            took = spent.get(bucket, 0)
            left = cost.get(bucket, 0) - (took if isinstance(took, int) and not isinstance(took, bool) else 0)
            if left > 0:
                self._unspent[bucket] = min(MAX_COST, self._unspent.get(bucket, 0) + left)

    def learn(self, subscription: str, cost: dict[str, int], result: StepResult, remaining: Any) -> None:
        """What ARM said of its budgets: readings go with the next take; ARM's subscription 429 empties the bucket
        for everyone. A 429 of Compute's own (OperationNotAllowed / TooManyRequests, per operation group and often
        per VM) is waited out by this step alone: it says nothing of the subscription's buckets."""
        if isinstance(remaining, dict) and remaining:
            self._seen = {"seen": remaining, "seen_at": iso(self.now)}
        if result.step == Step.THROTTLED and result.failure is not None and result.failure.code == ARM_THROTTLED:
            bucket = next((b for b in ("writes", "deletes") if b in cost), "reads")
            wait = min(float(result.retry_after or 0), 3600.0)
            self.signal_entity(
                LIMITER, subscription, "throttled", {"bucket": bucket, "retry_after": wait, "at": iso(self.now)}
            )

    def expect_first_lane(self, subscription: str) -> None:
        """Tell the subscription's limiter that this orchestration will send a first-lane write (a create), so that
        the normal lane leaves room for it (a one-way signal: no hop). Unpaced flows say nothing."""
        if self.entity_id is not None:
            self.signal_entity(LIMITER, subscription.lower(), "expect", {"at": iso(self.now), "bucket": "writes"})

    def call_raw(self, name: str, payload: Any) -> Steps:
        self.tasks += 1
        return (yield from self.wait_for(self.context.call_activity(name, payload)))

    def together(self, calls: list[tuple[str, Any]]) -> Steps:
        """Activities that spend none of ARM's budgets (settings, Log Analytics), at once: their raw results in
        order. Each hop through the activity queue costs seconds when a mass eviction fills it, so independent
        steps on a recovery's way to its write go side by side (one durable ``task_all``)."""
        results: list[Any] = yield from self.wait_for(self.context.task_all(self._unpaced(calls)))
        return results

    def call_entity(self, name: str, key: str, operation: str, payload: dict[str, Any] | None = None) -> Steps:
        """An entity operation's result (entities answer in order, one operation at a time). The input is always
        an object: the SDK drops a falsy one, and the entity's get_input then fails."""
        self.tasks += 1
        task = self.context.call_entity(self._entity(name, key), operation, payload or {})
        return (yield from self.wait_for(task))

    def signal_entity(self, name: str, key: str, operation: str, payload: dict[str, Any] | None = None) -> None:
        """A one-way entity operation (nothing is awaited)."""
        self.tasks += 1
        self.context.signal_entity(self._entity(name, key), operation, payload or {})

    def _entity(self, name: str, key: str) -> Any:
        if self.entity_id is None:
            raise RuntimeError("this orchestration was registered without entity ids")
        return self.entity_id(name, key)

    def sleep_until(self, when: datetime) -> Steps:
        self.tasks += 1
        yield from self.wait_for(self.context.create_timer(when))

    def wait_for(self, task: Any, interrupt: Callable[[], bool] | None = None) -> Steps:
        """``task``'s result; signals that arrive meanwhile go to ``on_signal``. With ``interrupt``, returns None as
        soon as it says so after a signal (the task stays pending)."""
        if self.on_signal is None:
            return (yield task)
        while True:
            winner = yield self.context.task_any([task, self.signal_task()])
            if winner is task:
                if isinstance(task.result, Exception):
                    raise task.result
                return task.result
            self.on_signal(self.took_signal())
            if interrupt is not None and interrupt():
                return None

    def signal_task(self) -> Any:
        """The pending wait for the next joining signal (created once, reused until a signal arrives)."""
        if self._signal is None:
            self._signal = self.context.wait_for_external_event(names.SIGNAL_EVENT)
        return self._signal

    def took_signal(self) -> Any:
        """The payload of the signal that just arrived; the next call of :meth:`signal_task` waits anew."""
        payload, self._signal = self._signal.result, None
        return payload

    def arm_trouble(self, result: StepResult, story: Story, action: str) -> timedelta | None:
        """For a throttled or transient answer: record it and say how long to wait (None: not trouble)."""
        if result.step not in (Step.THROTTLED, Step.TRANSIENT):
            self._troubles, self.trouble_delay = 0, None
            return None
        self._troubles += 1
        if result.step == Step.THROTTLED:
            delay = throttle_delay(result.retry_after, self.key, self._troubles)
        else:
            delay = transient_delay(self._troubles, self.key)
        self.note(result, story, action, next_try=self.now + delay)
        self.trouble_delay = delay
        return delay

    def note(self, result: StepResult, story: Story, action: str, next_try: datetime | None = None) -> None:
        """Write an answer that was not what respot asked for into the story (it is never silent)."""
        failure, now = result.failure, iso(self.now)
        code = failure.code if failure else result.reason
        message = failure.message if failure else ""
        when = iso(next_try) if next_try else None
        story.add_attempt(AttemptRun(action, result.step.value, code, message, now, now, next_try=when))

    def ask(
        self,
        name: str,
        payload: Any,
        story: Story,
        *,
        deadline: datetime,
        budget: int,
        action: str,
        first: StepResult | None = None,
    ) -> Generator[Any, Any, StepResult]:
        """An activity, again after every throttled or transient answer (waited out on durable timers), until it
        answers otherwise, the deadline would pass, or this execution has used ``budget`` durable tasks (the
        trouble is then the result, and :attr:`trouble_delay` the wait it asked for: the caller continues as new,
        or waits at least that long). ``first``: its first answer, already in hand (asked beside another step)."""
        while True:
            result = first if first is not None else (yield from self.call(name, payload))
            first = None
            delay = self.arm_trouble(result, story, action)
            if delay is None or self.now + delay > deadline or self.tasks >= budget:
                return result
            yield from self.sleep_until(self.now + delay)
