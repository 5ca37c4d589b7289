"""How respot recovers, as the operator configured it: read from settings by an activity at the start of every
orchestration execution (so it is in the history and replays identically), never taken from an orchestration's
input. Pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from orchestrator.domain.schedule import Backoff

TASKS_PER_EXECUTION = 24  # durable tasks before continue-as-new: ~75 history events, replay stays cheap
MAX_NOTICE_WAIT = timedelta(minutes=5)  # an agent notice's NotBefore is ~30 s ahead; never wait longer than this
MAX_UNKNOWN_FAILURES = 5  # an operation failing with a code respot does not know: then give up and say so


@dataclass(frozen=True)
class Policy:
    retry_first_seconds: float = 60
    retry_cap_seconds: float = 900
    retry_deadline_hours: float = 24
    settle_minutes: float = 15
    notice_grace_seconds: float = 60
    price_policy: str = "wait"  # wait | raise (maxPrice up to the ceiling, which only the activity knows)
    require_health: bool = False
    user_checks: bool = False  # an Activity Log workspace is configured
    eviction_records: bool = False  # ditto: the platform's evictSpotVM records can be read

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            first=timedelta(seconds=self.retry_first_seconds),
            cap=timedelta(seconds=self.retry_cap_seconds),
            deadline=timedelta(hours=self.retry_deadline_hours),
        )

    @property
    def settle(self) -> timedelta:
        return timedelta(minutes=self.settle_minutes)

    @property
    def notice_grace(self) -> timedelta:
        return timedelta(seconds=self.notice_grace_seconds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
