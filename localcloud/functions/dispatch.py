"""The threads that run the task hub's work: one dispatcher, a pool for episodes, a pool for activities.

The dispatcher takes instances whose inbox has a visible message (one episode per instance at a time, at most
``maxConcurrentOrchestratorFunctions`` at once; an entity's ``@name@key`` is such an instance, its episode a batch
of operations) and leases queued activities (at most
``maxConcurrentActivityFunctions``), each kind on its own pool, so a slow activity never stalls orchestrations.
A clock watcher turns the shared clock reaching the next inbox time into a kick, so a test that steps a stopped
clock (``Clock.advance``) sees due durable timers run at once instead of at the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from localcloud.clock import Clock
from localcloud.functions.history import stamp
from localcloud.functions.store import Store

IDLE_POLL = 0.05  # real seconds between looks for due timers on a stopped clock (the watcher usually kicks first)
NOTHING_TIMED = 1.0  # real seconds between looks when no timed message waits
log = logging.getLogger("localcloud.functions")


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        run_episode: Callable[[str], None],
        run_activity: Callable[[dict[str, Any]], None],
        max_activities: int,
        max_orchestrators: int,
    ) -> None:
        self.store, self.clock = store, clock
        self._run_episode, self._run_activity = run_episode, run_activity
        self.max_activities = max_activities
        self._orchestrators = ThreadPoolExecutor(max_orchestrators, thread_name_prefix="orchestrator")
        self._activities = ThreadPoolExecutor(max_activities, thread_name_prefix="activity")
        self._busy: set[str] = set()  # instances with an episode submitted or running
        self._held: set[str] = set()
        self._running_activities = 0
        self._state = threading.Lock()
        self._kick = threading.Event()
        self._replan = threading.Event()  # a timed message was sent: the watcher re-reads the next inbox time
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name="durable-dispatcher", daemon=True),
            threading.Thread(target=self._watch_clock, name="durable-clock-watch", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._replan.set()
        self._kick.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._orchestrators.shutdown(wait=True, cancel_futures=True)
        self._activities.shutdown(wait=True, cancel_futures=True)

    def kick(self) -> None:
        """New work may be ready (a message, an activity): look now."""
        self._kick.set()

    def timed_message_sent(self) -> None:
        """A message that becomes visible later was sent: the clock watcher re-plans its wait."""
        self._replan.set()

    @contextmanager
    def hold(self, instance_id: str) -> Iterator[None]:
        """Run no episode of ``instance_id`` meanwhile (tests: let several messages land in one episode, as when
        DTFx fetches a batch). Messages still arrive; on exit the instance runs with all of them."""
        with self._state:
            self._held.add(instance_id)
        try:
            yield
        finally:
            with self._state:
                self._held.discard(instance_id)
            self.kick()

    def idle(self) -> bool:
        """No episode submitted or running and no activity running."""
        with self._state:
            return not self._busy and self._running_activities == 0

    # --- threads ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dispatch_orchestrations()
            self._dispatch_activities()
            self._kick.wait(self._idle_wait())
            self._kick.clear()

    def _idle_wait(self) -> float:
        # A message visible now but not dispatched waits for a kick: its instance's episode, or its hold, ends with one
        # (every sender kicks too). Waiting 0 for it would spin while that episode runs.
        now = self.clock.now()
        upcoming = self.store.next_visible(after=stamp(now))
        if upcoming is None:
            return NOTHING_TIMED
        delta = (datetime.fromisoformat(upcoming) - now).total_seconds()
        return max(0.0, min(IDLE_POLL if self.clock.speed == 0 else self.clock.to_real(delta), NOTHING_TIMED))

    def _watch_clock(self) -> None:
        # Clock.advance notifies the clock's waiters: waiting on the clock for the next timed message sees a stepped
        # clock at once. Whatever ended the wait (that time reached, a re-plan, a clock.wake), look for work.
        while not self._stop.is_set():
            self._replan.clear()
            upcoming = self.store.next_visible(after=stamp(self.clock.now()))
            if upcoming is None:
                self._replan.wait(NOTHING_TIMED)
            else:
                self.clock.wait_until(datetime.fromisoformat(upcoming), self._replan)
            self.kick()

    def _dispatch_orchestrations(self) -> None:
        for iid in self.store.ready_instances(stamp(self.clock.now())):
            with self._state:
                if iid in self._busy or iid in self._held:
                    continue
                self._busy.add(iid)
            self._orchestrators.submit(self._episode_guarded, iid)

    def _dispatch_activities(self) -> None:
        with self._state:
            free = self.max_activities - self._running_activities
        if free <= 0:
            return
        for item in self.store.lease_activities(free):
            with self._state:
                self._running_activities += 1
            self._activities.submit(self._activity_guarded, item)

    def _episode_guarded(self, iid: str) -> None:
        try:
            with self._state:
                held = iid in self._held
            if not held:  # held after it was submitted: its messages wait for the release
                self._run_episode(iid)
        except Exception:
            log.exception("episode of %s failed in the host", iid)
        finally:
            with self._state:
                self._busy.discard(iid)
            self.kick()

    def _activity_guarded(self, item: dict[str, Any]) -> None:
        try:
            self._run_activity(item)
        finally:
            with self._state:
                self._running_activities -= 1
            self.kick()
