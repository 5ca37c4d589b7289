"""Retry-After is whole seconds of the simulated world; clients outside the world convert it to their time."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.transport import HttpRequest

from localcloud.arm.clients import STOPPED_NAP, WORLD_HEADER, ClockSteppingTransport, WorldRetryAfterPolicy
from localcloud.arm.throttling import retry_after
from localcloud.clock import Clock


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (20.0, "20"),
        (1.2, "2"),  # a throttled client must not come back early
        (5.0000000001, "5"),  # float noise is not a second more
        (0.25, "1"),  # at least a second, as Azure never asks for less
        (0.0, "1"),
        (float("inf"), "3600"),
    ],
)
def test_the_server_says_whole_simulated_seconds(seconds: float, header: str) -> None:
    assert retry_after(seconds) == {"Retry-After": header}


class _Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def rewrite(clock: Clock, headers: dict[str, str]) -> dict[str, str]:
    request: PipelineRequest[Any] = PipelineRequest(HttpRequest("GET", "http://x"), None)  # type: ignore[arg-type]
    response: PipelineResponse[Any, Any] = PipelineResponse(request.http_request, _Response(headers), None)  # type: ignore[arg-type]
    WorldRetryAfterPolicy(clock).on_response(request, response)
    return headers


def test_a_running_clock_turns_world_seconds_into_real_milliseconds() -> None:
    assert rewrite(Clock(speed=600), {"Retry-After": "5"}) == {WORLD_HEADER: "5", "retry-after-ms": "8"}
    assert rewrite(Clock(speed=1), {"Retry-After": "1200"}) == {WORLD_HEADER: "1200", "retry-after-ms": "1200000"}
    assert rewrite(Clock(speed=1e6), {"Retry-After": "1"}) == {WORLD_HEADER: "1", "retry-after-ms": "1"}  # never 0


def test_a_stopped_clock_gives_a_short_nap_not_an_endless_sleep() -> None:
    headers = rewrite(Clock(speed=0), {"Retry-After": "1200"})
    assert headers["retry-after-ms"] == str(round(STOPPED_NAP * 1000))


def test_answers_without_a_number_of_seconds_are_left_alone() -> None:
    assert rewrite(Clock(speed=10), {}) == {}
    date = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert rewrite(Clock(speed=10), dict(date)) == date


def test_the_stepping_transport_sleeps_in_simulated_time() -> None:
    clock = Clock(speed=0)
    began = clock.elapsed()
    ClockSteppingTransport(clock).sleep(1200)
    assert clock.elapsed() - began == 1200
