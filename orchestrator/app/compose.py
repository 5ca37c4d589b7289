"""Composition: settings -> adapters -> what the blueprints call. The only place that picks implementations."""

from __future__ import annotations

from orchestrator.adapters.activitylog import activity_log_for
from orchestrator.adapters.arm import quiet_sdk_logging
from orchestrator.adapters.compute import compute_for
from orchestrator.ports import ActivityLog, Compute
from orchestrator.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def compute() -> Compute:
    return compute_for(get_settings())


def activity_log() -> ActivityLog:
    return activity_log_for(get_settings())


def configure_logging() -> None:
    quiet_sdk_logging(get_settings().sdk_http_logging)
