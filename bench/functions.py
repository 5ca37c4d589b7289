"""Local Functions host: orchestration throughput and replay cost.

- Throughput: orchestrations of five chained activities, started through the durable HTTP API, persisted in a
  SQLite task hub on disk, until all complete. Target (issue #3): at least 50 orchestrations/s.
  The same run reports how much of it episodes spent inside the task hub's one lock (SQLite connection): an
  episode holds it from reading its inbox to committing its actions, the SDK's replay included, so episodes of
  different instances never overlap whatever maxConcurrentOrchestratorFunctions says. Activities run outside it.
- Entities: orchestrations that each call a counter entity ten times, one shared counter (a hot entity, like a
  cool-down memory every recovery reads and writes) against one counter each: calls per second end to end (a call
  is two episodes of the caller and its share of an entity batch), and how large the batches grew.
- Entity operations on one key: one-way signals to one counter, all sent at once; operations per second until
  its state shows them all (batches of up to 50).
- Replay: one call of azure-functions-durable's orchestrator handle on a history of about 10, 100 and 1,000
  events, with the context the extension sends (replay schema V3): the cost every episode pays, which is why long
  waits use continue-as-new.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import machine, median
from localcloud.clock import Clock
from localcloud.functions.episodes import SCHEMA_CONTEXT
from localcloud.functions.history import Kind, event
from localcloud.functions.host import FunctionsHost
from localcloud.functions.store import Instance

APP = Path(__file__).resolve().parent / "functions_app" / "function_app.py"
DEFAULTS = Path("host.json.absent")  # no host.json: the host's defaults (batches of up to 50, 10 episodes at once)
ENTITIES = (
    Path(__file__).resolve().parents[1] / "tests" / "integration" / "functions" / "entities_app" / "function_app.py"
)


class _Invocations(logging.Handler):
    """Collects the host's one JSON line per invocation."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("{"):
            self.lines.append(json.loads(message))


def throughput(count: int = 300, threads: int = 4) -> list[str]:
    return throughput_lines(throughput_figures(count, threads))


def throughput_figures(count: int = 300, threads: int = 4) -> dict[str, Any]:
    """One run: ``count`` orchestrations of five chained activities; per second, and how many episodes were in
    flight on average (their summed wall time over the run's: episodes replay outside the task hub's lock, so
    several run at once, sharing the GIL)."""
    logger, invocations = logging.getLogger("localcloud.functions"), _Invocations()
    logger.addHandler(invocations)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        wall = _run_orchestrations(count, threads)
    finally:
        logger.removeHandler(invocations)
        logger.propagate = True
    episodes = [float(str(line["durationMs"])) for line in invocations.lines if line["function"] == "five"]
    return {
        "orchestrations": count,
        "seconds": wall,
        "per_second": count / wall,
        "episodes": len(episodes),
        "episode_median_ms": median(episodes),
        "in_flight": sum(episodes) / 1000 / wall,
    }


def throughput_lines(fig: dict[str, Any]) -> list[str]:
    return [
        f"orchestrations:       {fig['per_second']:6.1f} /s end to end ({fig['orchestrations']} x 5 chained activities, SQLite on disk, {fig['seconds']:.1f} s)",
        f"episodes:             {fig['episodes']}, median {fig['episode_median_ms']:.2f} ms, {fig['in_flight']:.1f} in flight on average",
    ]


