"""Duplicate storms: every signal of a mass eviction, delivered ten times each, concurrently and out of order, across
every signal kind /api/alerts accepts, makes exactly one recovery per eviction and one successful start or create
per VM, and no VM beyond the fleet.

The world is bench.mass's, stepped (``mass.build``: half Stop/Deallocate VMs that respot restarts, half Delete-policy
members of a fleet profile that respot replaces, in three regions, ARM's real throttling on). The emulator's action
groups of all four kinds (Activity Log alert, Resource Health alert, Event Grid, CloudEvents) post to a sink, not to
respot, and each VM's Scheduled Events ``Preempt`` is turned into the in-VM agent's notice: five signals per
eviction. Then the storm: every signal ten times, posted by a thread pool. 40% of the agent notices' copies go at
the notice, 30 s before the eviction (the agent posts first); everything else is shuffled by a seeded Random and
posted in four rounds at four moments of the recovery (the eviction, a minute into the recovery, once every VM runs
again, once every recovery has finished), so copies race each other, race the start of their recovery, join it
while it works, arrive while it settles and after it completed.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bench import mass
from localcloud.arm.models import Power
from localcloud.httpserver import LocalHTTPServer, Response
from tests.soak.conftest import SoakReport, scale

pytestmark = pytest.mark.soak
COPIES = 10
SEED = 12
THREADS = 16
EARLY = 0.4  # the share of the agent notices' copies posted at the notice, before the eviction
ROUNDS = (0.4, 0.3, 0.2, 0.1)  # shares of the other deliveries, shuffled, posted at each of the four moments
GROUP_KINDS = ("activityLogAlert", "resourceHealthAlert", "eventGrid", "cloudEvents")
CLOUD_EVENTS = "application/cloudevents+json; charset=utf-8"
SOURCES = ("activity-log-alert", "resource-health-alert", "event-grid", "cloud-events", "in-vm-agent")
WRITE_ACCEPTED = {
    *(("VirtualMachines_Start", status) for status in (200, 202)),
    *(("VirtualMachines_CreateOrUpdate", status) for status in (200, 201)),
}


@dataclass(frozen=True)
class Delivery:
    vm: str  # the evicted VM's name, lower case
    kind: str  # an action group kind, or "agent"
    body: Any
    copy: int

    def post(self, url: str) -> tuple[int, Any]:
        content_type = CLOUD_EVENTS if self.kind == "cloudEvents" else "application/json"
        req = urllib.request.Request(
            url, data=json.dumps(self.body).encode(), method="POST", headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


@contextmanager
def sink() -> Iterator[str]:
    """A webhook that answers 200 to everything: the action groups deliver here, and the emulator keeps each
    delivery's payload (``/_localcloud/deliveries``)."""
    server = LocalHTTPServer("127.0.0.1", 0, lambda req: Response.json(200, {}))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _target(kind: str, payload: Any) -> str:
    """The evicted VM a captured payload reports, as the emulator wrote it."""
    if kind == "activityLogAlert":
        return str(payload["data"]["alertContext"]["properties"]["entity"])
    if kind == "resourceHealthAlert":
        return str(payload["data"]["essentials"]["alertTargetIDs"][0])
    event = payload[0] if kind == "eventGrid" else payload
    return str(event["subject"])


class Storm:
    """Posts deliveries to /api/alerts from a thread pool and counts intake's answers: by route (start, join,
    duplicate, late...) and by HTTP status. A 503 (the durable backend did not take the signal) is delivered again,
    as Azure Monitor and Event Grid do; any other answer but 200/202 fails the test."""

    def __init__(self, stack: mass.Stack) -> None:
        self.url = f"{stack.host.url}/api/alerts?code={stack.host.keys.function}"
        self.rng = random.Random(SEED)
        self.answers: Counter[str] = Counter()
        self.posted = 0
        self.noticed: set[str] = set()  # VMs with an agent notice posted before their eviction
        self.early = 0  # deliveries posted before the eviction

    def post(self, deliveries: list[Delivery]) -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            for seen in pool.map(self.one, deliveries):
                self.answers.update(seen)
        self.posted += len(deliveries)

    def one(self, delivery: Delivery) -> list[str]:
        seen = []
        for _ in range(5):
            status, body = delivery.post(self.url)
            seen.append(f"http_{status}")
            if status != 503:
                break
        assert status in (200, 202), (status, body)
        seen += [a["route"] for a in body.get("accepted", [])]
        seen += [i["reason"] for i in body.get("ignored", [])]
        return seen


