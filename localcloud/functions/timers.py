"""Timer triggers on the shared clock: NCRONTAB schedules, runOnStartup, and past-due runs.

Like the Functions host's schedule monitor, the last and next run of each timer are kept (in the task hub's
SQLite file); when the host starts after a scheduled time went by unseen, the function runs once at start with
``past_due`` set. The function is handed the schedule status as Azure's TimerListener hands it (azure-webjobs-sdk-
extensions, Timers/Listener/TimerListener.cs, ``InvokeJobFunction``): the status from *before* this run, so
``Next`` is the occurrence now due (for a past-due run, the one missed; at a run on startup, the coming one), and
``Last`` and ``LastUpdated`` are the previous run's time (``0001-01-01T00:00:00`` before the first). A schedule may name an app setting, ``%NAME%``, resolved from the environment when the host
starts (Azure Functions' app setting binding expressions: https://learn.microsoft.com/azure/azure-functions/
functions-bindings-expressions-patterns#binding-expressions---app-settings); a setting that is not there stops the
host naming it, as Azure's host refuses to index the function ("'%NAME%' does not resolve to a value").
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from azure.functions.timer import TimerRequest

from localcloud.clock import Clock
from localcloud.functions import aio, ncrontab
from localcloud.functions.appmodel import AppLoadError, FunctionSpec
from localcloud.functions.history import stamp
from localcloud.functions.store import Store

log = logging.getLogger("localcloud.functions")
SETTING = re.compile(r"%([^%]+)%")
NEVER = "0001-01-01T00:00:00"  # ScheduleMonitor.DefaultDateTime, as Azure serializes it before the first run


def resolve(text: str, environ: Mapping[str, str]) -> str:
    """``%NAME%`` replaced by the app setting NAME. Raises KeyError naming a setting that is not there."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise KeyError(f"'%{name}%' does not resolve to a value: the app setting {name} is not set")
        return environ[name]

    return SETTING.sub(value, text)


class TimerHost:
    def __init__(
        self, specs: list[FunctionSpec], store: Store, clock: Clock, durable_client: Callable[[], str] | None
    ) -> None:
        self.store, self.clock, self.durable_client = store, clock, durable_client
        self.schedules: dict[str, ncrontab.Cron | ncrontab.Interval] = {}
        for spec in specs:
            try:
                schedule = resolve(str(spec.trigger.get("schedule", "")), os.environ)
                self.schedules[spec.name] = ncrontab.parse(schedule)
            except KeyError as exc:
                raise AppLoadError(f"function '{spec.name}': {exc.args[0]}") from None
            except ncrontab.ScheduleError as exc:
                raise AppLoadError(f"function '{spec.name}': {exc}") from None
        self.specs = {s.name: s for s in specs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
        self.next_due: dict[str, datetime] = {}
        self._firing = 0  # a timer function running (next_due already points at its next occurrence)
        self._firing_lock = threading.Lock()

    def quiescent(self, now: datetime) -> bool:
        """No timer function running and none due at ``now``."""
        with self._firing_lock:
            if self._firing:
                return False
        return all(due > now for due in list(self.next_due.values()))

    def earliest(self) -> datetime | None:
        """When the next timer function is due."""
        return min(self.next_due.values(), default=None)

    def start(self) -> None:
        now = self.clock.now()
        for name, spec in self.specs.items():
            last, stored_next = self.store.schedule_status(name)
            past_due = stored_next is not None and stored_next < stamp(now)
            self.next_due[name] = self.schedules[name].next_after(now)
            if past_due or spec.trigger.get("runOnStartup"):
                self.fire(name, past_due=past_due, last=last, scheduled=stored_next if past_due else None)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.clock.wake()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set() and self.next_due:
            name = min(self.next_due, key=self.next_due.__getitem__)
            if not self.clock.wait_until(self.next_due[name], self._stop):
                return
            last, _ = self.store.schedule_status(name)
            self.fire(name, past_due=False, last=last)

    def fire(self, name: str, *, past_due: bool, last: str | None, scheduled: str | None = None) -> None:
        """``scheduled``: the occurrence this run stands for, when it is not the one ``next_due`` holds (a past-due
        run at start: the occurrence missed)."""
        with self._firing_lock:
            self._firing += 1
        try:
            self._fire(name, past_due=past_due, last=last, scheduled=scheduled)
        finally:
            with self._firing_lock:
                self._firing -= 1

    def _fire(self, name: str, *, past_due: bool, last: str | None, scheduled: str | None) -> None:
        spec, now = self.specs[name], self.clock.now()
        current = scheduled or stamp(self.next_due[name])  # before this run: the occurrence due now
        due = self.schedules[name].next_after(now)
        self.next_due[name] = due
        self.store.set_schedule_status(name, stamp(now), stamp(due))
        previous = last or NEVER
        request = TimerRequest(
            past_due=past_due,
            schedule_status={"Last": previous, "Next": current, "LastUpdated": previous},
            schedule={"AdjustForDST": True},
        )
        kwargs: dict[str, object] = {spec.trigger["name"]: request}
        if spec.client_param and self.durable_client is not None:
            kwargs[spec.client_param] = self.durable_client()
        started = time.perf_counter()
        try:
            aio.call(spec.fn(**kwargs))
            outcome = "succeeded"
        except Exception as exc:
            log.exception("timer function %s failed", name)
            outcome = f"failed: {type(exc).__name__}"
        log.info(
            json.dumps(
                {
                    "function": name,
                    "instanceId": None,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "outcome": outcome,
                    "pastDue": past_due,
                }
            )
        )
