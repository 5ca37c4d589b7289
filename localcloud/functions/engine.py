"""The Durable Task side of the local host: episodes, activities, and the client operations, on the SQLite task hub.

Orchestrator episodes run through the azure-functions-durable replay engine itself (the handle that
``DFApp.orchestration_trigger`` registers): history in, actions out, one episode per instance at a time. Entity
batches (instance ids ``@name@key``) run in :mod:`localcloud.functions.entities`. The threads that run them live
in :mod:`localcloud.functions.dispatch`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from localcloud.clock import Clock
from localcloud.functions import aio
from localcloud.functions.appmodel import FunctionSpec, LoadedApp
from localcloud.functions.dispatch import Dispatcher
from localcloud.functions.entities import EntityScheduler
from localcloud.functions.episodes import TERMINAL, Planner, context_json, flatten
from localcloud.functions.history import Event, Kind, event, stamp
from localcloud.functions.store import Instance, Store

log = logging.getLogger("localcloud.functions")


class OverridableStates(StrEnum):
    """host.json ``extensions.durableTask.overridableExistingInstanceStates`` (the extension's OverridableStates)."""

    NON_RUNNING_STATES = "NonRunningStates"  # the default: only an ended instance is replaced
    ANY_STATE = "AnyState"  # always replaced; a running one is terminated first

    @classmethod
    def parse(cls, text: str) -> OverridableStates:
        """Case-insensitive, as the extension's options binder is. Raises ValueError naming the values."""
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        raise ValueError(f"'{text}' is not one of {', '.join(m.value for m in cls)}")


class Conflict(Exception):
    """An instance with this id exists in a state that overridableExistingInstanceStates protects."""


# DurableClient.StartNewAsync's ArgumentException(nameof(instanceId), ...), as .NET words its message: ids starting
# with @ are entities' (ContextImplementations/DurableClient.cs).
AT_ID = "instanceId (Parameter 'Orchestration instance ids must not start with @.')"


class Engine:
    def __init__(
        self,
        app: LoadedApp,
        store: Store,
        clock: Clock,
        *,
        max_activities: int = 10,
        max_orchestrators: int = 10,
        max_entity_batch: int = 50,
        overridable: OverridableStates = OverridableStates.NON_RUNNING_STATES,
    ) -> None:
        self.app, self.store, self.clock, self.overridable = app, store, clock, overridable
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        # Entity batches share the orchestrator pool and its limit: for Python (the OrchestratorShim protocol) the
        # extension runs EntityMiddleware on the orchestration dispatcher (DurableTaskExtension.cs), and the Azure
        # Storage provider keeps entity work items on the orchestration queue (UseSeparateQueueForEntityWorkItems only
        # for .NET isolated, Java and custom handlers), so maxConcurrentOrchestratorFunctions bounds both.
        self.dispatch = Dispatcher(
            store,
            clock,
            run_episode=self.run_episode,
            run_activity=self.run_activity,
            max_activities=max_activities,
            max_orchestrators=max_orchestrators,
        )
        self.entities = EntityScheduler(
            app,
            store,
            clock,
            batch_size=max_entity_batch,
            kick=self.kick,
            on_timed=self.dispatch.timed_message_sent,
        )

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        released = self.store.release_leases()
        if released:
            log.info("re-running %d activities that were in flight when the host stopped (at-least-once)", released)
        self.dispatch.start()

    def stop(self) -> None:
        self.dispatch.stop()

    def kick(self) -> None:
        self.dispatch.kick()

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def hold(self, instance_id: str) -> Iterator[None]:
        """See :meth:`Dispatcher.hold`: no episode of this instance runs meanwhile."""
        with self.dispatch.hold(instance_id):
            yield

    # --- client operations ----------------------------------------------------------------------------------

    def start_new(self, name: str, instance_id: str | None, input_json: str | None) -> Instance:
        """Start ``name`` as ``instance_id`` (a new id when None), replacing an instance of that id as
        overridableExistingInstanceStates allows (DurableClient.StartNewAsync with its dedupe statuses).

        Raises KeyError for an unknown orchestrator and :class:`Conflict` when the existing instance is protected.
        """
        if name not in self.app.orchestrators:
            raise KeyError(name)
        if instance_id and instance_id.startswith("@"):
            raise ValueError(AT_ID)
        iid = instance_id or uuid.uuid4().hex
        with self._locks[iid], self.store.tx():
            existing = self.store.instance(iid)
            if existing is not None and existing.status not in TERMINAL:
                if self.overridable is OverridableStates.NON_RUNNING_STATES:
                    # DTFx's OrchestrationAlreadyExistsException, as the Azure Storage provider words it.
                    raise Conflict(f"An Orchestration instance with the status {existing.status} already exists.")
                self._terminate(existing, "replaced by a new instance with the same id (AnyState)")
            inst = self._create(iid, name, input_json, parent=None)
        self.kick()
        return inst

    def _create(self, iid: str, name: str, input_json: str | None, parent: tuple[str, int] | None) -> Instance:
        now = stamp(self.now())
        self.store.delete_instance(iid)
        inst = Instance(
            iid,
            name,
            uuid.uuid4().hex,
            "Pending",
            input_json,
            None,
            None,
            now,
            now,
            parent[0] if parent else None,
            parent[1] if parent else None,
            0,
            0,
        )
        self.store.save_instance(inst)
        self.store.send(iid, event(Kind.EXECUTION_STARTED, self.now(), Name=name, Input=input_json, Version=""), now)
        return inst

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> str:
        """'ok', 'notfound' or 'gone' (completed, failed or terminated). A Pending instance gets it when it runs."""
        with self.store.tx():  # atomic with an episode that ends the instance (and drops its inbox)
            inst = self.store.instance(instance_id)
            if inst is None:
                return "notfound"
            if inst.status in TERMINAL:
                return "gone"
            self.store.send(
                instance_id, event(Kind.EVENT_RAISED, self.now(), Name=name, Input=data_json), stamp(self.now())
            )
        self.kick()
        return "ok"

    def terminate(self, instance_id: str, reason: str) -> str:
        with self._locks[instance_id], self.store.tx():
            inst = self.store.instance(instance_id)
            if inst is None:
                return "notfound"
            if inst.status in TERMINAL:
                return "gone"
            self._terminate(inst, reason)
        self.kick()  # a terminated sub-orchestration's parent has a message
        return "ok"

    def _terminate(self, inst: Instance, reason: str) -> None:
        self.store.append_history(inst.id, [event(Kind.EXECUTION_TERMINATED, self.now(), Input=json.dumps(reason))])
        self._finish(inst, "Terminated", json.dumps(reason), f"terminated: {reason}")

    # --- episodes -------------------------------------------------------------------------------------------

    def run_episode(self, iid: str) -> None:
        """One episode of ``iid``: its visible messages and history are read, the orchestrator function replays
        them with no lock of the task hub held (replay is the costly part: ~100 us an event), then one transaction
        takes exactly those messages, appends the history and applies the actions. Messages that arrive meanwhile
        wait for the next episode; a host killed before the commit leaves everything as it was (it runs again)."""
        if iid.startswith("@"):  # DurableTaskExtension.GetObject: a name starting with @ is an entity's scheduler
            self.entities.run_batch(iid)
            return
        with self._locks[iid]:  # one episode per instance; terminate and start_new take the same lock
            with self.store.tx():
                inst = self.store.instance(iid)
                now = self.now()
                taken = self.store.visible_inbox(iid, stamp(now))
                if inst is None or inst.status in TERMINAL or not taken:
                    if taken:  # an ended instance's late messages are dropped
                        self.store.delete_messages([n for n, _ in taken])
                    return
                old = self.store.history(iid)
                retries = self._retry_state(inst)
            started = time.perf_counter()
            new = [e for _, e in taken]
            if any(e["EventType"] == Kind.EXECUTION_STARTED for e in new):
                inst.status = "Running"
            delivered, state, planner = self._replay(inst, now, old, new, retries)
            with self.store.tx():
                current = self.store.instance(iid)
                if current is None or current.execution_id != inst.execution_id or current.status in TERMINAL:
                    return  # ended or replaced meanwhile (a purge cannot: the instance was running)
                self.store.delete_messages([n for n, _ in taken])
                self.store.append_history(inst.id, delivered + planner.events)
                outcome = self._apply(inst, state, planner)
        self._log(inst.name, iid, started, outcome)

    def _replay(
        self,
        inst: Instance,
        now: datetime,
        old: list[Event],
        new: list[Event],
        retries: tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]],
    ) -> tuple[list[Event], dict[str, Any], Planner]:
        """The orchestrator function over its history: what it did (state) and what that asks of the hub. Pure
        of the task hub: nothing here reads or writes it."""
        delivered = [event(Kind.ORCHESTRATOR_STARTED, now), *new]
        spec = self.app.orchestrators.get(inst.name)
        planner = Planner(inst, now, *retries, entities=self.app.entities, unknown_entity=self.entities.unknown)
        try:
            if spec is None:
                raise LookupError(f"The orchestrator function '{inst.name}' does not exist in this app.")
            state = json.loads(spec.fn(context_json(inst, old, delivered)))
        except Exception as exc:  # noqa: BLE001 - non-determinism, a bug in the app, an unknown orchestrator
            state = {"isDone": True, "error": f"{type(exc).__name__}: {exc}", "actions": []}
        planner.after_delivery(new)
        actions = flatten(state.get("actions") or [])
        planner.actions(actions[inst.actions_seen :])
        inst.actions_seen = len(actions)
        if "customStatus" in state:
            inst.custom_status = json.dumps(state["customStatus"])
        return delivered, state, planner

    def _retry_state(self, inst: Instance) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
        rows = self.store.retries(inst.id, inst.execution_id)
        return {r["task_id"]: r for r in rows}, {r["timer_id"]: r for r in rows if r["timer_id"] is not None}

    def _apply(self, inst: Instance, state: dict[str, Any], planner: Planner) -> str:
        out = planner.out
        if out.unsupported:  # nothing of this episode is sent or started
            return self._complete(inst, {"isDone": True, "error": out.unsupported})
        for task_id in out.dropped_retries:
            self.store.drop_retry(inst.id, task_id)
        for task_id, action, attempts, timer in out.retries:
            self.store.save_retry(inst.id, inst.execution_id, task_id, action, attempts, timer)
        for task_id, name, input_ in out.activities:
            self._schedule_activity(inst, task_id, name, input_)
        for target, message, visible in out.messages:
            self.store.send(target, message, stamp(visible))
            self.dispatch.timed_message_sent()
        for child, name, input_, task_id in out.children:
            self._start_child(inst, child, name, input_, task_id)
        if out.continue_as_new is not None and not state.get("error"):
            return self._continue_as_new(inst, out.continue_as_new)  # the SDK reports isDone for it too
        if state.get("isDone"):
            return self._complete(inst, state)
        self._touch(inst)
        return "running"

    def _schedule_activity(self, inst: Instance, task_id: int, name: str, input_: str | None) -> None:
        if name in self.app.activities:
            self.store.enqueue_activity(inst.id, inst.execution_id, task_id, name, input_)
            return
        reason = f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
        self.store.send(
            inst.id,
            event(Kind.TASK_FAILED, self.now(), TaskScheduledId=task_id, Reason=reason, Details=reason),
            stamp(self.now()),
        )

    def _start_child(self, parent: Instance, child: str, name: str, input_: str | None, task_id: int) -> None:
        if name not in self.app.orchestrators or child.startswith("@"):
            reason = (
                AT_ID
                if child.startswith("@")
                else f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
            failed = event(
                Kind.SUB_ORCHESTRATION_FAILED, self.now(), TaskScheduledId=task_id, Reason=reason, Details=reason
            )
            self.store.send(parent.id, failed, stamp(self.now()))
            return
        self._create(child, name, input_, parent=(parent.id, task_id))

    def _complete(self, inst: Instance, state: dict[str, Any]) -> str:
        if state.get("error"):
            message = str(state["error"])
            self.store.append_history(inst.id, [event(Kind.EXECUTION_FAILED, self.now(), Reason=message)])
            self._finish(inst, "Failed", json.dumps(message), message)
            return "failed"
        output = json.dumps(state.get("output"))
        self.store.append_history(inst.id, [event(Kind.EXECUTION_COMPLETED, self.now(), Result=output)])
        self._finish(inst, "Completed", output, None)
        return "completed"

    def _finish(self, inst: Instance, status: str, output: str | None, failure: str | None) -> None:
        inst.status, inst.output = status, output
        self._touch(inst)
        self.store.drop_activities(inst.id)
        self.store.drop_inbox(inst.id)
        if inst.parent_id is not None and inst.parent_task_id is not None:
            if failure is None:
                done = event(
                    Kind.SUB_ORCHESTRATION_COMPLETED, self.now(), TaskScheduledId=inst.parent_task_id, Result=output
                )
            else:
                reason = f"Orchestrator function '{inst.name}' failed: {failure}"
                done = event(
                    Kind.SUB_ORCHESTRATION_FAILED,
                    self.now(),
                    TaskScheduledId=inst.parent_task_id,
                    Reason=reason,
                    Details=reason,
                )
            self.store.send(inst.parent_id, done, stamp(self.now()))

    def _continue_as_new(self, inst: Instance, input_json: str) -> str:
        """A fresh execution with a fresh, short history; external events already queued are kept."""
        self.store.drop_activities(inst.id)
        with self.store.tx() as db:
            kept = [
                r
                for r in db.execute("SELECT id, event FROM inbox WHERE instance_id = ?", (inst.id,))
                if json.loads(r["event"])["EventType"] == Kind.EVENT_RAISED
            ]
            db.execute("DELETE FROM inbox WHERE instance_id = ?", (inst.id,))
            db.execute("DELETE FROM retries WHERE instance_id = ?", (inst.id,))
        self.store.reset_history(inst.id)
        inst.execution_id, inst.input, inst.next_seq, inst.actions_seen = uuid.uuid4().hex, input_json, 0, 0
        self._touch(inst)
        self.store.send(
            inst.id,
            event(Kind.EXECUTION_STARTED, self.now(), Name=inst.name, Input=input_json, Version=""),
            stamp(self.now()),
        )
        for row in kept:
            self.store.send(inst.id, json.loads(row["event"]), stamp(self.now()))
        return "continued-as-new"

    def _touch(self, inst: Instance) -> None:
        inst.updated = stamp(self.now())
        self.store.save_instance(inst)

    # --- activities -----------------------------------------------------------------------------------------

    def run_activity(self, item: dict[str, Any]) -> None:
        spec = self.app.activities[item["name"]]
        started = time.perf_counter()
        try:
            result = ActivityTriggerConverter.encode(self._invoke(spec, item["input"]), expected_type=None)
            done = event(
                Kind.TASK_COMPLETED,
                self.now(),
                TaskScheduledId=item["task_id"],
                Result=result.value if result else None,
            )
            outcome = "succeeded"
        except Exception as exc:  # noqa: BLE001 - any activity failure is reported to its orchestration
            # As the Functions host reports it: the orchestrator sees "Reason \n Details" in its exception.
            reason = f"Activity function '{item['name']}' failed: {type(exc).__name__}: {exc}"
            details = "".join(traceback.format_exception(exc)).strip()
            done = event(Kind.TASK_FAILED, self.now(), TaskScheduledId=item["task_id"], Reason=reason, Details=details)
            outcome = f"failed: {type(exc).__name__}"
        with self.store.tx():
            inst = self.store.instance(item["instance_id"])
            if inst is not None and inst.execution_id == item["execution_id"] and inst.status not in TERMINAL:
                self.store.finish_activity(item["id"], item["instance_id"], done, stamp(self.now()))
            else:
                self.store.retire_activity(item["id"])  # nobody waits for this result any more
        self._log(spec.name, item["instance_id"], started, outcome)

    def _invoke(self, spec: FunctionSpec, input_json: str | None) -> Any:
        datum = meta.Datum(type="json", value=input_json if input_json is not None else "null")
        arg = ActivityTriggerConverter.decode(datum, trigger_metadata={})
        kwargs = {spec.trigger["name"]: arg}
        return aio.call(spec.fn(**kwargs))

    @staticmethod
    def _log(function: str, instance_id: str, started: float, outcome: str) -> None:
        log.info(
            json.dumps(
                {
                    "function": function,
                    "instanceId": instance_id,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "outcome": outcome,
                }
            )
        )
