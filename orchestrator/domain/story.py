"""The story of one recovery, bounded: every signal that reached it and every attempt it made. Pure.

It is carried across continue-as-new and returned as the orchestration's output, so it must stay a few KB however
long the recovery lasts. Signals: the first :data:`MAX_SIGNALS` distinct ones are kept whole, later ones counted;
redeliveries of a signal already recorded are counted as duplicates. Attempts are run-length encoded: consecutive
attempts with the same action, result and code are one entry with a count, first and last time (a day of
``ZonalAllocationFailed`` every 15 minutes is one line, not ninety-six), the latest message and the next try. Past
:data:`MAX_RUNS` entries the oldest runs after the first few are folded into ``omitted``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.domain.models import InvalidInput

MAX_SIGNALS = 20
MAX_RUNS = 30
KEEP_FIRST = 5


@dataclass
class SignalEntry:
    source: str
    event_id: str
    occurred_at: str
    received_at: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.event_id}"


@dataclass
class AttemptRun:
    action: str  # start | set_max_price | read
    result: str  # succeeded | the failure kind (capacity, throttled, ...) | skipped
    code: str
    message: str
    first: str
    last: str
    count: int = 1
    next_try: str | None = None

    def same_as(self, other: AttemptRun) -> bool:
        return (self.action, self.result, self.code) == (other.action, other.result, other.code)


@dataclass
class Story:
    signals: list[SignalEntry] = field(default_factory=list)
    signals_omitted: int = 0
    duplicates: int = 0
    runs: list[AttemptRun] = field(default_factory=list)
    runs_omitted: int = 0
    attempts: int = 0

    def add_signal(self, entry: SignalEntry) -> bool:
        """Record a signal; False if it was a redelivery of one already recorded."""
        if any(s.key == entry.key for s in self.signals):
            self.duplicates += 1
            return False
        if len(self.signals) >= MAX_SIGNALS:
            self.signals_omitted += 1
            return True
        self.signals.append(entry)
        return True

    @property
    def signal_keys(self) -> list[str]:
        return [s.key for s in self.signals]

    def add_attempt(self, run: AttemptRun) -> None:
        self.attempts += 1
        self._append(run)

    def set_next_try(self, when: str | None) -> None:
        if self.runs:
            self.runs[-1].next_try = when

    def merge_attempts(self, other: Story) -> None:
        """Append another story's attempts (a strategy's) after this one's."""
        for run in other.runs:
            self._append(AttemptRun(**asdict(run)))
        self.attempts += other.attempts
        self.runs_omitted += other.runs_omitted

    def _append(self, run: AttemptRun) -> None:
        last = self.runs[-1] if self.runs else None
        if last is not None and last.same_as(run):
            last.count, last.last, last.message, last.next_try = (
                last.count + run.count,
                run.last,
                run.message,
                run.next_try,
            )
            return
        self.runs.append(run)
        if len(self.runs) > MAX_RUNS:
            self.runs_omitted += self.runs.pop(KEEP_FIRST).count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def signals_out(self) -> list[dict[str, Any]]:
        """The signals as an orchestration's output writes them (camelCase, as Azure's JSON)."""
        return [_camel(asdict(s)) for s in self.signals]

    def attempts_out(self) -> list[dict[str, Any]]:
        return [_camel(asdict(r)) for r in self.runs]

    @classmethod
    def from_dict(cls, data: Any) -> Story:
        """Raises InvalidInput unless ``data`` is a story as :meth:`to_dict` writes it (or empty)."""
        if not data:
            return cls()
        try:
            story = cls(
                [SignalEntry(**s) for s in data.get("signals", [])[:MAX_SIGNALS]],
                int(data.get("signals_omitted", 0)),
                int(data.get("duplicates", 0)),
                [AttemptRun(**r) for r in data.get("runs", [])[:MAX_RUNS]],
                int(data.get("runs_omitted", 0)),
                int(data.get("attempts", 0)),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidInput(f"story: {exc}") from None
        if not all(isinstance(v, str) for e in story.signals for v in asdict(e).values()):
            raise InvalidInput("story: signal entries hold strings")
        if not all(isinstance(r.count, int) and isinstance(r.action, str) for r in story.runs):
            raise InvalidInput("story: attempt entries hold an action and a count")
        return story


def _camel(entry: dict[str, Any]) -> dict[str, Any]:
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in entry.items()}
