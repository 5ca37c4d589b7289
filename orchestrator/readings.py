"""What an activity's ARM requests told the limiter (domain.limiter): the ``x-ms-ratelimit-remaining-subscription-*``
readings they saw, and the tokens they spent.

The adapters' SDK pipelines :func:`record` every response; :func:`collect` gathers what one activity's requests saw
(the lowest reading per bucket: the latest is never higher while the activity runs, unless the bucket refilled)
and what they spent: ARM meters a request by its method (GET a read, DELETE a delete, any other a
write; request-limits-and-throttling.md), and a request it answered 429 took no token. A read served from an
adapter's cache sends nothing, so an activity may spend less than the cost it reserved; the orchestration hands the
difference back. An activity runs in one worker thread from start to end, so both are kept per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

PREFIX = "x-ms-ratelimit-remaining-subscription-"
BUCKETS = {"writes": "writes", "reads": "reads", "deletes": "deletes"}  # header suffix -> limiter bucket
METHOD_BUCKETS = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}  # any other method: a write

_local = threading.local()


def record(headers: Mapping[str, str], method: str | None = None, status: int | None = None) -> None:
    spent: dict[str, int] | None = getattr(_local, "spent", None)
    if spent is not None and method is not None and status != 429:
        metered = METHOD_BUCKETS.get(method.upper(), "writes")
        spent[metered] = spent.get(metered, 0) + 1
    seen: dict[str, int] | None = getattr(_local, "seen", None)
    if seen is None:
        return
    for key, value in headers.items():
        name = key.lower()
        bucket = BUCKETS.get(name[len(PREFIX) :]) if name.startswith(PREFIX) else None
        if bucket is not None and value.strip().isdigit():
            seen[bucket] = min(int(value), seen.get(bucket, int(value)))


@contextmanager
def collect() -> Iterator[tuple[dict[str, int], dict[str, int]]]:
    """(readings, tokens spent per bucket) of the requests sent inside the ``with`` block."""
    previous = getattr(_local, "seen", None), getattr(_local, "spent", None)
    _local.seen, _local.spent = {}, {}
    try:
        yield _local.seen, _local.spent
    finally:
        _local.seen, _local.spent = previous
