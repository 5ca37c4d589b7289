"""The entity scheduler: runs each durable entity's operations through the app's entity function, a batch at a time.

The extension runs every entity as an orchestration instance ``@name@key`` (DurableTaskExtension.GetObject hands a
name starting with ``@`` to TaskEntityShim) whose inbox holds request messages; its EntityMiddleware takes the
queued requests in order into a batch (at most ``maxEntityOperationBatchSize``), calls the out-of-proc function
once for the batch (TaskEntityShim.ExecuteOutOfProcBatch), then writes back the state and sends the responses and
signals in one commit. Here the same, on the SQLite task hub: the requests wait in the inbox under the entity's
scheduler id, a batch runs outside the task hub lock, and its commit takes the requests, writes the state and
sends what it sends in one transaction. A host killed during a batch runs it again (at least once, like
activities); a committed batch is never run again. One batch per entity at a time: the dispatcher runs an
instance id once at a time, entities included. Wire shapes: :mod:`localcloud.functions.entitywire`.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from azure.functions import meta
from azure.functions.durable_functions import EnitityTriggerConverter

from localcloud.clock import Clock
from localcloud.functions import aio
from localcloud.functions import entitywire as wire
from localcloud.functions.appmodel import LoadedApp
from localcloud.functions.episodes import TERMINAL
from localcloud.functions.history import Kind, event, stamp
from localcloud.functions.store import EntityRow, Store

log = logging.getLogger("localcloud.functions")
# An aborted batch (the function raised, or answered no entity state) is abandoned and retried, as the extension's
# SessionAbortedException makes DTFx do; the host waits this long (simulated) before the retry.
ABORT_RETRY = timedelta(seconds=10)


class UnknownEntity(ValueError):
    """A client named an entity this app has no function for; the message is the extension's."""


