"""function_app.py builds the Durable app and registers respot's blueprints, as the Functions worker sees it."""

from __future__ import annotations

from functools import cache
from typing import Any

import function_app
from localcloud.functions.appmodel import indexed_functions


@cache
def functions() -> dict[str, Any]:
    # get_functions() may be called once per app (design.md): go through the host's cached indexer.
    return {f.get_function_name(): f for f in indexed_functions(function_app.app)}


def test_health_is_an_anonymous_get_http_trigger() -> None:
    fn = functions()["health"]
    trigger = fn.get_trigger()
    assert trigger.type == "httpTrigger"
    assert trigger.route == "health" and [m.value if hasattr(m, "value") else m for m in trigger.methods] == ["GET"]
    assert str(trigger.auth_level).lower().endswith("anonymous")


def test_health_answers_with_the_version() -> None:
    import json

    from orchestrator import __version__
    from orchestrator.app.health import health_response

    resp = health_response()
    assert resp.status_code == 200 and json.loads(resp.get_body()) == {
        "status": "ok",
        "service": "respot",
        "version": __version__,
    }


def test_the_sweep_timer_takes_its_schedule_from_the_settings_and_its_record_is_an_orchestration() -> None:
    from orchestrator.settings import get_settings

    trigger = functions()["sweep"].get_trigger()
    assert trigger.type == "timerTrigger" and trigger.schedule == get_settings().sweep_schedule
    assert functions()["sweep_record"].get_trigger().type == "orchestrationTrigger"
    assert functions()["roster"].get_trigger().type == "entityTrigger"


def test_a_sweep_record_not_started_by_a_sweep_is_rejected() -> None:
    from unittest.mock import Mock

    from orchestrator.workflows.sweep import sweep_record

    def context(instance_id: str, record: object) -> Mock:
        return Mock(instance_id=instance_id, get_input=Mock(return_value=record))

    record = {"sweep": "respot-sweep-20261201T1205Z", "found": []}
    assert sweep_record(context("respot-sweep-20261201T1205Z", record)) == record
    for iid, given in (("respot-sweep-20261201T1210Z", record), ("respot-abc-0001", {"sweep": "respot-abc-0001"})):
        assert sweep_record(context(iid, given))["outcome"] == "rejected"


def test_without_the_schedule_setting_the_sweep_runs_on_the_default_schedule() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "RESPOT_SWEEP_SCHEDULE"}
    code = (
        "import function_app; from localcloud.functions.appmodel import indexed_functions; "
        "print([f.get_trigger().schedule for f in indexed_functions(function_app.app) "
        "if f.get_function_name() == 'sweep'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['0 */5 * * * *']"
