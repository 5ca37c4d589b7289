"""Telemetry at an orchestration's end, outside its deterministic body.

An orchestrator function runs again from the start in every episode (a replay), so anything it records would be
counted once per episode. :func:`at_end` wraps the body's generator instead: it passes every task and result
through unchanged, and when the body returns it calls ``record(output)`` only if the SDK says the episode is not a
replay (``context.is_replaying`` is False once the new events of the episode are being processed). The body
returns in exactly one episode, the one that completes the instance, so each ending is recorded once (twice only
if the host dies before committing that episode, as an activity may run twice). Nothing is scheduled, so the
history and the actions are exactly the body's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

log = logging.getLogger("respot.telemetry")


def at_end(context: Any, steps: Any, record: Callable[[Any], None]) -> Generator[Any, Any, Any]:
    output = yield from steps
    if not context.is_replaying:
        try:
            record(output)
        except Exception:  # telemetry never fails an orchestration (and it is logged)
            log.exception("recording the end of %s failed", context.instance_id)
    return output
