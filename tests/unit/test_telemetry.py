"""Telemetry (orchestrator.telemetry, orchestrator.adapters.telemetry, orchestrator.app.observer): what is recorded,
with which attributes, where it goes, and that an orchestration's end is recorded once, never in a replay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from orchestrator import telemetry
from orchestrator.adapters.telemetry import exporter_of
from orchestrator.app.observer import at_end
from tests.conftest import REPO

SUB = "11111111-2222-3333-4444-555555555555"
VM = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/web"
IID = "respot-dd4ef94327cdeffa3ba3b227-0001"
OUTPUT = {
    "vm": VM,
    "outcome": "recovered",
    "reason": "evicted",
    "decision": {"action": "restart", "reason": "evicted"},
    "signals": [{"source": "event-grid", "occurredAt": "2026-12-01T12:03:00Z"}],
    "attemptCount": 3,
    "concludedAt": "2026-12-01T12:13:00Z",
}


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    got = InMemoryMetricReader()
    telemetry.use(MeterProvider(metric_readers=[got]))
    yield got
    telemetry.use(None)


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }


def test_a_recovery_counts_its_outcome_eviction_attempts_and_time_to_running(reader: InMemoryMetricReader) -> None:
    telemetry.recovery_ended(OUTPUT, IID)
    got = points(reader)
    assert dict(got["respot.recoveries"][0].attributes) == {"outcome": "recovered", "reason": "evicted"}
    assert dict(got["respot.evictions"][0].attributes) == {"source": "event-grid", "policy": "Deallocate"}
    [took] = got["respot.recovery.time_to_running"]
    assert took.sum == 600 and dict(took.attributes) == {
        "reason": "evicted",
        "respot.vm_id": VM,
        "respot.instance_id": IID,
    }
    assert got["respot.recovery.attempts"][0].sum == 3


def test_a_recovery_that_did_not_run_again_has_no_time_to_running_and_a_rejected_one_is_an_outcome_only(
    reader: InMemoryMetricReader,
) -> None:
    telemetry.recovery_ended({**OUTPUT, "outcome": "gave_up", "reason": "deadline"}, IID)
    telemetry.recovery_ended({"outcome": "rejected", "reason": "bad_input"}, IID)
    telemetry.recovery_ended(None, IID)  # a strategy that continued as new returns nothing
    got = points(reader)
    assert "respot.recovery.time_to_running" not in got
    assert sorted(p.attributes["outcome"] for p in got["respot.recoveries"]) == ["gave_up", "rejected"]
    assert [p.value for p in got["respot.evictions"]] == [1]


def test_activity_answers_count_429s_and_retries_with_the_vm_in_the_log(
    reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="respot.telemetry")
    payload = {"vm": {"subscription": SUB, "resource_group": "rg", "name": "web"}}
    telemetry.activity_answered("try_start", payload, {"step": "throttled", "failure": {"code": "TooManyRequests"}})
    telemetry.activity_answered("check_operation", payload, {"step": "transient"})
    telemetry.activity_answered("try_start", payload, {"step": "accepted"})
    got = points(reader)
    assert [dict(p.attributes) for p in got["respot.arm.throttled"]] == [
        {"activity": "try_start", "code": "TooManyRequests"}
    ]
    assert sorted(p.attributes["step"] for p in got["respot.arm.retries"]) == ["throttled", "transient"]
    assert [getattr(r, "respot.vm_id") for r in caplog.records] == [VM, VM]


def test_a_regular_fallback_is_counted_by_fleet_and_logged_with_the_fleet(
    reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="respot.telemetry")
    out = {"outcome": "recovered", "reason": "replaced_regular", "replacement": {"new": {"id": VM + "-r1"}}}
    telemetry.replacement_ended(out, IID + ":redeploy", {"fleet": "api", "vm_id": VM})
    assert [dict(p.attributes) for p in points(reader)["respot.fallbacks"]] == [{"fleet": "api"}]
    [record] = caplog.records
    assert (getattr(record, "respot.fleet"), getattr(record, "respot.vm_id")) == ("api", VM)


class Replayed:
    """The orchestration context as far as at_end reads it: is_replaying follows the history being replayed."""

    instance_id = IID

    def __init__(self, replayed_steps: int) -> None:
        self.replayed_steps, self.is_replaying = replayed_steps, replayed_steps > 0


def body(ctx: Replayed) -> Any:
    for step in range(2):
        got = yield f"task-{step}"
        ctx.is_replaying = step + 1 < ctx.replayed_steps
        assert got == f"result-{step}"
    return OUTPUT


def drive(ctx: Replayed, recorded: list[Any], results: int) -> Any:
    steps = at_end(ctx, body(ctx), recorded.append)
    sent: Any = None
    try:
        for i in range(results + 1):
            assert steps.send(sent) == f"task-{i}"
            sent = f"result-{i}"
    except StopIteration as done:
        return done.value
    return None


def test_an_orchestrations_end_is_recorded_in_the_episode_that_completes_it_never_in_a_replay() -> None:
    recorded: list[Any] = []
    assert drive(Replayed(0), recorded, 1) is None and recorded == []  # the first episode waits on task 1
    assert drive(Replayed(1), recorded, 2) == OUTPUT and recorded == [OUTPUT]  # new events: it completes
    assert drive(Replayed(3), recorded, 2) == OUTPUT and recorded == [OUTPUT]  # a replay of the whole: nothing


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, "none"),
        ({"OTEL_METRICS_EXPORTER": "console"}, "console"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_METRICS_EXPORTER": "console"}, "otlp"),
        (
            {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=0", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"},
            "azure-monitor",
        ),
    ],
)
def test_the_exporter_is_chosen_by_the_standard_variables(env: dict[str, str], kind: str) -> None:
    assert exporter_of(env) == kind


def test_every_metric_and_log_field_is_documented() -> None:
    doc = (REPO / "docs" / "telemetry.md").read_text()
    for name in [m.name for m in telemetry.METRICS] + [telemetry.VM_ID, telemetry.INSTANCE_ID, telemetry.FLEET]:
        assert f"`{name}`" in doc, name
