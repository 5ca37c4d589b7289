"""Fuzz /api/alerts over real HTTP, through the local Functions host, against the ARM emulator.

Hypothesis builds each request from Microsoft's samples (tests/soak/payloads.py): clean evictions of every shape,
published non-evictions, and mutations of both (fields dropped, retyped, nested deeply, made huge, unicode and
case games, truncated JSON, bad UTF-8, other encodings, wrong content types, Event Grid batches). For each request:

- the answer is never a 5xx, never holds a traceback, and is JSON; the host and the app log no error or traceback;
- an answer that accepts nothing leaves the task hub exactly as it was (no orchestration, raised event, activity
  or entity) and makes no ARM call: the clock is stopped and the world settled before each request, so any change
  is the request's own;
- each accepted signal names a VM in scope and starts a new recovery or joins one that existed, and the recovery
  records it; a clean eviction of a VM in scope is accepted or recognised as a duplicate or late report, a clean
  one out of scope or a published non-eviction accepts nothing.

At the end the durable management API lists exactly the recoveries the answers said were started, none failed, and
the emulator's request log holds no call outside the configured subscription and resource group.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from orchestrator.domain.identity import is_recovery_id
from orchestrator.domain.scope import InvalidResourceId, Scope, parse_vm_id
from tests.soak import payloads
from tests.soak.conftest import SoakReport, scale
from tests.soak.payloads import Case
from tests.soak.world import World, module_stack

pytestmark = [pytest.mark.soak, pytest.mark.timeout(scale(full=900, ci=300))]

# Measured here: 3,000 take 33 s on a quiet machine (about 100 s when others load it); 10,000 take 115-210 s.
PAYLOADS = scale(full=10_000, ci=3_000)
LIVE = [f"fz-live-{n}" for n in range(3)]  # running Spot VMs: a recovery reads them and finds them running
GHOSTS = [f"fz-ghost-{n}" for n in range(120)]  # in scope, never created: a recovery finds them missing
NOT_ACCEPTED = {"duplicate", "late_signal", "too_many_signals"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with module_stack(tmp_path_factory.mktemp("fuzz")) as w:
        w.stack.fleet(LIVE)
        w.settle()
        w.arm.services.requests.clear()
        yield w


def scope() -> Scope:
    return Scope(frozenset({payloads.SUB}), frozenset({payloads.RG.lower()}))


def in_scope_pool() -> list[str]:
    return [payloads.vm_id(n) for n in LIVE + GHOSTS]


def out_of_scope_pool() -> list[str]:
    crafted = payloads.crafted_ids(LIVE[0])
    return [
        payloads.vm_id(LIVE[0], sub=payloads.OTHER_SUB),
        payloads.vm_id(LIVE[1], rg=payloads.OTHER_RG),
        payloads.vm_id("fz-ghost-0", sub=payloads.OTHER_SUB, rg=payloads.OTHER_RG),
        *crafted.values(),
    ]


class Fuzz:
    """One request at a time, each checked against the hub and the request log as they were just before it."""

    def __init__(self, world: World) -> None:
        self.world, self.scope = world, scope()
        self.path = f"/api/alerts?code={world.host.keys.function}"
        self.tally: Counter[str] = Counter()
        self.started: set[str] = set()

    def ids(self) -> set[str]:
        with self.world.host.store.tx() as db:
            return {str(r[0]) for r in db.execute("SELECT id FROM instances")}

    def run(self, case: Case) -> None:
        w, tally = self.world, self.tally
        before, hub, arm, logs = self.ids(), w.hub_state(), w.arm_calls(), w.watch.count()
        headers = {"Content-Type": case.content_type} if case.content_type is not None else {}
        answer = w.send("POST", self.path, case.body, headers)
        tally["payloads"] += 1
        tally[f"{answer.status // 100}xx"] += 1
        tally["events"] += case.size
        tally[f"intent_{case.intent}"] += 1
        tally["bytes"] += len(case.body)
        what = f"{case.label} ({len(case.body)} bytes, {case.content_type!r}): {answer.status} {answer.body[:300]!r}"
        assert answer.status < 500, what
        assert not answer.has_traceback(), what
        assert w.watch.count() == logs, f"{what}; logged: {w.watch.describe(logs)}"
        body = answer.json()
        accepted: list[dict[str, Any]] = body.get("accepted", []) if isinstance(body, dict) else []
        ignored = [i.get("reason") for i in body.get("ignored", [])] if isinstance(body, dict) else []
        self._oracle(case, answer.status, accepted, ignored, what)
        if not accepted:
            if w.hub_state() != hub:
                tally["orchestrations_started_for_malformed"] += len(self.ids() - before)
            if w.arm_calls() != arm:
                tally["arm_calls_for_rejected"] += w.arm_calls() - arm
            assert w.hub_state() == hub, f"{what}: the hub changed (new instances: {sorted(self.ids() - before)})"
            assert w.arm_calls() == arm, f"{what}: {w.arm_entries()[-(w.arm_calls() - arm) :]}"
            return
        w.settle()  # the recoveries it started or joined do what they can now, so the next request starts quiet
        tally["arm_calls_by_recoveries"] += w.arm_calls() - arm
        self._accepted(accepted, before, what)

    def _oracle(self, case: Case, status: int, accepted: list[Any], ignored: list[Any], what: str) -> None:
        if case.intent == "eviction":
            assert status in (200, 202), what
            assert len(accepted) + sum(r in NOT_ACCEPTED for r in ignored) == case.size, what
            assert {a["vm"] for a in accepted} <= set(case.vms), what
        elif case.intent in ("out_of_scope", "not_eviction"):
            assert accepted == [], what
            if case.intent == "out_of_scope":
                assert status == 200 and len(ignored) == case.size, what
                assert set(ignored) <= {"out_of_scope", "invalid_resource_id"}, what
        self.tally["accepted_in_scope"] += len(accepted)
        self.tally["ignored"] += len(ignored)
        for reason in ignored:
            self.tally[f"ignored_{reason}"] += 1

    def _accepted(self, accepted: list[dict[str, Any]], before: set[str], what: str) -> None:
        after = self.ids()
        starts = {a["instanceId"] for a in accepted if a["route"] == "start"}
        joins = {a["instanceId"] for a in accepted if a["route"] == "join"}
        for a in accepted:
            try:
                vm = parse_vm_id(a["vm"])
            except InvalidResourceId as exc:
                raise AssertionError(f"{what}: accepted an id respot cannot parse") from exc
            assert self.scope.allows(vm) and vm.id == a["vm"], what
            assert a["route"] in ("start", "join") and is_recovery_id(a["instanceId"]), what
        new = {i for i in after - before if ":" not in i}
        assert new == starts and not starts & before, f"{what}: new {sorted(new)}, starts {sorted(starts)}"
        assert joins <= before | starts, f"{what}: joined {sorted(joins - before)} that did not exist"
        assert all(any(i.startswith(s) for s in starts | joins) for i in after - before), what
        assert starts.isdisjoint(self.started), what
        self.started |= starts
        self.tally["recoveries"] += len(starts)
        self.tally["joins"] += sum(a["route"] == "join" for a in accepted)
        for a in accepted:  # the recovery holds the signal (its custom status while it runs, else its output)
            record = self.world.stack.instance(a["instanceId"])
            running = (record.get("customStatus") or {}).get("signals", [])  # keys, source:eventId
            done = [f"{s['source']}:{s['eventId']}" for s in (record.get("output") or {}).get("signals", [])]
            assert f"{a['source']}:{a['eventId']}" in running + done, f"{what}: {record}"


def test_fuzzed_alerts_never_fail_and_start_nothing_they_do_not_accept(world: World, soak: SoakReport) -> None:
    fuzz = Fuzz(world)
    strategy = payloads.cases(in_scope_pool(), out_of_scope_pool())
    started = time.monotonic()

    @settings(max_examples=PAYLOADS, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def one(case: Case) -> None:
        fuzz.run(case)

    one()
    elapsed = time.monotonic() - started
    world.settle()
    listed = world.instances()
    recoveries = {i["instanceId"] for i in listed if is_recovery_id(i["instanceId"])}
    assert recoveries == fuzz.started, sorted(recoveries ^ fuzz.started)
    failed = [(i["instanceId"], i.get("output")) for i in listed if i["runtimeStatus"] not in ("Running", "Completed")]
    assert failed == []
    region = f"/subscriptions/{payloads.SUB}/resourcegroups/{payloads.RG}/".lower()
    outside = [e for e in world.arm_entries() if not e["path"].lower().startswith(region)]
    assert outside == [], outside[:5]
    t = fuzz.tally
    soak.add(
        "fuzz /api/alerts",
        payloads=t["payloads"],
        events=t["events"],
        **{k: t[k] for k in ("2xx", "4xx", "5xx")},
        tracebacks=0,
        orchestrations_started_for_malformed=t["orchestrations_started_for_malformed"],
        arm_calls_for_rejected=t["arm_calls_for_rejected"],
        accepted_in_scope=t["accepted_in_scope"],
        recoveries=t["recoveries"],
        joins=t["joins"],
        arm_calls_by_recoveries=t["arm_calls_by_recoveries"],
        intents="/".join(f"{k[7:]}:{t[k]}" for k in sorted(t) if k.startswith("intent_")),
        ignored="/".join(f"{k[8:]}:{t[k]}" for k in sorted(t) if k.startswith("ignored_")),
        mb_sent=round(t["bytes"] / 1e6, 1),
        seconds=round(elapsed, 1),
    )
