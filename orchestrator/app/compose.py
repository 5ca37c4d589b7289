"""Composition: settings -> adapters -> what the blueprints call. The only place that picks implementations."""

from __future__ import annotations

from functools import lru_cache

from orchestrator.adapters.activitylog import activity_log_for
from orchestrator.adapters.arm import quiet_sdk_logging
from orchestrator.adapters.compute import compute_for
from orchestrator.adapters.fleetsfile import load_fleets
from orchestrator.adapters.market import ArmMarket
from orchestrator.adapters.scalesets import ArmScaleSets
from orchestrator.adapters.secrets import KeyVaultSecrets
from orchestrator.adapters.telemetry import configure_telemetry
from orchestrator.domain.fleet import Fleets
from orchestrator.ports import ActivityLog, Compute, MarketData, ScaleSets, Secrets
from orchestrator.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def compute() -> Compute:
    return compute_for(get_settings())


@lru_cache(maxsize=1)
def fleets() -> Fleets:
    return load_fleets(get_settings().fleets_file)


@lru_cache(maxsize=1)
def market() -> MarketData:
    """One per worker process: its caches (prices, eviction rates, placement scores) are the point."""
    return ArmMarket(get_settings(), compute_for(get_settings()))


@lru_cache(maxsize=1)
def scale_sets() -> ScaleSets:
    return ArmScaleSets(get_settings(), compute_for(get_settings()))


@lru_cache(maxsize=1)
def secrets() -> Secrets:
    return KeyVaultSecrets(get_settings(), compute_for(get_settings()).credential)


def activity_log() -> ActivityLog:
    return activity_log_for(get_settings())


def configure_logging() -> None:
    """Telemetry's exporter first (orchestrator.adapters.telemetry), then the SDK's HTTP log kept quiet unless asked
    for: the Azure Monitor distro exports log records, so the order keeps those lines out of Application Insights."""
    configure_telemetry()
    quiet_sdk_logging(get_settings().sdk_http_logging)
