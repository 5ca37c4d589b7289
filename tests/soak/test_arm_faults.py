"""ARM faults: with 500/503 answers, dropped connections, throttling storms and slow LROs injected in the emulator,
every evicted VM of a mass eviction recovers, with at most 1.2x the ARM writes of the same eviction without faults.

The world is bench.mass's, stepped (``mass.build``, seed 11: half Stop/Deallocate VMs that respot restarts, half
Delete-policy fleet members that respot replaces, three regions recalled 20 s apart, ARM's real throttling on, an
Event Grid subscription posting each eviction to /api/alerts). The fault-free run goes first, once per module (same
world, same seeds); then each fault kind alone, then all of them together. Faults start after the fleet is built
and the inventory sweep has recorded it, so they hit only what respot does about the eviction:

- 500/503: 5% each of every ARM request (reads and writes alike);
- dropped connections: 3% closed before the request is served, 3% served and closed before the answer;
- throttling storms: two minutes of 429 (Retry-After 60 s) on every write from the wave's start, then two minutes
  of 429 on every request once half the VMs run again; between them 3% of requests get a 429 asking for 20 s;
- slow LROs: every start, create and delete takes four times as long.

What counts as a write: every request to an ARM route in the ``writes`` bucket (PUT, PATCH and POST under
/subscriptions: VM creates and starts, and the Spot Placement Scores POST, which ARM meters as a write; not Resource
Graph or Log Analytics queries, which are not ARM writes; deletes are counted apart). ``attempted`` is every such
request the emulator saw; ``metered`` leaves out those refused before anything happened: 429 (ARM does not meter a
throttled request), injected 500/503 (the emulator answers them before the handler runs) and connections dropped
before the request was served. A connection dropped *after* the request was served (``dropAfter``) did write, and
is metered. The 1.2 bound is asserted on metered writes; the attempted ratio is reported next to it (retries of
refused writes are not free for the client, only for the budget).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import mass
from localcloud.arm import urls
from tests.soak.conftest import SoakReport, scale

pytestmark = pytest.mark.soak
SEED = 12
BOUND = 1.2
WITHIN = 6 * 3600  # simulated seconds for every VM to run again (a storm asks for minutes at a time)
REFUSED = (0, 429, 500, 503)  # 0: the connection was dropped before the request was served

ERRORS = {"error500": 0.05, "error503": 0.05}  # 10% of ARM requests answered 500 or 503
DROPS = {"drop": 0.03, "dropAfter": 0.03}  # 6% of connections closed before the request, or before the answer
THROTTLED = {"error429": 0.03, "retryAfter": 20}  # between storms, a few 429s asking for 20 s
SLOW_LRO = 4.0  # every start, create and delete takes four times as long
STORM_SECONDS, STORM_RETRY_AFTER = 120, 60  # a storm: two minutes of 429s, each asking for a minute


@dataclass(frozen=True)
class Faults:
    """What a run injects: a probability rule for every ARM request, throttling storms, slow LROs."""

    name: str
    rule: dict[str, Any]
    storms: bool = False  # two storms of STORM_SECONDS (see the module docstring)
    slow_lro: float | None = None

    def configure(self, stack: mass.Stack, *, storm: list[dict[str, Any]] | None = None, first: bool = False) -> None:
        """The rules now (a storm's go first: they answer everything they match); ``first``: seed the sequence."""
        rules = (storm or []) + ([self.rule] if self.rule else [])
        spec: dict[str, Any] = {"rules": rules}
        if first:
            spec["seed"] = SEED
            if self.slow_lro:
                spec["slowLro"] = self.slow_lro
        stack.arm.apply({"faults": spec})

    def storm(self, stack: mass.Stack, *, writes_only: bool) -> None:
        """A throttling storm from now, for STORM_SECONDS of simulated time (the clock stepping through it): the
        subscription's write bucket run dry (every PUT, POST and PATCH under /subscriptions), or every request."""
        if not self.storms:
            return
        assert stack.stepper is not None
        throttled = {"error429": 1.0, "retryAfter": STORM_RETRY_AFTER}
        writes = [{**throttled, "method": m, "path": "^/subscriptions/"} for m in ("PUT", "POST", "PATCH")]
        self.configure(stack, storm=writes if writes_only else [throttled])
        stack.stepper.advance(STORM_SECONDS)
        self.configure(stack)


@dataclass(frozen=True)
class Run:
    vms: int
    recovered: int
    seconds: float | None  # simulated, from the first eviction until every VM ran again
    outcomes: Counter[str]
    duplicates: int
    extra_vms: int
    attempted: int  # writes the emulator saw
    metered: int  # writes that reached the backend
    deletes: int
    statuses: Counter[int]  # the writes' answers
    dropped: Counter[str]  # writes dropped before / after being served
    injected: int  # faults the emulator injected, every kind of request


def run(tmp_path: Path, setenv: Any, vms: int, faults: Faults | None) -> Run:
    plan = mass.Plan.of(vms)
    stack = mass.build(tmp_path, plan, setenv=setenv)
    try:
        if faults is not None:
            faults.configure(stack, first=True)
        mass.start_wave(stack)
        assert stack.wave_start is not None
        since = stack.wave_start
        if faults is not None:  # from the wave's start: every write respot sends first meets an empty bucket
            faults.storm(stack, writes_only=True)

        def half() -> bool:
            return len(mass.outcome(stack.arm, plan, since).recovered_at) >= vms // 2

        stack.wait(half, "half the VMs running again", within=WITHIN)
        if faults is not None:
            faults.storm(stack, writes_only=False)
        stack.wait(mass.all_recovered(stack), "every VM running again", within=WITHIN)
        stack.wait(lambda: mass.concluded(stack.host), "every recovery concluded", within=WITHIN)
        out = mass.outcome(stack.arm, plan, since)
        outcomes = mass.recoveries(stack.host)
        return _counted(stack, out, outcomes)
    finally:
        mass.stop(stack)


def _kinds(stack: mass.Stack) -> dict[str, str]:
    """ARM's bucket (reads, writes, deletes) of every operation the emulator logs."""
    return {r.op_id: r.kind for r in urls.routes(stack.arm.services) if r.pattern.startswith("/subscriptions")}


def _counted(stack: mass.Stack, out: mass.Outcome, outcomes: Counter[str]) -> Run:
    kinds = _kinds(stack)
    log = stack.arm.services.requests.snapshot()["entries"]
    assert len(log) < stack.arm.services.requests.limit, "the request log was truncated"
    writes = [e for e in log if kinds.get(e["operation"]) == "writes"]
    refused = [e for e in writes if e["status"] in REFUSED or e.get("dropped") == "before"]
    return Run(
        vms=out.vms,
        recovered=len(out.recovered_at),
        seconds=out.seconds,
        outcomes=outcomes,
        duplicates=out.duplicates,
        extra_vms=out.extra_vms,
        attempted=len(writes),
        metered=len(writes) - len(refused),
        deletes=sum(1 for e in log if kinds.get(e["operation"]) == "deletes"),
        statuses=Counter(e["status"] for e in writes),
        dropped=Counter(e["dropped"] for e in writes if "dropped" in e),
        injected=stack.arm.services.faults.injected,
    )


@pytest.fixture(scope="module")
def vms() -> int:
    return scale(full=40, ci=12)


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory: pytest.TempPathFactory, vms: int) -> Iterator[Run]:
    with pytest.MonkeyPatch.context() as mp:
        baseline = run(tmp_path_factory.mktemp("fault-free"), mp.setenv, vms, None)
    assert baseline.recovered == vms and baseline.statuses[429] == 0, baseline
    yield baseline


