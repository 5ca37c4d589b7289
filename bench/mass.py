"""``python -m bench mass [--vms N] [--speed X] [--json]``: a mass eviction against ARM's real budgets.

N Spot VMs (default 1,000) in three regions, half Stop/Deallocate (respot restarts them in place) and half
Delete-policy members of the fleet profile ``mass`` (respot creates a replacement on one of the profile's
candidates). The ARM emulator throttles as Azure does (localcloud/arm/throttling.py: the subscription's write
bucket, 200 burst and 10/s refill, reads 250/25 s, deletes 200/10 s, and the Compute policies). Within a minute
every region recalls its capacity: each Deallocate VM's pool (zone 1) and each member's pool (zone 2) drop to 0,
so every VM gets its Preempt notice and is evicted 30 s later; the Deallocate pools come back a second after their
evictions, the members' pools stay empty and the members must go to the profile's other candidates, none of which
can take the whole wave (``MEMBER_POOL_SHARE``). An Event Grid subscription posts each eviction to /api/alerts.

Printed: simulated seconds from the first eviction until every VM runs again (the Deallocate VM itself, or the
member's replacement), the physical bound (:func:`bound_seconds`: the one write each VM needs through the write
bucket, after its alert, plus its provisioning time), their ratio, ARM writes per recovered VM, 429s,
duplicates (VMs beyond the N expected; members with two replacements), peak RSS and CPU of the process (the
Functions host and the emulator run in this one process, on one clock).

The clock: the host and the emulator share one ``Clock``. Setup (creating the fleet, the inventory sweep that
records the members) runs on a stopped clock moved by hand; the wave runs at ``--speed`` (default
``DEFAULT_SPEED``), slow enough that the host keeps up (see docs/benchmarks.md), so what the figure measures is
ARM's budget, not the host's throughput. ``--speed 0`` steps the clock instead (localcloud.stepper: time moves
only when the host and the emulator are idle), which can never be host-bound and is what tests/e2e/test_mass.py
uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common
from bench.common import REPO, machine
from localcloud import argtypes
from localcloud.arm import ArmEmulator, urls
from localcloud.arm.models import Power
from localcloud.arm.scenario import default_subnet
from localcloud.arm.throttling import ARM_BUCKETS
from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.stepper import Stepper, StepperError

REGIONS = ("eastus", "westus2", "centralus")
RESTART_SIZE = "Standard_D2s_v5"  # the Deallocate VMs, zone 1 of each region
MEMBER_SIZE = "Standard_D4s_v5"  # the fleet members, zone 2 of each region
FLEET_SIZES = (MEMBER_SIZE, "Standard_D4as_v5")
FLEET = "mass"
# Each pool the members may go to holds this share of the members (so no one candidate takes the wave, and the
# pools together hold MEMBER_POOL_SHARE * 15 pools = several times the members).
MEMBER_POOL_SHARE = 0.25
ALERT_DELAY = 5.0  # simulated seconds from an eviction to its Event Grid delivery
RECALL_SPACING = 20.0  # simulated seconds between two regions' recalls: the wave spans 40 s
NOTICE = 30.0  # the emulator's Preempt notice (Durations.preempt_notice)
START_SECONDS, CREATE_SECONDS = 25.0, 40.0  # the emulator's LRO durations (Durations.start, .create)
DEFAULT_SPEED = 1.0
# The wave's last eviction (start_wave's 1 s lead, the recalls, the notice): a --max-seconds below it has no figures.
WAVE_SECONDS = 1.0 + RECALL_SPACING * (len(REGIONS) - 1) + NOTICE + 1.0
START = datetime(2026, 12, 1, 12, 0, 20, tzinfo=UTC)  # the inventory sweep runs at 12:05:00
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmQEMKGP4Jd4kdl2pjyc6rzb3E5eXgNOQ8dEovCc6Wj respot-mass"


# --- the physical bound ------------------------------------------------------------------------------------------


def bound_seconds(
    ready: Sequence[float],
    provisioning: Sequence[float],
    *,
    burst: float = ARM_BUCKETS["writes"][0],
    refill: float = ARM_BUCKETS["writes"][1],
) -> float:
    """A lower bound on the moment every VM runs again, if each needs one ARM write and nothing else limits it.

    VM ``i`` can be written from ``ready[i]`` on (its eviction reached respot) and runs ``provisioning[i]``
    seconds after its write. Writes draw on one token bucket, full (``burst`` tokens) at time 0 and refilling at
    ``refill`` per second. For every provisioning time ``q``, the VMs that take at least ``q`` must all be written,
    and the last of them cannot be written before :func:`last_write` of theirs alone (sending each as soon as it
    is ready and a token exists is the earliest any schedule can finish a set of writes: tokens only ever overflow
    by waiting), then takes at least ``q``. The bound is the largest of these; with one provisioning time it is
    the exact optimum. Times are seconds from 0. Pure.
    """
    if len(ready) != len(provisioning):
        raise ValueError("one provisioning time per VM")
    if burst < 1 or refill <= 0:
        raise ValueError("a bucket holds at least one token and refills")
    best = 0.0
    for q in sorted(set(provisioning)):
        subset = sorted(a for a, p in zip(ready, provisioning, strict=True) if p >= q)
        best = max(best, last_write(subset, burst=burst, refill=refill) + q)
    return best


def last_write(ready: Sequence[float], *, burst: float, refill: float) -> float:
    """When the last of these writes (sorted by ``ready``) goes, each sent as soon as it is ready and the bucket
    (full at 0) has a token."""
    tokens, last, now = float(burst), 0.0, 0.0
    for at in ready:
        now = max(now, at)
        tokens, last = min(float(burst), tokens + (now - last) * refill), now
        if tokens < 1:
            now += (1 - tokens) / refill
            tokens, last = 1.0, now
        tokens -= 1
    return now


# --- the world ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Who lives where: ``restarts[region]`` and ``members[region]`` are VM names."""

    restarts: dict[str, list[str]]
    members: dict[str, list[str]]

    @staticmethod
    def of(vms: int, regions: Sequence[str] = REGIONS) -> Plan:
        if vms < 2 * len(regions):
            raise ValueError(f"at least {2 * len(regions)} VMs: one of each kind in every region")
        restart_count = vms // 2
        restarts: dict[str, list[str]] = {r: [] for r in regions}
        members: dict[str, list[str]] = {r: [] for r in regions}
        for i in range(restart_count):
            restarts[regions[i % len(regions)]].append(f"r{i:04d}")
        for i in range(vms - restart_count):
            members[regions[i % len(regions)]].append(f"m{i:04d}")
        return Plan(restarts, members)

    @property
    def regions(self) -> list[str]:
        return list(self.restarts)

    @property
    def member_count(self) -> int:
        return sum(len(v) for v in self.members.values())

    @property
    def vms(self) -> int:
        return self.member_count + sum(len(v) for v in self.restarts.values())

    def member_pool(self) -> int:
        return max(1, math.ceil(self.member_count * MEMBER_POOL_SHARE))

    def scenario(self) -> dict[str, Any]:
        """Quotas that never bind, each VM's pool exactly full, and the members' other candidates."""
        capacity = []
        for region in self.regions:
            capacity.append(
                {"region": region, "zone": "1", "size": RESTART_SIZE, "available": len(self.restarts[region])}
            )
            for size in FLEET_SIZES:
                for zone in ("1", "2", "3"):
                    available = len(self.members[region]) if (size, zone) == (MEMBER_SIZE, "2") else self.member_pool()
                    capacity.append({"region": region, "zone": zone, "size": size, "available": available})
        return {
            "capacity": capacity,
            "quotas": [{"region": r, "name": "lowPriorityCores", "limit": 100_000} for r in self.regions],
        }

    def wave(self, at: float, spacing: float = RECALL_SPACING) -> list[dict[str, Any]]:
        """Timeline steps from simulated second ``at``: each region recalls both pools, ``spacing`` apart; the
        Deallocate pool comes back a second after its evictions, the members' stays empty."""
        steps = []
        for i, region in enumerate(self.regions):
            t = at + i * spacing
            recall = [(RESTART_SIZE, "1"), (MEMBER_SIZE, "2")]
            steps += [
                {"at": t, "capacity": {"region": region, "zone": z, "size": s, "available": 0}} for s, z in recall
            ]
            back = {"region": region, "zone": "1", "size": RESTART_SIZE, "available": len(self.restarts[region])}
            steps.append({"at": t + NOTICE + 1, "capacity": back})
        return steps

    def fleets(self, sub: str, rg: str) -> dict[str, Any]:
        profile = {
            "name": FLEET,
            "desired": self.member_count,
            "template": {
                "image": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
                "admin": {"username": "azureuser", "ssh_public_key": SSH_KEY},
            },
            "sizes": list(FLEET_SIZES),
            "placements": [
                {"region": r, "zones": ["1", "2", "3"], "subnet": default_subnet(sub, rg, r)} for r in self.regions
            ],
            "healthy_seconds": 60,
        }
        return {"fleets": [profile]}


