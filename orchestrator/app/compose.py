"""Composition: settings -> adapters -> what the blueprints call. The only place that picks implementations."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.adapters.activitylog import activity_log_for
from orchestrator.adapters.azure import compute_for
from orchestrator.ports import ActivityLog, Compute
from orchestrator.settings import Settings, get_settings
from orchestrator.workflows.recovery import Config


def compute() -> Compute:
    return compute_for(get_settings())


def activity_log() -> ActivityLog:
    return activity_log_for(get_settings())


def workflow_config(settings: Settings) -> dict[str, object]:
    """What the orchestration needs to know, carried in its input (orchestrators never read settings)."""
    return asdict(
        Config(
            retry_first_seconds=settings.retry_first_seconds,
            retry_cap_seconds=settings.retry_cap_seconds,
            retry_deadline_hours=settings.retry_deadline_hours,
            attempts_per_execution=settings.attempts_per_execution,
            price_policy=settings.price_policy,
            max_price_ceiling=settings.max_price_ceiling,
            required_tags=settings.tag_filter,
            user_checks=bool(settings.log_workspace_id),
            require_health=settings.require_health_extension,
        )
    )
