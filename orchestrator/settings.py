"""One typed settings object, read from the environment once (``RESPOT_*``; in Azure: the app settings).

A bad or missing setting stops the app at start with a message naming the variable (function_app.py validates
at import), rather than failing the first eviction at 3 a.m. Scope and policy are read from here by the code that
calls ARM (activities) and never taken from an orchestration's input.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.domain.limiter import DEFAULT_BUDGETS, Bucket
from orchestrator.domain.models import InvalidInput
from orchestrator.domain.scope import GUID, Scope

GUID_PATTERN = f"^{GUID}$"
LOOPBACK_HTTPS = re.compile(r"^https://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?(/[\w.~-]+)*/?$")


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
    prices_endpoint: str = Field("https://prices.azure.com", description="The Retail Prices API (anonymous).")
    fleets_file: str = Field("", description="YAML fleet profiles; empty: no fleets (Delete-policy VMs not protected).")
    market_ttl_seconds: float = Field(
        3600, ge=0, le=86400, description="How long prices, eviction rates and resource SKUs are kept."
    )
    placement_ttl_seconds: float = Field(
        900,
        ge=0,
        le=3600,
        description="How long spot placement scores are kept (Azure suggests 15 to 30 minutes: a score is only valid "
        "when it is asked).",
    )
    quota_ttl_seconds: float = Field(
        30,
        ge=0,
        le=3600,
        description="How long a region's quota and a fleet's member count, read for one ranking, serve the next ones.",
    )
    log_workspace_id: str = Field(
        "", description="Workspace with the AzureActivity table; empty turns Activity Log checks off."
    )
    retry_first_seconds: float = Field(60, gt=0, le=86400)
    retry_cap_seconds: float = Field(900, gt=0, le=86400)
    retry_deadline_hours: float = Field(24, gt=0, le=24 * 30)
    settle_minutes: float = Field(
        15, ge=0, le=1440, description="How long a concluded recovery keeps recording late signals of its eviction."
    )
    notice_grace_seconds: float = Field(
        60, ge=0, le=600, description="After an agent's Preempt notice: wait NotBefore plus this before looking."
    )
    price_policy: Literal["wait", "raise"] = "wait"
    max_price_ceiling: float = Field(
        0, ge=0, description="With price_policy=raise: never raise maxPrice above this (USD/h)."
    )
    arm_budgets: str = Field(
        "",
        description="ARM budgets respot paces itself to, where they differ from Azure's: bucket=burst/per_second "
        f"pairs, e.g. 'writes=100/5,reads=250/25'. Buckets: {', '.join(DEFAULT_BUDGETS)}.",
    )
    require_health_extension: bool = False
    return_schedule: str = Field(
        "0 */5 * * * *",
        pattern=r"^\S+( \S+){5}$",
        description="NCRONTAB (with seconds) of the return to Spot's look at Regular fallbacks (docs/operators.md).",
    )
    max_body_bytes: int = Field(1_048_576, gt=0)
    max_body_depth: int = Field(32, ge=4, le=512, description="JSON nesting allowed in /api/alerts bodies.")
    sweep_schedule: str = Field(
        "0 */5 * * * *",
        description="When the reconciliation sweep runs: NCRONTAB with seconds, or hh:mm:ss; at most once a minute "
        "(a sweep's record is named by its minute).",
    )
    activity_log_delay_minutes: float = Field(
        20,
        ge=0,
        le=240,
        description="How long Activity Log records may take to reach the Log Analytics workspace: the sweep acts "
        "on a state only once it is this old, so what a person or the platform did is in the log when the recovery "
        "asks.",
    )
    sdk_http_logging: bool = Field(False, description="azure-core's per-request HTTP log lines (very verbose).")
    vault_endpoint: str = Field(
        "", description="Local runs only: https://<name>.vault.azure.net is served at <this>/<name>; empty in Azure."
    )
    vault_ca_file: str = Field(
        "", validate_default=True, description="With vault_endpoint: the PEM its TLS certificate is checked against."
    )

    @field_validator("subscriptions")
    @classmethod
    def _subscriptions(cls, value: str) -> str:
        subs = [s.strip() for s in value.split(",") if s.strip()]
        if not subs:
            raise ValueError("at least one subscription id is required")
        bad = [s for s in subs if not re.match(GUID_PATTERN, s)]
        if bad:
            raise ValueError(f"not subscription ids: {', '.join(bad)}")
        return ",".join(s.lower() for s in subs)

    @field_validator("sweep_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        text = value.strip()
        interval = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", text)
        if not (interval or len(text.split()) == 6):
            raise ValueError(f"'{value}' is neither NCRONTAB with six fields (seconds first) nor hh:mm:ss")
        if interval:
            days, hours, minutes, seconds = (int(g or 0) for g in interval.groups())
            often = ((days * 24 + hours) * 60 + minutes) * 60 + seconds < 60
        else:
            often = not re.fullmatch(r"\d{1,2}", text.split()[0])  # more than one second of each minute
        if often:
            raise ValueError(f"'{value}' runs more than once a minute: sweeps are recorded per minute")
        return text

    @field_validator("required_tags")
    @classmethod
    def _tags(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            if "=" not in pair:
                raise ValueError(f"'{pair}' is not k=v")
        return value

    @field_validator("arm_endpoint", "logs_endpoint", "prices_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(f"'{value}' is not an http(s) endpoint (scheme and host only)")
        return value.rstrip("/")

    @field_validator("vault_endpoint")
    @classmethod
    def _vault_endpoint(cls, value: str) -> str:
        # Only the local emulator: respot then turns off the SDK's check that the vault's challenge names the
        # vault's own domain (verify_challenge_resource, https://aka.ms/azsdk/blog/vault-uri), so this must never
        # point at a host that could ask for respot's Key Vault token.
        if value and not LOOPBACK_HTTPS.match(value):
            raise ValueError(f"'{value}' is not an https URL on a loopback host (the local emulator's vaults)")
        return value.rstrip("/")

    @field_validator("arm_budgets")
    @classmethod
    def _arm_budgets(cls, value: str) -> str:
        parse_budgets(value)
        return value

    @property
    def budgets(self) -> dict[str, Bucket]:
        return parse_budgets(self.arm_budgets)

    @field_validator("vault_ca_file")
    @classmethod
    def _vault_ca_file(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("vault_endpoint") and not Path(value).is_file():
            raise ValueError(f"'{value}' is not a file: RESPOT_VAULT_ENDPOINT needs the PEM of the emulator's CA")
        return value

    @property
    def scope(self) -> Scope:
        return Scope(
            frozenset(self.subscriptions.split(",")),
            frozenset(r.strip().lower() for r in self.resource_groups.split(",") if r.strip()),
            tuple(
                (k.strip(), v.strip()) for k, v in (p.split("=", 1) for p in self.required_tags.split(",") if p.strip())
            ),
        )


def parse_budgets(text: str) -> dict[str, Bucket]:
    """Azure's budgets with the changes ``text`` names. Raises ValueError naming the bad pair."""
    budgets = dict(DEFAULT_BUDGETS)
    for pair in (p.strip() for p in text.split(",") if p.strip()):
        name, _, numbers = pair.partition("=")
        burst, _, rate = numbers.partition("/")
        try:
            if name.strip() not in budgets:
                raise ValueError(f"no bucket {name.strip()!r} (one of {', '.join(budgets)})")
            budgets[name.strip()] = Bucket(float(burst), float(rate))
        except (ValueError, InvalidInput) as exc:
            raise ValueError(f"{pair!r}: {exc}; write bucket=burst/per_second") from None
    return budgets


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once. Raises :class:`SettingsError` naming each bad variable."""
    try:
        return Settings()  # pydantic-settings fills the fields from the environment
    except ValidationError as exc:
        problems = "; ".join(f"RESPOT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid respot settings: {problems}") from None
