"""One typed settings object, read from the environment once (``RESPOT_*``; in Azure: the app settings).

A bad or missing setting stops the app at start with a message naming the variable (function_app.py validates
at import), rather than failing the first eviction at 3 a.m.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.domain.resources import GUID

GUID_PATTERN = f"^{GUID}$"


class SettingsError(Exception):
    """Invalid configuration; the message lists every variable that is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESPOT_", extra="ignore", frozen=True)

    subscriptions: str = Field(description="Comma-separated subscription ids respot may act in (required).")
    resource_groups: str = Field(
        "", description="Comma-separated resource groups; empty means all in scope subscriptions."
    )
    required_tags: str = Field("", description="k=v[,k=v]: only VMs with all these tags are recovered.")
    arm_endpoint: str = Field("https://management.azure.com", description="ARM; the local emulator in local runs.")
    credential: Literal["default", "localcloud"] = Field(
        "default", description="DefaultAzureCredential, or the emulator's static token."
    )
    logs_endpoint: str = Field("https://api.loganalytics.io", description="Log Analytics query endpoint.")
    log_workspace_id: str = Field(
        "", description="Workspace with the AzureActivity table; empty turns user-action checks off."
    )
    retry_first_seconds: float = Field(60, gt=0)
    retry_cap_seconds: float = Field(900, gt=0)
    retry_deadline_hours: float = Field(24, gt=0)
    attempts_per_execution: int = Field(
        5, ge=1, le=50, description="Tries before continue-as-new keeps the history short."
    )
    price_policy: Literal["wait", "raise"] = "wait"
    max_price_ceiling: float = Field(
        0, ge=0, description="With price_policy=raise: never raise maxPrice above this (USD/h)."
    )
    require_health_extension: bool = False
    max_body_bytes: int = Field(1_048_576, gt=0)
    arm_polling_seconds: float = Field(5, gt=0)

    @field_validator("subscriptions")
    @classmethod
    def _subscriptions(cls, value: str) -> str:
        import re

        subs = [s.strip() for s in value.split(",") if s.strip()]
        if not subs:
            raise ValueError("at least one subscription id is required")
        bad = [s for s in subs if not re.match(GUID_PATTERN, s)]
        if bad:
            raise ValueError(f"not subscription ids: {', '.join(bad)}")
        return ",".join(s.lower() for s in subs)

    @field_validator("required_tags")
    @classmethod
    def _tags(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            if "=" not in pair:
                raise ValueError(f"'{pair}' is not k=v")
        return value

    @property
    def subscription_set(self) -> frozenset[str]:
        return frozenset(self.subscriptions.split(","))

    @property
    def resource_group_set(self) -> frozenset[str]:
        return frozenset(r.strip().lower() for r in self.resource_groups.split(",") if r.strip())

    @property
    def tag_filter(self) -> dict[str, str]:
        return dict(p.strip().split("=", 1) for p in self.required_tags.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once. Raises :class:`SettingsError` naming each bad variable."""
    try:
        return Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from the environment
    except ValidationError as exc:
        problems = "; ".join(f"RESPOT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid respot settings: {problems}") from None
