"""The recovery policy, from settings: the first activity of every orchestration execution reads it, so that what
the operator configured (not what an orchestration's input says) decides schedules and price handling."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.policy import Policy
from orchestrator.settings import Settings


def recovery_policy(settings: Settings) -> dict[str, Any]:
    return Policy(
        retry_first_seconds=settings.retry_first_seconds,
        retry_cap_seconds=settings.retry_cap_seconds,
        retry_deadline_hours=settings.retry_deadline_hours,
        settle_minutes=settings.settle_minutes,
        notice_grace_seconds=settings.notice_grace_seconds,
        price_policy=settings.price_policy,
        require_health=settings.require_health_extension,
        user_checks=bool(settings.log_workspace_id),
        eviction_records=bool(settings.log_workspace_id),
    ).to_dict()