def notices(stack: mass.Stack, url: str) -> dict[str, Any]:
    """Recall every VM's capacity at once (the action groups now post to ``url``); each VM's Preempt notice as the
    agent posts it, read while the eviction it announces is 30 s ahead."""
    arm = stack.arm
    arm.services.notifier.groups.clear()  # mass.build's Event Grid subscription would deliver to respot itself
    arm.apply({"actionGroups": [{"name": k, "url": url, "kind": k, "delay_seconds": 0} for k in GROUP_KINDS]})
    names = {n for group in (stack.plan.restarts, stack.plan.members) for ns in group.values() for n in ns}
    mass.start_wave(stack, spacing=0)
    found: dict[str, Any] = {}

    def noticed() -> bool:
        with arm.backend.lock:
            for vm in arm.backend.world.vms.values():
                for event in arm.backend.world.scheduled_events.get(vm.key, []):
                    if event.event_type == "Preempt" and vm.name in names and vm.name.lower() not in found:
                        found[vm.name.lower()] = {
                            "schema": "respot.preempt/v1",
                            "eventType": "Preempt",
                            "eventId": event.event_id,
                            "resourceId": vm.id,
                            "notBefore": format_datetime(event.not_before, usegmt=True),
                            "observedAt": format_datetime(arm.clock.now(), usegmt=True),
                        }
        return len(found) == len(names)

    stack.wait(noticed, "every VM's Preempt notice", within=120)
    return found


def alerts(stack: mass.Stack) -> list[tuple[str, str, Any]]:
    """Once every VM is evicted: its four alerts and events, as the emulator's action groups posted them to the
    sink: (vm name, kind, payload), in a stable order (the webhook pool delivered them in any)."""
    arm, vms = stack.arm, stack.plan.vms
    stack.wait(lambda: len(arm.services.notifier.deliveries) >= 4 * vms, "every alert and event", within=300)
    found = [
        (_target(d["kind"], d["payload"]).rsplit("/", 1)[-1].lower(), d["kind"], d["payload"])
        for d in arm.services.notifier.deliveries
    ]
    assert len(found) == 4 * vms and len({vm for vm, _, _ in found}) == vms, found
    return sorted(found, key=lambda s: (s[0], s[1]))


def storm(stack: mass.Stack, url: str) -> tuple[list[tuple[str, str, Any]], Storm]:
    """The five signals of every VM's eviction, each delivered ``COPIES`` times: a share of the agent's copies at
    the notice (before the eviction: the agent posts first), then everything else shuffled, in ``ROUNDS`` at four
    moments (:func:`moment`). Returns the signals and the storm's answers."""
    out = Storm(stack)
    noticed = notices(stack, url)
    agent = [Delivery(vm, "agent", body, c) for vm, body in sorted(noticed.items()) for c in range(COPIES)]
    out.rng.shuffle(agent)
    early = round(EARLY * len(agent))
    out.post(agent[:early])
    out.early, out.noticed = early, {d.vm for d in agent[:early]}
    signals = [(vm, "agent", body) for vm, body in sorted(noticed.items())] + alerts(stack)
    rest = agent[early:] + [
        Delivery(vm, kind, body, c) for vm, kind, body in signals[len(noticed) :] for c in range(COPIES)
    ]
    out.rng.shuffle(rest)
    start = 0
    for i, share in enumerate(ROUNDS):
        moment(stack, i)
        end = len(rest) if i == len(ROUNDS) - 1 else start + round(share * len(rest))
        out.post(rest[start:end])
        start = end
    assert out.posted == len(signals) * COPIES
    return signals, out


def moment(stack: mass.Stack, i: int) -> None:
    """Move the clock to the moment of round ``i``: the eviction (now), a minute into the recoveries, every VM
    running again, every recovery finished (past its settle window)."""
    assert stack.stepper is not None
    if i == 1:
        stack.stepper.advance(60)
    elif i == 2:
        stack.wait(mass.all_recovered(stack), "every VM running again", within=3600)
    elif i == 3:
        stack.wait(lambda: finished(stack), "every recovery finished", within=7200)


def recoveries(stack: mass.Stack) -> dict[str, list[Any]]:
    """recover_vm instances (not their sub-orchestrations) by VM name, from the task hub."""
    from orchestrator.domain.identity import recovery_prefix
    from orchestrator.domain.scope import parse_vm_id

    arm, plan = stack.arm, stack.plan
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute"
    names = [n for group in (plan.restarts, plan.members) for ns in group.values() for n in ns]
    prefixes = {recovery_prefix(parse_vm_id(f"{base}/virtualMachines/{n}")): n.lower() for n in names}
    found: dict[str, list[Any]] = {}
    rows = stack.host.store.query(
        statuses=None, created_from=None, created_to=None, prefix="respot-", limit=100_000, after=None
    )
    for inst in rows:
        if inst.name == "recover_vm" and ":" not in inst.id:
            found.setdefault(prefixes.get(inst.id.rsplit("-", 1)[0] + "-", inst.id), []).append(inst)
    return found


def finished(stack: mass.Stack) -> bool:
    return all(i.status == "Completed" for insts in recoveries(stack).values() for i in insts)


