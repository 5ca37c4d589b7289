"""One long-lived event loop for async functions, as the Python worker has.

azure-functions-durable keeps a module-level aiohttp session bound to the loop it was made on; a fresh loop per
call (``asyncio.run``) breaks every client call after the first.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="functions-event-loop", daemon=True).start()
        return _loop


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on the worker loop from any thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop()).result()


def call(result: Any) -> Any:
    """The result of a function call: awaited on the worker loop if it is a coroutine."""
    return run(result) if asyncio.iscoroutine(result) else result
