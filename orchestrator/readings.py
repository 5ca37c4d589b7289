"""The ``x-ms-ratelimit-remaining-subscription-*`` readings an activity saw, for the limiter (domain.limiter).

The adapters' SDK pipelines :func:`record` every response's headers; :func:`collect` gathers what one activity's
requests saw (the lowest reading per bucket: the latest is never higher while the activity runs, unless the bucket
refilled). An activity runs in one worker thread from start to end, so the readings are kept per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

PREFIX = "x-ms-ratelimit-remaining-subscription-"
BUCKETS = {"writes": "writes", "reads": "reads", "deletes": "deletes"}  # header suffix -> limiter bucket

_local = threading.local()


def record(headers: Mapping[str, str]) -> None:
    seen: dict[str, int] | None = getattr(_local, "seen", None)
    if seen is None:
        return
    for key, value in headers.items():
        name = key.lower()
        bucket = BUCKETS.get(name[len(PREFIX) :]) if name.startswith(PREFIX) else None
        if bucket is not None and value.strip().isdigit():
            seen[bucket] = min(int(value), seen.get(bucket, int(value)))


@contextmanager
def collect() -> Iterator[dict[str, int]]:
    """The readings of the requests sent inside the ``with`` block."""
    previous, _local.seen = getattr(_local, "seen", None), {}
    try:
        yield _local.seen
    finally:
        _local.seen = previous