@dataclass
class Writes:
    """Starts and creates per evicted VM (a replacement's create counts for the member it replaces): ``accepted``
    from the emulator's request log (a start answered 200/202, a create 200/201), ``succeeded`` and ``failed``
    from the async operations behind them (an accepted start can still fail allocation: capacity was not back)."""

    accepted: Counter[str]
    succeeded: Counter[str]
    failed: Counter[str]


def writes(stack: mass.Stack) -> Writes:
    assert stack.wave_start is not None
    log = stack.arm.services.requests.snapshot()["entries"]
    assert len(log) < stack.arm.services.requests.limit, "the request log was truncated"
    with stack.arm.backend.lock:
        replaces = {
            vm.name.lower(): vm.tags["respot:replaces"].lower()
            for vm in stack.arm.backend.world.vms.values()
            if "respot:replaces" in (vm.tags or {})
        }
        ops = [o for o in stack.arm.backend.world.operations.values() if o.start_time >= stack.wave_start]

    def owner(path: str) -> str:
        name = path.split("/virtualMachines/", 1)[-1].split("/", 1)[0].lower()
        return replaces.get(name, name)

    out = Writes(Counter(), Counter(), Counter())
    for e in log:
        if (e["operation"], e["status"]) in WRITE_ACCEPTED:
            out.accepted[owner(e["path"])] += 1
    for o in ops:
        if o.name in ("start", "write") and o.status in ("Succeeded", "Failed"):
            (out.succeeded if o.status == "Succeeded" else out.failed)[owner(o.resource_id)] += 1
    return out


@pytest.mark.timeout(900)
def test_every_signal_ten_times_concurrently_and_shuffled_makes_one_recovery_and_one_write_per_eviction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, soak: SoakReport
) -> None:
    plan = mass.Plan.of(scale(full=50, ci=15))
    stack = mass.build(tmp_path, plan, setenv=monkeypatch.setenv)
    try:
        with sink() as url:
            signals, stormed = storm(stack, url)
        found = recoveries(stack)
        done = writes(stack)
        with stack.arm.backend.lock:
            vms = {vm.name.lower(): vm.power for vm in stack.arm.backend.world.vms.values()}
    finally:
        mass.stop(stack)
    evicted = {n.lower() for group in (plan.restarts, plan.members) for ns in group.values() for n in ns}
    restarts = {n.lower() for ns in plan.restarts.values() for n in ns}
    outputs = [json.loads(i.output or "null") or {} for insts in found.values() for i in insts]
    outcomes = Counter(f"{o.get('outcome')}/{o.get('reason')}" for o in outputs)
    duplicates = sum(max(0, len(v) - 1) for v in found.values()) + sum(max(0, n - 1) for n in done.succeeded.values())
    recorded = [sorted(s["source"] for s in o.get("signals") or []) for o in outputs]
    soak.add(
        "duplicate storms",
        evictions=len(evicted),
        restarts=len(restarts),
        redeploys=len(evicted - restarts),
        kinds=len({k for _, k, _ in signals}),
        signals=len(signals),
        deliveries=stormed.posted,
        before_eviction=stormed.early,
        started_by_notice=sum(1 for o in outputs if (o.get("signals") or [{}])[0].get("source") == "in-vm-agent"),
        recoveries=sum(len(v) for v in found.values()),
        signals_recorded=sum(len(r) for r in recorded),
        successful_starts=sum(done.succeeded[n] for n in restarts),
        successful_creates=sum(done.succeeded[n] for n in evicted - restarts),
        accepted_writes=sum(done.accepted.values()),
        failed_allocations=sum(done.failed.values()),
        started=stormed.answers["start"],
        joined=stormed.answers["join"],
        duplicate=stormed.answers["duplicate"],
        late=stormed.answers["late_signal"],
        http_503=stormed.answers["http_503"],
        duplicates=duplicates,
        extra_vms=max(0, len(vms) - plan.vms),
    )
    assert {n: len(v) for n, v in found.items()} == dict.fromkeys(evicted, 1), found
    assert all(i.id.endswith("-0001") for insts in found.values() for i in insts)
    assert set(outcomes) <= {"recovered/evicted", "recovered/replaced"}, outcomes
    assert all(r == sorted(SOURCES) for r in recorded), recorded  # no signal lost, none recorded twice
    first = {str(o["vm"]).rsplit("/", 1)[-1].lower(): o["signals"][0]["source"] for o in outputs}
    assert {vm for vm, source in first.items() if source == "in-vm-agent"} == stormed.noticed, first
    assert done.succeeded == Counter(dict.fromkeys(evicted, 1)), done
    assert done.accepted == done.succeeded + done.failed, done  # no write beyond those ARM carried out
    assert len(vms) == plan.vms and set(vms.values()) == {Power.RUNNING}, vms
