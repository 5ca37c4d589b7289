"""What the strategies (restart, redeploy) share: their progress across continue-as-new, their conclusion, and
waiting on durable timers up to the deadline with the story kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from orchestrator.domain.models import InvalidInput, Outcome, Reason, iso, parse_iso
from orchestrator.domain.policy import TASKS_PER_EXECUTION
from orchestrator.domain.story import AttemptRun, Story
from orchestrator.workflows.flow import Flow, Steps

P = TypeVar("P")
MAX_COUNT = 10**6


@dataclass
class Conclusion:
    outcome: Outcome
    reason: Reason
    detail: str = ""


def load_progress(cls: type[P], data: Any, counts: Sequence[str]) -> P:
    """A progress dataclass from what the last execution handed on. Raises InvalidInput for anything else: its
    times must parse, its story load, and the named ``counts`` be small non-negative integers."""
    if not isinstance(data, dict):
        raise InvalidInput("progress must be an object")
    fields = getattr(cls, "__dataclass_fields__")  # noqa: B009 - P is a dataclass; the TypeVar cannot say so
    try:
        progress = cls(**{k: v for k, v in data.items() if k in fields})
    except TypeError as exc:
        raise InvalidInput(f"progress: {exc}") from None
    parse_iso(getattr(progress, "started_at"), "progress.started_at")  # noqa: B009
    parse_iso(getattr(progress, "since"), "progress.since")  # noqa: B009
    Story.from_dict(getattr(progress, "story"))  # noqa: B009
    values = [getattr(progress, name) for name in counts]
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < MAX_COUNT for n in values):
        raise InvalidInput("progress: counts must be small non-negative integers")
    return progress


class Waits:
    """Timers up to the deadline, with the next try in the story and the custom status."""

    flow: Flow
    story: Story
    deadline: datetime

    def repeat(self, step: Callable[[], Steps]) -> Steps:
        """``step`` until it concludes, or None once this execution has used its share of durable tasks (the
        caller continues as new, so the history stays short)."""
        while self.flow.tasks < TASKS_PER_EXECUTION:
            conclusion = yield from step()
            if conclusion is not None:
                return conclusion
        return None

    def wait(self, when: datetime, phase: str) -> Steps:
        if when > self.deadline:
            return self.give_up()
        self.story.set_next_try(iso(when))
        self.status(phase, nextTry=iso(when))
        yield from self.flow.sleep_until(when)
        return None

    def record(self, action: str, result: str, code: str, message: str) -> None:
        now = iso(self.flow.now)
        self.story.add_attempt(AttemptRun(action, result, code, message[:300], now, now))

    def output_of(self, conclusion: Conclusion, last_error: Any, executions: int, **extra: Any) -> dict[str, Any]:
        """The strategy's output, as recover_vm reads it."""
        recovered = conclusion.outcome == Outcome.RECOVERED
        self.status("done", outcome=conclusion.outcome.value)
        return {
            "outcome": conclusion.outcome.value,
            "reason": conclusion.reason.value,
            "detail": conclusion.detail,
            "story": self.story.to_dict(),
            "lastError": None if recovered else last_error,
            "executions": executions,
            "concludedAt": iso(self.flow.now),
            **extra,
        }

    def give_up(self) -> Conclusion:
        raise NotImplementedError

    def status(self, phase: str, **extra: Any) -> None:
        raise NotImplementedError