def _run_orchestrations(count: int, threads: int) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FunctionsHost(APP, port=0, clock=Clock(), db_path=Path(tmp) / "hub.sqlite") as host,
    ):
        url = f"{host.url}/runtime/webhooks/durabletask/orchestrators/five/{{}}?code={host.keys.system}"
        ids = [f"bench-{i}" for i in range(count)]
        start = time.perf_counter()

        def starter(chunk: list[str]) -> None:
            for iid in chunk:
                urllib.request.urlopen(urllib.request.Request(url.format(iid), data=b"null", method="POST")).close()

        pool = [threading.Thread(target=starter, args=(ids[i::threads],)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        done = 0
        while done < count:
            time.sleep(0.01)  # polling the task hub for the end of the run, not a stand-in for a wait on state
            done = len(
                host.store.query(
                    statuses=["Completed"],
                    created_from=None,
                    created_to=None,
                    prefix="bench-",
                    limit=count + 1,
                    after=None,
                )
            )
        wall = time.perf_counter() - start
        outputs = {
            json.loads(i.output or "0")
            for i in host.store.query(
                statuses=["Completed"], created_from=None, created_to=None, prefix="bench-", limit=count + 1, after=None
            )
        }
    assert outputs == {15}, outputs
    return wall


def entity_calls(orchestrations: int = 20, calls: int = 10) -> list[str]:
    return [
        f"entity calls, {f['shape'] + ':':19s} {f['per_second']:6.1f} /s ({orchestrations} orchestrations x {calls + 1} calls, "
        f"{f['batches']} batches, median {f['batch_median']:.0f} and max {f['batch_max']} operations)"
        for f in entity_call_figures(orchestrations, calls)
    ]


def entity_call_figures(orchestrations: int = 20, calls: int = 10) -> list[dict[str, Any]]:
    """Entity calls per second end to end, one shared counter and then one counter each; the batches' sizes."""
    out = []
    for shape, key in (("one shared counter", lambda i: "hot"), ("a counter each", lambda i: f"own-{i}")):
        logger, invocations = logging.getLogger("localcloud.functions"), _Invocations()
        logger.addHandler(invocations)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            wall = _run_counters(orchestrations, calls, key)
        finally:
            logger.removeHandler(invocations)
            logger.propagate = True
        sizes = [
            int(str(line["outcome"]).split("(")[1].split()[0])
            for line in invocations.lines
            if line["function"] == "tally"
        ]
        total = orchestrations * (calls + 1)
        out.append(
            {
                "shape": shape,
                "calls": total,
                "per_second": total / wall,
                "batches": len(sizes),
                "batch_median": median([float(n) for n in sizes]),
                "batch_max": max(sizes),
            }
        )
    return out


def _run_counters(orchestrations: int, calls: int, key: Callable[[int], str]) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FunctionsHost(ENTITIES, port=0, clock=Clock(), db_path=Path(tmp) / "hub.sqlite", host_json=DEFAULTS) as host,
    ):
        url = f"{host.url}/runtime/webhooks/durabletask/orchestrators/count_up/{{}}?code={host.keys.system}"
        start = time.perf_counter()
        for i in range(orchestrations):
            body = json.dumps([key(i), calls]).encode()
            request = urllib.request.Request(url.format(f"e{i}"), data=body, method="POST")
            urllib.request.urlopen(request).close()
        done: list[Instance] = []
        while len(done) < orchestrations:
            time.sleep(0.01)  # polling the task hub for the end of the run, not a stand-in for a wait on state
            done = host.store.query(
                statuses=["Completed"],
                created_from=None,
                created_to=None,
                prefix="e",
                limit=orchestrations + 1,
                after=None,
            )
        wall = time.perf_counter() - start
        final = host.store.entity("@tally@hot")
    assert key(0) != "hot" or (final is not None and final.state == str(orchestrations * calls)), final
    return wall


def entity_signals(count: int = 2000) -> list[str]:
    fig = entity_signal_figures(count)
    return [
        f"entity operations, one key: {fig['per_second']:6.0f} /s ({count} signals sent at once, {fig['seconds']:.2f} s)"
    ]


def entity_signal_figures(count: int = 2000) -> dict[str, Any]:
    """Operations per second on one entity key: ``count`` one-way ``add`` signals to one counter, sent at once
    (a shared limiter takes one operation per ARM write), until its state shows them all."""
    logger = logging.getLogger("localcloud.functions")
    level = logger.level
    logger.setLevel(logging.WARNING)  # one JSON line per batch: not here
    with (
        tempfile.TemporaryDirectory() as tmp,
        FunctionsHost(ENTITIES, port=0, clock=Clock(), db_path=Path(tmp) / "hub.sqlite", host_json=DEFAULTS) as host,
    ):
        one = json.dumps(json.dumps(1))  # as the Python client sends it: a JSON string of JSON
        start = time.perf_counter()
        for _ in range(count):
            host.engine.entities.signal("tally", "hot", "add", one)
        final = host.store.entity("@tally@hot")
        while final is None or final.state != str(count):
            time.sleep(0.005)  # polling the task hub for the end of the run, not a stand-in for a wait on state
            final = host.store.entity("@tally@hot")
        wall = time.perf_counter() - start
    logger.setLevel(level)
    return {"signals": count, "seconds": wall, "per_second": count / wall}


def replay_cost(repetitions: int = 15) -> list[str]:
    return [
        f"replay, {r['events']:5d} events:  median {r['median_ms']:7.2f} ms per episode ({r['us_per_event']:.0f} us per event)"
        for r in replay_figures(repetitions)
    ]


def replay_figures(repetitions: int = 15) -> list[dict[str, Any]]:
    """The orchestrator handle's cost on histories of about 10, 100 and 1,000 events: the median of
    ``repetitions`` calls each."""
    from localcloud.functions import appmodel

    handle = appmodel.load(APP).orchestrators["chain"].fn
    out = []
    for steps in (3, 33, 333):  # three events a step: scheduled, started, completed -> ~10, 100, 1,000 events
        history, _ = _history(steps)
        ctx = json.dumps(
            {
                "history": history,
                "instanceId": "r",
                "isReplaying": False,
                "parentInstanceId": None,
                "input": json.dumps(steps + 1),
                **SCHEMA_CONTEXT,
            }
        )
        times = []
        for _ in range(repetitions):
            t = time.perf_counter()
            handle(ctx)
            times.append((time.perf_counter() - t) * 1000)
        ms = median(times)
        out.append(
            {
                "events": len(history),
                "median_ms": ms,
                "us_per_event": ms / max(1, len(history)) * 1000,
                "calls": repetitions,
            }
        )
    return out


def _history(steps: int) -> tuple[list[dict[str, object]], datetime]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    events: list[dict[str, object]] = [
        event(Kind.ORCHESTRATOR_STARTED, now),
        event(Kind.EXECUTION_STARTED, now, Name="chain", Input=json.dumps(steps + 1), Version=""),
    ]
    for i in range(steps):
        now += timedelta(seconds=1)
        events.append(event(Kind.TASK_SCHEDULED, now, i, Name="add", Input=json.dumps(i)))
        events.append(event(Kind.ORCHESTRATOR_STARTED, now))
        events.append(event(Kind.TASK_COMPLETED, now, TaskScheduledId=i, Result=json.dumps(i + 1)))
    return events, now


def main() -> list[str]:
    # azure-functions warns (on the root logger) that an auth level means nothing to an app without HTTP triggers.
    logging.getLogger().setLevel(logging.ERROR)
    return [f"local Functions host ({machine()})", *throughput(), *entity_calls(), *entity_signals(), *replay_cost()]