ONE_AT_A_TIME = [
    Faults("500/503", ERRORS),
    Faults("dropped connections", DROPS),
    Faults("throttling storms", THROTTLED, storms=True),
    Faults("slow LROs", {}, slow_lro=SLOW_LRO),
]
ALL_TOGETHER = Faults("all", {**ERRORS, **DROPS, **THROTTLED}, storms=True, slow_lro=SLOW_LRO)


def check(soak: SoakReport, prop: str, faults: Faults, faulty: Run, free: Run) -> None:
    ratio = faulty.metered / free.metered
    soak.add(
        prop,
        vms=faulty.vms,
        recovered=faulty.recovered,
        seconds=f"{faulty.seconds:.0f}" if faulty.seconds is not None else "-",
        fault_free_seconds=f"{free.seconds:.0f}" if free.seconds is not None else "-",
        writes=faulty.metered,
        fault_free_writes=free.metered,
        ratio=f"{ratio:.2f}",
        attempted_writes=faulty.attempted,
        fault_free_attempted=free.attempted,
        attempted_ratio=f"{faulty.attempted / free.attempted:.2f}",
        deletes=faulty.deletes,
        fault_free_deletes=free.deletes,
        injected=faulty.injected,
        writes_500=faulty.statuses[500],
        writes_503=faulty.statuses[503],
        writes_429=faulty.statuses[429],
        dropped_before=faulty.dropped["before"],
        dropped_after=faulty.dropped["after"],
        duplicates=faulty.duplicates,
        extra_vms=faulty.extra_vms,
    )
    assert faulty.recovered == faulty.vms, faulty
    assert set(faulty.outcomes) <= {"recovered/evicted", "recovered/replaced"}, faulty.outcomes
    assert sum(faulty.outcomes.values()) == faulty.vms, faulty.outcomes
    assert faulty.duplicates == 0 and faulty.extra_vms == 0, faulty
    assert ratio <= BOUND, (faulty, free)
    assert faulty.injected > 0 or not (faults.rule or faults.storms), faulty  # the faults were there
    if faults.slow_lro:
        assert faulty.seconds is not None and free.seconds is not None and faulty.seconds > free.seconds


@pytest.mark.timeout(900)
@pytest.mark.parametrize("faults", ONE_AT_A_TIME, ids=lambda f: f.name.replace(" ", "-"))
def test_one_kind_of_arm_fault_at_a_time_every_vm_recovers_within_the_write_bound(
    faults: Faults, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vms: int, fault_free: Run, soak: SoakReport
) -> None:
    faulty = run(tmp_path, monkeypatch.setenv, vms, faults)
    check(soak, f"ARM faults ({faults.name} alone)", faults, faulty, fault_free)


@pytest.mark.timeout(900)
def test_every_kind_of_arm_fault_at_once_every_vm_recovers_within_the_write_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vms: int, fault_free: Run, soak: SoakReport
) -> None:
    faulty = run(tmp_path, monkeypatch.setenv, vms, ALL_TOGETHER)
    check(soak, "ARM faults", ALL_TOGETHER, faulty, fault_free)
