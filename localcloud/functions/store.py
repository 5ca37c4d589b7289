"""SQLite persistence of the task hub: instances, histories, inboxes (new events), pending activities, timers, and
durable entities (their state; their operations wait in the same inbox, under the entity's ``@name@key`` id).

One connection, serialized by a lock; WAL with synchronous=NORMAL (a crash may lose the last commit, never
corrupt the file). Every state change of an orchestration is one transaction, so a host killed at any point
restarts from a consistent task hub: an inbox event not yet consumed is delivered again, a completed activity's
result is already in the inbox, and an activity that was running is run again (at-least-once, as in Azure).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.functions.history import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, execution_id TEXT NOT NULL, status TEXT NOT NULL,
    input TEXT, output TEXT, custom_status TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
    parent_id TEXT, parent_task_id INTEGER, next_seq INTEGER NOT NULL DEFAULT 0,
    actions_seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances(status, created);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL, n INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (instance_id, n)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, event TEXT NOT NULL, visible_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_time ON inbox(visible_at);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL, name TEXT NOT NULL, input TEXT, leased INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS retries (
    instance_id TEXT NOT NULL, execution_id TEXT NOT NULL, task_id INTEGER NOT NULL, timer_id INTEGER,
    action TEXT NOT NULL, attempts INTEGER NOT NULL, PRIMARY KEY (instance_id, task_id)
);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL, state TEXT, updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_monitor (function TEXT PRIMARY KEY, last TEXT, next TEXT);
"""


def lock_hub(path: Path) -> int:
    """Hold an exclusive flock on ``<hub>.lock`` while the store is open, and write our pid in it.

    Two hosts on one hub would each hand out the other's running activities again (``release_leases`` at start),
    so they could run twice. The OS drops a flock when its process dies, SIGKILL included, so the hub of a host
    that crashed opens again at once; the lock file stays (unlinking it would race with a host opening it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HubError(f"{path}: cannot create the task hub's lock file: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise HubInUse(f"task hub {path} is in use by another host (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _connect(path: str) -> sqlite3.Connection:
    """The hub's connection, its schema in place; a file that is not SQLite (or a directory) is a HubError."""
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:  # a directory, most often
        raise HubError(f"{path} cannot be opened as a SQLite task hub: {exc}") from None
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
    except sqlite3.Error as exc:  # "file is not a database"
        db.close()
        raise HubError(f"{path} is not a usable SQLite task hub: {exc}") from None
    return db


READY = """
SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= :now AND substr(instance_id, 1, 1) != '@'
UNION
SELECT instance_id FROM inbox AS m WHERE visible_at <= :now AND substr(instance_id, 1, 1) = '@'
    AND id = (SELECT MIN(id) FROM inbox WHERE instance_id = m.instance_id)
"""


@dataclass(frozen=True)
class EntityRow:
    """An entity that exists (a row per existing entity; a deleted one has none)."""

    id: str  # scheduler id, @name@key
    name: str
    key: str
    state: str | None  # JSON text, as the entity function serialized it
    updated: str  # the last batch that changed it (lastOperationTime)


@dataclass
class Instance:
    id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created: str
    updated: str
    parent_id: str | None
    parent_task_id: int | None
    next_seq: int
    actions_seen: int


class HubError(Exception):
    """The task hub cannot be opened: not a SQLite file, a directory, an unwritable place (the message says which)."""


class HubInUse(HubError):
    """Another live host has the task hub open."""