def product_env(arm: ArmEmulator, fleets_file: Path) -> dict[str, str]:
    return common.product_env(arm, RESPOT_LOG_WORKSPACE_ID="respot-mass", RESPOT_FLEETS_FILE=str(fleets_file))


def vm_body(
    sub: str, rg: str, region: str, *, zone: str, size: str, policy: str, tags: dict[str, str]
) -> dict[str, Any]:
    subnet = default_subnet(sub, rg, region)
    return common.spot_vm_body(subnet, region, size, zones=[zone], policy=policy, tags=tags)


def create_fleet(arm: ArmEmulator, plan: Plan, threads: int = 4) -> None:
    """Every VM of the plan, with throttling off (the fleet exists before the benchmark starts); returns when
    the creates are accepted. The caller moves the clock past the create LROs."""
    sub, rg = arm.subscription, arm.resource_group
    jobs: list[tuple[str, dict[str, Any]]] = []
    for region, names in plan.restarts.items():
        body = vm_body(sub, rg, region, zone="1", size=RESTART_SIZE, policy="Deallocate", tags={"app": "mass"})
        jobs += [(n, body) for n in names]
    for region, names in plan.members.items():
        for i, n in enumerate(names):
            zone_body = vm_body(
                sub, rg, region, zone="2", size=MEMBER_SIZE, policy="Delete", tags={"respot-fleet": FLEET}
            )
            jobs.append((n, zone_body))
            del i
    errors: list[BaseException] = []

    def worker(chunk: list[tuple[str, dict[str, Any]]]) -> None:
        compute = arm.compute_client(retry_total=0)
        try:
            for name, body in chunk:
                compute.virtual_machines.begin_create_or_update(rg, name, body, polling=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(jobs[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def running_count(arm: ArmEmulator) -> int:
    with arm.backend.lock:
        return sum(1 for vm in arm.backend.world.vms.values() if vm.power == Power.RUNNING)


def members_recorded(host: FunctionsHost) -> int:
    rows = host.store.query_entities(name="member", updated_from=None, updated_to=None, after=None, limit=100_000)
    return sum(1 for r in rows if r.state)


# --- what happened -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    vms: int
    first_eviction: datetime | None = None
    last_eviction: datetime | None = None
    evicted: int = 0
    recovered_at: dict[str, datetime] = field(default_factory=dict)  # original name -> when it (or its
    # replacement) ran again
    kind: dict[str, str] = field(default_factory=dict)  # name -> restart | redeploy
    evicted_at: dict[str, datetime] = field(default_factory=dict)
    duplicates: int = 0
    extra_vms: int = 0
    offerings: Counter[str] = field(default_factory=Counter)  # where replacements landed

    @property
    def seconds(self) -> float | None:
        if self.first_eviction is None or len(self.recovered_at) < self.vms:
            return None
        return (max(self.recovered_at.values()) - self.first_eviction).total_seconds()

    def bound(self) -> float:
        assert self.first_eviction is not None
        names = sorted(self.evicted_at)
        ready = [(self.evicted_at[n] - self.first_eviction).total_seconds() + ALERT_DELAY for n in names]
        provisioning = [START_SECONDS if self.kind[n] == "restart" else CREATE_SECONDS for n in names]
        return bound_seconds(ready, provisioning)


def outcome(arm: ArmEmulator, plan: Plan, since: datetime) -> Outcome:
    """From the emulator's Activity Log and world: evictions, the first successful start of each Deallocate VM
    after its eviction, and each member's replacements (tag respot:replaces)."""
    out = Outcome(plan.vms)
    restarts = {n.lower() for names in plan.restarts.values() for n in names}
    members = {n.lower() for names in plan.members.values() for n in names}
    for n in restarts:
        out.kind[n] = "restart"
    for n in members:
        out.kind[n] = "redeploy"
    with arm.backend.lock:
        records = list(arm.backend.world.activity)
        vms = list(arm.backend.world.vms.values())
    replaced_by: dict[str, str] = {}  # replacement name -> member
    live: Counter[str] = Counter()
    for vm in vms:
        replaces = (vm.tags or {}).get("respot:replaces")
        if replaces:
            replaced_by[vm.name.lower()] = replaces.lower()
            if vm.power == Power.RUNNING:
                live[replaces.lower()] += 1
                out.offerings[f"{vm.size}/{vm.location}/{(vm.zones or ['-'])[0]}"] += 1
    out.duplicates = sum(n - 1 for n in live.values() if n > 1)
    out.extra_vms = max(0, len(vms) - plan.vms)
    for rec in records:
        if rec.timestamp < since or rec.status != "Succeeded":
            continue
        name = rec.resource_id.rsplit("/", 1)[-1].lower()
        op = rec.operation_name.lower()
        if op.endswith("/evictspotvm/action") and name in out.kind:
            out.evicted_at.setdefault(name, rec.timestamp)
            out.first_eviction = min(out.first_eviction or rec.timestamp, rec.timestamp)
            out.last_eviction = max(out.last_eviction or rec.timestamp, rec.timestamp)
        elif op.endswith("/start/action") and name in restarts and name in out.evicted_at:
            out.recovered_at.setdefault(name, rec.timestamp)
        elif op.endswith("/virtualmachines/write") and name in replaced_by:
            member = replaced_by[name]
            if member in out.evicted_at:
                out.recovered_at.setdefault(member, rec.timestamp)
    out.evicted = len(out.evicted_at)
    return out


def request_figures(arm: ArmEmulator) -> dict[str, Any]:
    """ARM requests by bucket (reads, writes, deletes), how many of each were answered 429, and the reads by
    operation (where a wave's read budget goes)."""
    kinds = {r.op_id: r.kind for r in urls.routes(arm.services) if r.pattern.startswith("/subscriptions")}
    figures: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    for key, n in arm.services.requests.snapshot()["counts"].items():
        op, status = key.rsplit(" ", 1)
        kind = kinds.get(op)
        if kind is None:
            continue
        figures[kind] += n
        if status == "429":
            figures[f"{kind}_429"] += n
        if kind == "reads":
            reads[op] += n
    out: dict[str, Any] = {
        k: figures[k] for k in ("reads", "writes", "deletes", "reads_429", "writes_429", "deletes_429")
    }
    return {**out, "reads_by_operation": dict(reads.most_common())}


def concluded(host: FunctionsHost) -> bool:
    """Every recovery has concluded (each then stays open a while for late signals)."""
    for inst in host.store.query(
        statuses=["Running", "Pending"], created_from=None, created_to=None, prefix="respot-", limit=100_000, after=None
    ):
        if inst.name == "recover_vm" and not (json.loads(inst.custom_status or "null") or {}).get("concludedAt"):
            return False
    return True


def recoveries(host: FunctionsHost) -> Counter[str]:
    """recover_vm outcomes (outcome/reason), from the task hub."""
    found: Counter[str] = Counter()
    for inst in host.store.query(
        statuses=None, created_from=None, created_to=None, prefix="respot-", limit=100_000, after=None
    ):
        if inst.name != "recover_vm" or ":" in inst.id:
            continue
        status = json.loads(inst.custom_status or "null") or {}
        found[f"{status.get('outcome') or inst.status}/{status.get('reason') or '-'}"] += 1
    return found


# --- the run -----------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    clock: Clock
    arm: ArmEmulator
    host: FunctionsHost
    plan: Plan
    stepper: Stepper | None = None
    wave_start: datetime | None = None

    def wait(self, predicate: Callable[[], bool], what: str, *, within: float, real_timeout: float = 600) -> None:
        """On a stopped clock: step it (stepper) until ``predicate``; on a running one: poll in real time."""
        if self.stepper is not None:
            self.stepper.run_until(predicate, max_seconds=within, what=what)
            return
        deadline = time.monotonic() + real_timeout
        limit = self.clock.elapsed() + within
        pause = threading.Event()
        while not predicate():
            if time.monotonic() > deadline or self.clock.elapsed() > limit:
                raise TimeoutError(f"{what}: not reached")
            pause.wait(0.25)


def build(
    workdir: Path, plan: Plan, *, seed: int = 11, setenv: Callable[[str, str], None] = os.environ.__setitem__
) -> Stack:
    """The emulator and the host on a stopped clock, the fleet running and its members recorded by the
    inventory sweep; throttling on, with full buckets. The caller sets the clock's speed and starts the wave."""
    clock = Clock(speed=0, start=START)
    arm = ArmEmulator(clock=clock, seed=seed, scenario=plan.scenario(), throttling=False).start()
    fleets = workdir / "fleets.yaml"
    fleets.write_text(json.dumps(plan.fleets(arm.subscription, arm.resource_group)))
    for key, value in product_env(arm, fleets).items():
        setenv(key, value)
    reset_product_caches()
    host = FunctionsHost(REPO / "function_app.py", port=0, clock=clock, db_path=workdir / "taskhub.sqlite").start()
    stack = Stack(clock, arm, host, plan, Stepper(clock, {"functions": host, "arm": arm}, settle_timeout=900))
    try:
        create_fleet(arm, plan)
        stack.wait(lambda: running_count(arm) >= plan.vms, "the fleet running", within=120)
        sweep = START.replace(minute=5, second=0)
        stack.wait(
            lambda: clock.now() >= sweep and members_recorded(host) >= plan.member_count,
            "the inventory sweep recording every member",
            within=600,
        )
        arm.throttler.reset()
        arm.throttler.enabled = True
        arm.services.requests.clear()
        url = f"{host.url}/api/alerts?code={host.keys.function}"
        arm.apply({"actionGroups": [{"name": "eg", "url": url, "kind": "eventGrid", "delay_seconds": ALERT_DELAY}]})
    except BaseException:
        stop(stack)
        raise
    return stack


def reset_product_caches() -> None:
    """The product caches settings and clients per process: a second world in one process must not see the
    first's (the e2e tests do the same)."""
    from orchestrator.adapters.activitylog import activity_log_for
    from orchestrator.adapters.compute import compute_for
    from orchestrator.app import compose
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    compute_for.cache_clear()
    activity_log_for.cache_clear()
    for cached in (compose.fleets, compose.market, compose.scale_sets, compose.secrets):
        cached.cache_clear()


def stop(stack: Stack) -> None:
    stack.host.stop()
    stack.arm.stop()
    reset_product_caches()


def start_wave(stack: Stack, *, lead: float = 1.0, spacing: float = RECALL_SPACING) -> None:
    """The recalls, from ``lead`` simulated seconds from now, ``spacing`` apart."""
    at = stack.clock.elapsed() + lead
    stack.wave_start = stack.clock.now()
    stack.arm.apply({"timeline": stack.plan.wave(at, spacing)})


def all_recovered(stack: Stack) -> Callable[[], bool]:
    assert stack.wave_start is not None
    since = stack.wave_start

    def check() -> bool:
        return len(outcome(stack.arm, stack.plan, since).recovered_at) >= stack.plan.vms

    return check


def run(vms: int = 1000, speed: float = DEFAULT_SPEED, within: float = 1800) -> dict[str, Any]:
    """The wave, and its figures once every VM runs again and every recovery concluded, or once ``within``
    simulated seconds have passed (then ``seconds`` is None and ``recovered`` says how many made it)."""
    for name in ("localcloud", "localcloud.functions", "respot", "azure"):
        logging.getLogger(name).setLevel(logging.WARNING)
    plan = Plan.of(vms)
    real_timeout = within / speed + 600 if speed > 0 else 4 * within
    with tempfile.TemporaryDirectory(prefix="respot-mass-") as tmp:
        began = time.monotonic()
        stack = build(Path(tmp), plan)
        setup_wall = time.monotonic() - began
        try:
            if speed > 0:
                stack.stepper = None
                stack.clock.set_speed(speed)
            cpu0, wall0 = _cpu(), time.monotonic()
            start_wave(stack)
            finished = _reached(stack, all_recovered(stack), "every VM running again", within, real_timeout)
            cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
            assert stack.wave_start is not None
            out = outcome(stack.arm, plan, stack.wave_start)
            requests = request_figures(stack.arm)
            if finished:  # the outcomes once every recovery concluded (the replacements' warm-up, the checks)
                _reached(stack, lambda: concluded(stack.host), "every recovery concluded", within, real_timeout)
            outcomes = recoveries(stack.host)
        finally:
            stop(stack)
    return _figures(plan, out, requests, outcomes, speed=speed, cpu=cpu, wall=wall, setup=setup_wall)


def _reached(stack: Stack, predicate: Callable[[], bool], what: str, within: float, real_timeout: float) -> bool:
    try:
        stack.wait(predicate, what, within=within, real_timeout=real_timeout)
    except (TimeoutError, StepperError):
        return False
    return True


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _figures(
    plan: Plan,
    out: Outcome,
    requests: dict[str, Any],
    outcomes: Counter[str],
    *,
    speed: float,
    cpu: float,
    wall: float,
    setup: float,
) -> dict[str, Any]:
    seconds = out.seconds
    bound = out.bound()
    recovered = len(out.recovered_at)
    writes = requests["writes"]
    assert out.first_eviction is not None and out.last_eviction is not None
    return {
        "vms": plan.vms,
        "restarts": sum(len(v) for v in plan.restarts.values()),
        "redeploys": plan.member_count,
        "regions": plan.regions,
        "evicted": out.evicted,
        "eviction_span_seconds": (out.last_eviction - out.first_eviction).total_seconds(),
        "recovered": recovered,
        "seconds": seconds,
        "bound_seconds": round(bound, 1),
        "ratio": round(seconds / bound, 3) if seconds is not None and bound > 0 else None,
        "writes": writes,
        "writes_per_vm": round(writes / max(1, recovered), 3),
        "deletes": requests["deletes"],
        "reads": requests["reads"],
        "reads_per_vm": round(requests["reads"] / max(1, recovered), 2),
        "reads_by_operation": requests["reads_by_operation"],
        "throttled": requests["writes_429"] + requests["reads_429"] + requests["deletes_429"],
        "throttled_writes": requests["writes_429"],
        "throttled_reads": requests["reads_429"],
        "throttled_write_share": round(requests["writes_429"] / max(1, writes), 4),
        "duplicates": out.duplicates,
        "extra_vms": out.extra_vms,
        "replacement_offerings": dict(out.offerings.most_common()),
        "recoveries": dict(outcomes.most_common()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_cores": round(cpu / wall, 2) if wall > 0 else None,
        "wall_seconds": round(wall, 1),
        "setup_wall_seconds": round(setup, 1),
        "speed": speed,
        "machine": machine(),
        "load": os.getloadavg()[0],
    }


def report(fig: dict[str, Any]) -> list[str]:
    seconds = fig["seconds"]
    took = f"{seconds:.0f} s" if seconds is not None else f"not all ({fig['recovered']}/{fig['vms']})"
    return [
        f"# bench mass ({fig['machine']}; load {fig['load']:.2f})",
        (
            f"wave:        {fig['vms']} Spot VMs in {', '.join(fig['regions'])}: {fig['restarts']} Deallocate (restart), "
            f"{fig['redeploys']} Delete fleet members (redeploy); {fig['evicted']} evicted over {fig['eviction_span_seconds']:.0f} s"
        ),
        f"recovered:   {fig['recovered']}/{fig['vms']} running again after {took} (simulated, from the first eviction)",
        (
            f"bound:       {fig['bound_seconds']:.0f} s (one write per VM through the write bucket after its alert, plus "
            f"provisioning); ratio {fig['ratio']} (target <= 1.2)"
        ),
        (
            f"ARM:         {fig['writes']} writes ({fig['writes_per_vm']} per VM), {fig['deletes']} deletes, {fig['reads']} reads "
            f"({fig['reads_per_vm']} per VM); 429s: {fig['throttled']} ({fig['throttled_writes']} writes = "
            f"{fig['throttled_write_share']:.1%} of writes, target < 1%; {fig['throttled_reads']} reads)"
        ),
        f"duplicates:  {fig['duplicates']} (members with two live replacements), {fig['extra_vms']} VMs beyond {fig['vms']}",
        f"landed on:   {', '.join(f'{k} x{v}' for k, v in fig['replacement_offerings'].items()) or '-'}",
        f"recoveries:  {', '.join(f'{k} x{v}' for k, v in fig['recoveries'].items())}",
        (
            f"process:     peak RSS {fig['peak_rss_mb']:.0f} MB (target < 500), CPU {fig['cpu_seconds']:.0f} s over "
            f"{fig['wall_seconds']:.0f} s of wall time at {fig['speed']:g}x = {fig['cpu_cores']} cores (host and emulator; "
            f"setup {fig['setup_wall_seconds']:.0f} s)"
        ),
    ]


def _vms(text: str) -> int:
    """An argparse type: Plan.of's floor, checked before the stack is built (it raised a traceback after)."""
    value, least = int(text), 2 * len(REGIONS)
    if value < least:
        raise argparse.ArgumentTypeError(f"at least {least} (one of each kind in every region), not {value}")
    return value


def main(argv: Iterable[str] = ()) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench mass", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--vms", type=_vms, default=1000, help="Spot VMs evicted (default 1,000; at least 6)")
    parser.add_argument(
        "--speed",
        type=argtypes.number(0, inclusive=True),
        default=DEFAULT_SPEED,
        help=f"simulated seconds per real second (default {DEFAULT_SPEED:g}; 0: stepped)",
    )
    parser.add_argument(
        "--max-seconds",
        type=argtypes.number(WAVE_SECONDS, inclusive=True),
        default=1800,
        help=f"simulated seconds before giving up (default 1800; at least {WAVE_SECONDS:g}, the wave's end)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(list(argv))
    logging.getLogger().setLevel(logging.ERROR)
    fig = run(args.vms, args.speed, args.max_seconds)
    if args.json:
        print(json.dumps(fig))
    else:
        for line in report(fig):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
