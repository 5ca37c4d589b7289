"""Settings that only local runs set: where vaults are served, and the CA their certificate is checked against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.settings import SettingsError, get_settings

SUB = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("RESPOT_SUBSCRIPTIONS", SUB)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_in_azure_no_vault_endpoint_is_set(env: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert (settings.vault_endpoint, settings.vault_ca_file) == ("", "")


def test_a_loopback_https_endpoint_with_its_ca_file_is_taken(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env.setenv("RESPOT_VAULT_ENDPOINT", "https://127.0.0.1:7070/keyvault/")
    env.setenv("RESPOT_VAULT_CA_FILE", str(ca))
    assert get_settings().vault_endpoint == "https://127.0.0.1:7070/keyvault"


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:7070/keyvault", "https://vault.example.com/keyvault", "https://10.0.0.4/keyvault", "127.0.0.1"],
)
def test_a_vault_endpoint_that_is_not_loopback_https_stops_the_app(env: pytest.MonkeyPatch, endpoint: str) -> None:
    env.setenv("RESPOT_VAULT_ENDPOINT", endpoint)
    with pytest.raises(SettingsError, match=r"RESPOT_VAULT_ENDPOINT: .*not an https URL on a loopback host"):
        get_settings()


def test_a_vault_endpoint_needs_the_ca_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("RESPOT_VAULT_ENDPOINT", "https://127.0.0.1:7070/keyvault")
    with pytest.raises(SettingsError, match=r"RESPOT_VAULT_CA_FILE: .*needs the PEM"):
        get_settings()
    env.setenv("RESPOT_VAULT_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="RESPOT_VAULT_CA_FILE"):
        get_settings()


def test_the_activity_log_delay_is_twenty_minutes_unless_set_and_never_negative(env: pytest.MonkeyPatch) -> None:
    assert get_settings().activity_log_delay_minutes == 20
    env.setenv("RESPOT_ACTIVITY_LOG_DELAY_MINUTES", "0")
    get_settings.cache_clear()
    assert get_settings().activity_log_delay_minutes == 0
    env.setenv("RESPOT_ACTIVITY_LOG_DELAY_MINUTES", "-1")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="RESPOT_ACTIVITY_LOG_DELAY_MINUTES"):
        get_settings()


def test_a_sweep_schedule_of_once_a_minute_is_allowed(env: pytest.MonkeyPatch) -> None:
    for schedule in ("0 * * * * *", "00:01:00", "1.00:00:00"):
        env.setenv("RESPOT_SWEEP_SCHEDULE", schedule)
        get_settings.cache_clear()
        assert get_settings().sweep_schedule == schedule


def test_the_sweep_schedule_is_ncrontab_with_seconds_or_an_interval(env: pytest.MonkeyPatch) -> None:
    assert get_settings().sweep_schedule == "0 */5 * * * *"
    env.setenv("RESPOT_SWEEP_SCHEDULE", "00:02:00")
    get_settings.cache_clear()
    assert get_settings().sweep_schedule == "00:02:00"


@pytest.mark.parametrize(
    "schedule", ["*/5 * * * *", "every 5 minutes", "", "*/30 * * * * *", "0,30 * * * * *", "* */5 * * * *", "00:00:30"]
)
def test_a_sweep_schedule_that_is_neither_stops_the_app_naming_it(env: pytest.MonkeyPatch, schedule: str) -> None:
    env.setenv("RESPOT_SWEEP_SCHEDULE", schedule)
    with pytest.raises(SettingsError, match="RESPOT_SWEEP_SCHEDULE"):
        get_settings()