class Store:
    def __init__(self, path: Path | str) -> None:
        self._hub_lock = None if str(path) == ":memory:" else lock_hub(Path(path))
        try:
            self._db = _connect(str(path))
        except BaseException:
            self._unlock()
            raise
        self._lock = threading.RLock()
        self._history_cache: dict[str, list[Event]] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._hub_lock is not None:
            os.close(self._hub_lock)  # closing the descriptor drops the flock
            self._hub_lock = None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (re-entrant within a thread)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._history_cache.clear()
                raise
            self._db.execute("COMMIT")

    # --- instances ------------------------------------------------------------------------------------------

    def instance(self, instance_id: str) -> Instance | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM instances WHERE id = ?", (instance_id,)).fetchone()
        return Instance(**dict(row)) if row else None

    def save_instance(self, inst: Instance) -> None:
        cols = list(Instance.__dataclass_fields__)
        with self.tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO instances ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",  # noqa: S608 - our own column names
                [getattr(inst, c) for c in cols],
            )

    def query(
        self,
        *,
        statuses: list[str] | None,
        created_from: str | None,
        created_to: str | None,
        prefix: str | None,
        limit: int,
        after: str | None,
    ) -> list[Instance]:
        sql, args = "SELECT * FROM instances WHERE 1=1", list[Any]()
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += statuses
        for clause, value in (("created >= ?", created_from), ("created <= ?", created_to), ("id > ?", after)):
            if value:
                sql += f" AND {clause}"
                args.append(value)
        if prefix:
            sql += " AND id LIKE ? ESCAPE '\\'"
            args.append(prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            return [Instance(**dict(r)) for r in self._db.execute(sql, args).fetchall()]

    def delete_instance(self, instance_id: str) -> bool:
        with self.tx() as db:
            gone = db.execute("DELETE FROM instances WHERE id = ?", (instance_id,)).rowcount
            for table in ("history", "inbox", "activities", "retries"):
                db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))  # noqa: S608 - fixed names
        self._history_cache.pop(instance_id, None)
        return gone > 0

    # --- history --------------------------------------------------------------------------------------------

    def history(self, instance_id: str) -> list[Event]:
        with self._lock:
            cached = self._history_cache.get(instance_id)
            if cached is None:
                rows = self._db.execute(
                    "SELECT event FROM history WHERE instance_id = ? ORDER BY n", (instance_id,)
                ).fetchall()
                cached = self._history_cache[instance_id] = [json.loads(r["event"]) for r in rows]
            return list(cached)

    def append_history(self, instance_id: str, events: list[Event]) -> None:
        with self.tx() as db:
            current = self.history(instance_id)
            db.executemany(
                "INSERT INTO history (instance_id, n, event) VALUES (?, ?, ?)",
                [(instance_id, len(current) + i, json.dumps(e)) for i, e in enumerate(events)],
            )
            self._history_cache[instance_id] = current + events

    def reset_history(self, instance_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
            self._history_cache[instance_id] = []

    # --- inbox (new events waiting for the next episode) ----------------------------------------------------

    def send(self, instance_id: str, event: Event, visible_at: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO inbox (instance_id, event, visible_at) VALUES (?, ?, ?)",
                (instance_id, json.dumps(event), visible_at),
            )

    def ready_instances(self, now: str) -> list[str]:
        """Instances with a visible message; an entity (``@name@key``) only when its oldest message is visible: its
        operations run strictly in arrival order, so an aborted batch waiting for its retry holds the ones behind it."""
        with self._lock:
            rows = self._db.execute(READY, {"now": now}).fetchall()
        return [r["instance_id"] for r in rows]

    def visible_inbox(self, instance_id: str, now: str) -> list[tuple[int, Event]]:
        """The instance's messages visible at ``now``, in delivery order, left in the inbox (the episode that
        replays them takes them when it commits: :meth:`delete_messages`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event FROM inbox WHERE instance_id = ? AND visible_at <= ? ORDER BY visible_at, id",
                (instance_id, now),
            ).fetchall()
        return [(int(r["id"]), json.loads(r["event"])) for r in rows]

    def next_visible(self, after: str | None = None) -> str | None:
        """The earliest time an inbox message becomes visible (only those later than ``after``, when given)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(visible_at) AS t FROM inbox WHERE visible_at > ?", (after or "",)
            ).fetchone()
        return row["t"] if row else None

    def peek_inbox(self, instance_id: str, now: str, limit: int) -> list[tuple[int, Event]]:
        """Up to ``limit`` messages in arrival order, up to the first one not yet visible, left in the inbox (an
        entity batch takes them when it commits: a batch that dies half-way runs again)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event, visible_at FROM inbox WHERE instance_id = ? ORDER BY id LIMIT ?",
                (instance_id, limit),
            ).fetchall()
        visible = itertools.takewhile(lambda r: r["visible_at"] <= now, rows)
        return [(int(r["id"]), json.loads(r["event"])) for r in visible]

    def delete_messages(self, ids: list[int]) -> int:
        with self.tx() as db:
            marks = ",".join("?" * len(ids))
            return int(db.execute(f"DELETE FROM inbox WHERE id IN ({marks})", ids).rowcount)  # noqa: S608 - placeholders

    def delay_messages(self, ids: list[int], visible_at: str) -> None:
        with self.tx() as db:
            marks = ",".join("?" * len(ids))
            db.execute(f"UPDATE inbox SET visible_at = ? WHERE id IN ({marks})", [visible_at, *ids])  # noqa: S608

    def drop_inbox(self, instance_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))

    # --- activities -----------------------------------------------------------------------------------------

    def enqueue_activity(
        self, instance_id: str, execution_id: str, task_id: int, name: str, input_: str | None
    ) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO activities (instance_id, execution_id, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
                (instance_id, execution_id, task_id, name, input_),
            )

    def lease_activities(self, limit: int) -> list[dict[str, Any]]:
        with self.tx() as db:
            rows = db.execute("SELECT * FROM activities WHERE leased = 0 ORDER BY id LIMIT ?", (limit,)).fetchall()
            if rows:
                db.execute(
                    f"UPDATE activities SET leased = 1 WHERE id IN ({','.join('?' * len(rows))})",  # noqa: S608 - placeholders
                    [r["id"] for r in rows],
                )
        return [dict(r) for r in rows]

    def finish_activity(self, activity_id: int, instance_id: str, result: Event, now: str) -> None:
        """The activity's result reaches the instance's inbox in the same transaction that retires it."""
        with self.tx() as db:
            if db.execute("DELETE FROM activities WHERE id = ?", (activity_id,)).rowcount:
                db.execute(
                    "INSERT INTO inbox (instance_id, event, visible_at) VALUES (?, ?, ?)",
                    (instance_id, json.dumps(result), now),
                )

    def retire_activity(self, activity_id: int) -> None:
        """Drop an activity whose orchestration ended or moved on (terminated, continued as new)."""
        with self.tx() as db:
            db.execute("DELETE FROM activities WHERE id = ?", (activity_id,))

    def release_leases(self) -> int:
        """At start: activities that were running when the host died run again (at-least-once)."""
        with self.tx() as db:
            return db.execute("UPDATE activities SET leased = 0 WHERE leased = 1").rowcount

    def pending_activities(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM activities").fetchone()[0])

    def drop_activities(self, instance_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))

    # --- retries (DTFx RetryInterceptor state) --------------------------------------------------------------

    def retries(self, instance_id: str, execution_id: str) -> list[dict[str, Any]]:
        """The retry state of one execution (with-retry tasks in flight)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM retries WHERE instance_id = ? AND execution_id = ?", (instance_id, execution_id)
            ).fetchall()
        return [dict(r) for r in rows]

    def save_retry(
        self, instance_id: str, execution_id: str, task_id: int, action: str, attempts: int, timer_id: int | None = None
    ) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO retries (instance_id, execution_id, task_id, timer_id, action, attempts) VALUES (?, ?, ?, ?, ?, ?)",
                (instance_id, execution_id, task_id, timer_id, action, attempts),
            )

    def drop_retry(self, instance_id: str, task_id: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM retries WHERE instance_id = ? AND task_id = ?", (instance_id, task_id))

    # --- entities -------------------------------------------------------------------------------------------

    def entity(self, sid: str) -> EntityRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM entities WHERE id = ?", (sid,)).fetchone()
        return EntityRow(**dict(row)) if row else None

    def save_entity(self, row: EntityRow) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO entities (id, name, key, state, updated) VALUES (?, ?, ?, ?, ?)",
                (row.id, row.name, row.key, row.state, row.updated),
            )

    def delete_entity(self, sid: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM entities WHERE id = ?", (sid,))

    def query_entities(
        self, *, name: str | None, updated_from: str | None, updated_to: str | None, after: str | None, limit: int
    ) -> list[EntityRow]:
        sql, args = "SELECT * FROM entities WHERE 1=1", list[Any]()
        for clause, value in (("name = ?", name), ("updated >= ?", updated_from), ("updated <= ?", updated_to)):
            if value:
                sql += f" AND {clause}"
                args.append(value)
        if after:
            sql += " AND id > ?"
            args.append(after)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            return [EntityRow(**dict(r)) for r in self._db.execute(sql, args).fetchall()]

    # --- timer trigger schedule monitor ---------------------------------------------------------------------

    def schedule_status(self, function: str) -> tuple[str | None, str | None]:
        with self._lock:
            row = self._db.execute("SELECT last, next FROM schedule_monitor WHERE function = ?", (function,)).fetchone()
        return (row["last"], row["next"]) if row else (None, None)

    def set_schedule_status(self, function: str, last: str, next_: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO schedule_monitor (function, last, next) VALUES (?, ?, ?)",
                (function, last, next_),
            )
