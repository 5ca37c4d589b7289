"""Retry-After stays a whole number for the SDK's int parse; sub-second waits go in retry-after-ms."""

from __future__ import annotations

import pytest

from localcloud.arm.throttling import retry_after


@pytest.mark.parametrize(
    ("seconds", "headers"),
    [
        (20.0, {"Retry-After": "20"}),
        (1.2, {"Retry-After": "2"}),  # a throttled client must not come back early
        (0.25, {"retry-after-ms": "250"}),
        (0.0001, {"retry-after-ms": "1"}),
        (float("inf"), {"Retry-After": "3600"}),
    ],
)
def test_retry_after(seconds: float, headers: dict[str, str]) -> None:
    assert retry_after(seconds) == headers
