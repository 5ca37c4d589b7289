"""Host settings: keys from local.settings.json or generated once and kept; host.json limits (entity batches too)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from localcloud.functions.appmodel import AppLoadError
from localcloud.functions.engine import OverridableStates
from localcloud.functions.host import HostSettings, load_keys, load_local_settings


def test_keys_come_from_local_settings_and_the_rest_are_generated_once(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys.json"
    keys, new = load_keys({"LocalcloudKeys": {"function": "fn-key"}}, keyfile)
    assert keys.function == "fn-key" and new and len(keys.master) >= 24
    again, new_again = load_keys({"LocalcloudKeys": {"function": "fn-key"}}, keyfile)
    assert again == keys and not new_again  # kept across restarts
    assert oct(keyfile.stat().st_mode & 0o777) == "0o600"


def test_keys_accept_by_level(tmp_path: Path) -> None:
    keys, _ = load_keys({}, tmp_path / "keys.json")
    assert keys.accepts("function", keys.host) and keys.accepts("function", keys.master)
    assert not keys.accepts("admin", keys.function) and keys.accepts("admin", keys.master)
    assert keys.accepts("system", keys.system) and not keys.accepts("system", keys.function)
    assert not keys.accepts("function", "")


def test_values_become_environment_variables_without_overriding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALREADY", "kept")
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"ALREADY": "ignored", "RESPOT_TEST_NEW": "set"}}))
    monkeypatch.delenv("RESPOT_TEST_NEW", raising=False)
    load_local_settings(path)
    assert os.environ["ALREADY"] == "kept" and os.environ["RESPOT_TEST_NEW"] == "set"
    monkeypatch.delenv("RESPOT_TEST_NEW")
    path.write_text("{not json")
    with pytest.raises(AppLoadError, match="not JSON"):
        load_local_settings(path)


def test_host_json_limits_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    assert HostSettings.from_host_json(path) == HostSettings()
    path.write_text(
        json.dumps(
            {
                "extensions": {
                    "http": {"routePrefix": ""},
                    "durableTask": {"hubName": "h", "maxConcurrentActivityFunctions": 2},
                }
            }
        )
    )
    settings = HostSettings.from_host_json(path)
    assert (settings.route_prefix, settings.hub, settings.max_activities, settings.max_orchestrators) == (
        "",
        "h",
        2,
        10,
    )


def test_host_json_overridable_existing_instance_states(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    assert HostSettings.from_host_json(path).overridable is OverridableStates.NON_RUNNING_STATES  # the default
    for text, expected in (
        ("AnyState", OverridableStates.ANY_STATE),
        ("nonrunningstates", OverridableStates.NON_RUNNING_STATES),
    ):
        path.write_text(json.dumps({"extensions": {"durableTask": {"overridableExistingInstanceStates": text}}}))
        assert HostSettings.from_host_json(path).overridable is expected
    path.write_text(json.dumps({"extensions": {"durableTask": {"overridableExistingInstanceStates": "Sometimes"}}}))
    with pytest.raises(
        AppLoadError, match="overridableExistingInstanceStates: 'Sometimes' is not one of NonRunningStates, AnyState"
    ):
        HostSettings.from_host_json(path)


def test_host_json_entity_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    assert HostSettings.from_host_json(path).max_entity_batch == 50  # the Consumption plan's default
    path.write_text(json.dumps({"extensions": {"durableTask": {"maxEntityOperationBatchSize": 1}}}))
    assert HostSettings.from_host_json(path).max_entity_batch == 1
    path.write_text(json.dumps({"extensions": {"durableTask": {"maxEntityOperationBatchSize": 0}}}))
    with pytest.raises(AppLoadError, match="must be a positive integer"):
        HostSettings.from_host_json(path)