class EntityScheduler:
    def __init__(
        self,
        app: LoadedApp,
        store: Store,
        clock: Clock,
        *,
        batch_size: int,
        kick: Callable[[], None],
        on_timed: Callable[[], None],
    ) -> None:
        self.app, self.store, self.clock, self.batch_size = app, store, clock, batch_size
        self._kick = kick  # new work: the dispatcher looks now
        self._on_timed = on_timed  # a message became visible later: the dispatcher's clock watcher re-plans

    # --- clients --------------------------------------------------------------------------------------------

    def signal(self, name: str, key: str, op: str, input_json: str | None) -> None:
        """A client's one-way operation (DurableClient.SignalEntityAsyncInternal). Raises :class:`UnknownEntity`
        or ValueError (a key with /, \\, #, ? or control characters)."""
        if any(c in "/\\#?" or unicodedata.category(c) == "Cc" for c in key):
            # The extension's ArgumentException(nameof(entityKey), message): .NET words it like this.
            raise ValueError(f"entityKey (Parameter '{wire.INVALID_KEY}')")
        if name.lower() not in self.app.entities:
            raise UnknownEntity(self.unknown(name.lower()))
        sid = wire.scheduler_id(name, key)
        self.send(sid, wire.request_json(wire.from_client(op, input_json)), self.clock.now())
        self._kick()

    def read(self, name: str, key: str) -> EntityRow | None:
        return self.store.entity(wire.scheduler_id(name, key))

    def send(self, sid: str, request_json: str, now: datetime) -> None:
        self.store.send(sid, event(Kind.EVENT_RAISED, now, Name=wire.REQUEST_EVENT, Input=request_json), stamp(now))

    def unknown(self, name: str) -> str:
        """DurableTaskExtension.GetInvalidEntityFunctionMessage, word for word: it tests the known *orchestrators*
        to decide whether to list the known entities."""
        message = f"The function '{name}' doesn't exist, is disabled, or is not an entity function. Additional info: "
        if self.app.orchestrators:
            known = "', '".join(s.trigger.get("entityName") or s.name for s in self.app.entities.values())
            return message + f"The following are the known entity functions: '{known}'."
        return message + "No entity functions are currently registered!"

    # --- batches --------------------------------------------------------------------------------------------

    def run_batch(self, sid: str) -> None:
        now = self.clock.now()
        with self.store.tx():
            taken = self.store.peek_inbox(sid, stamp(now), self.batch_size)
            current = self.store.entity(sid)
        if not taken:
            return
        started = time.perf_counter()
        name, key = wire.split_scheduler_id(sid)
        try:
            requests = [wire.parse_request(str(e["Input"])) for _, e in taken]
            result = self._invoke(name, key, current, requests)
        except Exception:  # the extension's internal error: the batch is aborted and retried
            # Its messages stay first in line (the store keeps an entity's order), so the entity waits for the retry.
            log.exception("entity %s: batch of %d aborted, retried in %s", sid, len(taken), ABORT_RETRY)
            self.store.delay_messages([i for i, _ in taken], stamp(self.clock.now() + ABORT_RETRY))
            self._on_timed()
            self._log(name, sid, started, f"aborted ({len(taken)} operations)")
            return
        with self.store.tx():
            if self.store.delete_messages([i for i, _ in taken]) != len(taken):
                raise RuntimeError(f"entity {sid}: its batch's messages changed while it ran")
            self._commit(sid, name, key, requests, result)
        failed = sum(o.is_error for o in result.outcomes)
        self._log(name, sid, started, f"succeeded ({len(requests)} operations, {failed} failed)")

    def _invoke(self, name: str, key: str, current: EntityRow | None, requests: list[wire.Request]) -> wire.BatchResult:
        spec = self.app.entities.get(name)
        if spec is None:  # its function left the app while it had messages: the extension fails the batch too
            raise LookupError(self.unknown(name))
        context = wire.batch_context(
            name,
            key,
            exists=current is not None,
            state=current.state if current else None,
            requests=requests,
        )
        # As the Python worker does: the trigger's JSON through the library's converter, bound by parameter name.
        arg = EnitityTriggerConverter.decode(meta.Datum(type="json", value=context), trigger_metadata={})
        answer = aio.call(spec.fn(**{spec.trigger["name"]: arg}))
        return wire.parse_batch_result(answer, len(requests))

    def _commit(self, sid: str, name: str, key: str, requests: list[wire.Request], result: wire.BatchResult) -> None:
        now = self.clock.now()
        if result.exists:
            self.store.save_entity(EntityRow(sid, name, key, result.state, stamp(now)))
        else:  # deleted (destruct_on_exit, or it never set a state): the extension drops an idle, empty entity
            self.store.delete_entity(sid)
        for request, outcome in zip(requests, result.outcomes, strict=True):
            if not request.signal and request.parent is not None:
                self._respond(request, outcome, now)
        for signal in result.signals:
            self._forward(sid, signal, now)

    def _respond(self, request: wire.Request, outcome: wire.Outcome, now: datetime) -> None:
        assert request.parent is not None
        caller = self.store.instance(request.parent)
        if caller is None or caller.status in TERMINAL or caller.execution_id != request.parent_execution:
            # Nobody waits any more: ended, purged, or continued as new (the request names the caller's execution).
            log.debug("entity response %s to %s dropped: its caller moved on", request.id, request.parent)
            return
        response = event(Kind.EVENT_RAISED, now, Name=request.id, Input=wire.response_json(outcome))
        self.store.send(request.parent, response, stamp(now))

    def _forward(self, sid: str, signal: wire.Signal, now: datetime) -> None:
        target_name, _ = wire.split_scheduler_id(signal.target)
        if target_name not in self.app.entities:
            log.warning("entity %s signalled %s, which has no entity function: dropped", sid, signal.target)
            return
        request = wire.from_entity(sid, signal)
        self.send(signal.target, wire.request_json(request, timestamp=wire.dotnet_time(now)), now)

    def _log(self, name: str, sid: str, started: float, outcome: str) -> None:
        spec = self.app.entities.get(name)
        duration = round((time.perf_counter() - started) * 1000, 2)
        line = {"function": spec.name if spec else name, "instanceId": sid, "durationMs": duration, "outcome": outcome}
        log.info(json.dumps(line))
