"""A first run of the local host: when the sample settings apply, where ARM starts, and one-line explanations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from localcloud.functions import firstrun
from localcloud.functions.__main__ import CHATTY, configure_logging

SAMPLE = {
    "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "RESPOT_SUBSCRIPTIONS": "11111111-2222-3333-4444-555555555555",
        "RESPOT_ARM_ENDPOINT": "http://127.0.0.1:7070",
        "RESPOT_LOGS_ENDPOINT": "http://127.0.0.1:7070",
    }
}


def _app(tmp_path: Path, *, sample: bool = True, settings: bool = False) -> Path:
    (tmp_path / "function_app.py").write_text("")
    if sample:
        (tmp_path / "local.settings.sample.json").write_text(json.dumps(SAMPLE))
    if settings:
        (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {}}))
    return tmp_path / "function_app.py"


def test_a_fresh_clone_runs_on_the_sample_with_arm_on_its_port(tmp_path: Path) -> None:
    plan = firstrun.plan(_app(tmp_path), arm_port=None, no_arm=False, environ={})
    assert plan.from_sample and plan.settings.name == "local.settings.sample.json"
    assert plan.arm_port == 7070 and plan.env == {}
    assert plan.notice is not None and "cp local.settings.sample.json local.settings.json" in plan.notice


def test_another_arm_port_moves_the_endpoints_that_pointed_at_the_samples_emulator(tmp_path: Path) -> None:
    plan = firstrun.plan(_app(tmp_path), arm_port=7171, no_arm=False, environ={})
    assert plan.arm_port == 7171
    assert plan.env == {"RESPOT_ARM_ENDPOINT": "http://127.0.0.1:7171", "RESPOT_LOGS_ENDPOINT": "http://127.0.0.1:7171"}
    assert firstrun.plan(_app(tmp_path), arm_port=None, no_arm=True, environ={}).arm_port is None


@pytest.mark.parametrize(("settings", "environ"), [(True, {}), (False, {"RESPOT_SUBSCRIPTIONS": "set by the user"})])
def test_local_settings_or_the_environment_mean_no_first_run_defaults(
    tmp_path: Path, settings: bool, environ: dict[str, str]
) -> None:
    plan = firstrun.plan(_app(tmp_path, settings=settings), arm_port=None, no_arm=False, environ=environ)
    assert not plan.from_sample and plan.notice is None and plan.arm_port is None
    assert plan.settings.name == "local.settings.json"


def test_no_sample_means_todays_behaviour(tmp_path: Path) -> None:
    plan = firstrun.plan(_app(tmp_path, sample=False), arm_port=7070, no_arm=False, environ={})
    assert (plan.from_sample, plan.arm_port) == (False, 7070)


def test_a_failure_is_one_line_and_a_setting_the_sample_lists_gets_the_fix(tmp_path: Path) -> None:
    plan = firstrun.plan(_app(tmp_path), arm_port=None, no_arm=False, environ={})
    line = firstrun.explain("invalid respot settings:\n  RESPOT_SUBSCRIPTIONS: Field required", plan)
    assert "\n" not in line and line.startswith(
        "invalid respot settings: RESPOT_SUBSCRIPTIONS: Field required. Fix: set"
    )
    assert firstrun.explain("SyntaxError: bad", plan) == "SyntaxError: bad"


def test_the_sdks_per_request_logs_are_quiet_unless_verbose() -> None:
    root, levels = logging.getLogger(), {name: logging.getLogger(name).level for name in CHATTY}
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(verbose=False)
        assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in CHATTY)
        configure_logging(verbose=True)
        assert all(logging.getLogger(name).level == logging.NOTSET for name in CHATTY)
    finally:
        root.handlers[:], root.level = handlers, level
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)
