"""Security properties, over real HTTP to the local Functions host, against the ARM emulator:

- every HTTP route the app exposes (read from the host's index of function_app.py, so a new route is covered) and
  every durable webhook answers 401 to a missing or wrong key, and changes nothing (task hub, ARM, logs);
- crafted resource ids (other subscriptions, ``..`` and ``//``, wrong types, percent-encoded separators, case and
  unicode games) and real evictions of VMs outside the scope make no ARM call on them and start no recovery;
- over a mix of real evictions, a person's deallocations, evictions of ``respot:ignore`` VMs and redelivered
  alerts, a person's deallocation is never undone, an ignored VM never written to, and every real eviction has its
  recovery, which brings the VM back unless its owner deallocated it first.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest

from localcloud.arm.backend import PLATFORM_CALLER
from localcloud.arm.scenario import default_subnet
from localcloud.functions.httphost import Route
from orchestrator.domain.identity import ACTIVE, is_recovery_id, recovery_prefix
from orchestrator.domain.scope import parse_vm_id
from tests.e2e.conftest import Stack
from tests.integration.helpers import control, vm_body
from tests.soak import payloads
from tests.soak.conftest import SoakReport, scale
from tests.soak.world import Answer, World, module_stack

pytestmark = [pytest.mark.soak, pytest.mark.timeout(scale(full=900, ci=300))]

MIXED_EVENTS = scale(full=1000, ci=200)
ANONYMOUS_BY_DESIGN = {"health"}  # GET /api/health: liveness, reveals only the version (orchestrator/app/health.py)
OWNER = "owner@contoso.com"
SETTLED = timedelta(minutes=20)  # every alert of an eviction has arrived, and its recovery closed (settle window)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The Activity Log workspace: respot reads who deallocated a VM (tests/e2e/test_scale_sets_and_users.py).
    with module_stack(tmp_path_factory.mktemp("security"), RESPOT_LOG_WORKSPACE_ID="respot-workspace") as w:
        # Every kind of report the emulator sends, at Azure-like delays, a person's deallocation included.
        w.stack.alert_group("activityLogAlert", delay=60)
        w.stack.alert_group("resourceHealthAlert", delay=120)
        annotations = ["VirtualMachinePreempted", "VirtualMachineDeallocationInitiated"]
        group = {"name": "eg", "url": w.stack.alerts_url, "kind": "eventGrid", "delay_seconds": 30}
        control(w.arm, "/action-groups", group | {"annotations": annotations})
        yield w


@dataclass
class Quiet:
    """What a request must not change: the task hub, ARM, the error log."""

    world: World
    before: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.before = self.take()

    def take(self) -> tuple[Any, ...]:
        return self.world.hub_state(), self.world.arm_calls(), self.world.watch.count()

    def changed(self) -> bool:
        return self.take() != self.before


# --- keys -----------------------------------------------------------------------------------------------------


def concrete_paths(route: Route, prefix: str) -> list[str]:
    """Paths that reach ``route``: its template with each parameter filled, each optional one also left out."""
    template = str(route.spec.trigger.get("route") or route.spec.name).strip("/")
    filled = re.sub(r"\{\*?([A-Za-z_]+)(:[a-z]+)?\??\}", lambda m: "1" if m[2] == ":int" else "x", template)
    bare = re.sub(r"/?\{[^}]+\?\}", "", template)
    return sorted({f"{prefix}/{filled}", f"{prefix}/{bare}"})


def wrong_keys(right: str, other_kind: str) -> dict[str, dict[str, str]]:
    """How a request can present a key it does not have: (query, headers) by name."""
    return {
        "no key": {},
        "empty code": {"code": ""},
        "made-up key": {"code": "bm90LWEta2V5LWF0LWFsbC0xMjM0NTY3ODkw"},
        "key with a character more": {"code": right + "x"},
        "key with a character less": {"code": right[:-1]},
        "key in another case": {"code": right.swapcase()},
        "another kind of key": {"code": other_kind},
        "made-up header": {"header": "bm90LWEta2V5"},
        "another kind in the header": {"header": other_kind},
    }


def call(world: World, method: str, path: str, how: dict[str, str], body: bytes = b"") -> Answer:
    headers = {"Content-Type": "application/json"}
    if "header" in how:
        headers["x-functions-key"] = how["header"]
    query = f"?code={how['code']}" if "code" in how else ""
    return world.send(method, path + query, body, headers)


def test_every_route_refuses_missing_and_wrong_keys_with_401_and_no_side_effect(world: World, soak: SoakReport) -> None:
    stack, keys = world.stack, world.host.keys
    # A recovery that is running (a live VM's eviction report; the clock is stopped, so it stays open), for the
    # durable routes to aim at: terminate, purge, raise an event, start another with the same id.
    [vm_id] = stack.fleet(["sec-target"])
    assert stack.post_alert([payloads.event_grid_eviction(vm_id, "key-test", "2026-12-01T12:00:00Z")])[0] == 202
    world.settle()
    running = stack.recovery(vm_id)
    assert stack.instance(running)["runtimeStatus"] == "Running"

    routes = world.host.http.routes
    names = {r.spec.name for r in routes}
    anonymous = {r.spec.name for r in routes if r.auth == "anonymous"}
    assert anonymous == ANONYMOUS_BY_DESIGN, f"a new anonymous route needs a reason: {anonymous}"
    prefix = world.host.http.prefix
    targets = [
        (method, path, r.spec.name, keys.function, keys.system)
        for r in routes
        if r.auth != "anonymous"
        for method in sorted(r.methods or {"GET", "POST", "PUT", "PATCH", "DELETE"})
        for path in concrete_paths(r, prefix)
    ]
    orchestrators = sorted(s.name for s in world.host.app.of_type("orchestrationTrigger"))
    entities = sorted({str(s.trigger.get("entityName") or s.name) for s in world.host.app.of_type("entityTrigger")})
    durable = "/runtime/webhooks/durabletask"
    webhooks = [
        ("GET", f"{durable}/instances"),
        ("DELETE", f"{durable}/instances"),
        ("GET", f"{durable}/instances/{running}"),
        ("DELETE", f"{durable}/instances/{running}"),
        ("POST", f"{durable}/instances/{running}/terminate"),
        ("POST", f"{durable}/instances/{running}/suspend"),
        ("POST", f"{durable}/instances/{running}/resume"),
        ("POST", f"{durable}/instances/{running}/rewind"),
        ("POST", f"{durable}/instances/{running}/raiseEvent/signal"),
        *[("POST", f"{durable}/orchestrators/{name}") for name in orchestrators],
        *[("POST", f"{durable}/orchestrators/{name}/{running}") for name in orchestrators],
        *[(m, f"{durable}/entities/{name}/any") for name in entities for m in ("GET", "POST")],
    ]
    targets += [(m, p, "durable " + p.split("/")[4], keys.system, keys.function) for m, p in webhooks]
    targets.append(("GET", "/admin/host/status", "admin", keys.master, keys.system))
    forged = json.dumps({"signal": {"vm": parse_vm_id(vm_id).to_dict()}, "seq": 1}).encode()
    tally: Counter[str] = Counter()
    quiet = Quiet(world)
    for method, path, _name, right, other in targets:
        for how_name, how in wrong_keys(right, other).items():
            answer = call(world, method, path, how, forged if method == "POST" else b"")
            tally["requests"] += 1
            tally[f"{answer.status}"] += 1
            what = f"{method} {path} with {how_name}: {answer.status} {answer.body[:200]!r}"
            assert answer.status == 401, what
            assert isinstance(answer.json(), dict) and not answer.has_traceback(), what
            assert right not in answer.body.decode() and other not in answer.body.decode(), what
        assert not quiet.changed(), f"{method} {path}: something changed"
        tally["routes"] += 1
    # The same routes with the right key are reached (not 401, not 404): the paths above are real ones.
    for method, path, name, right, _ in targets:
        if name.startswith("durable") or (method != "GET" and name != "alerts"):
            continue
        answer = call(world, method, path, {"code": right})
        reached = answer.status != 401 and b"no function at" not in answer.body
        assert reached and answer.status < 500, f"{method} {path}: {answer.status} {answer.body[:200]!r}"
    assert stack.instance(running)["runtimeStatus"] == "Running"
    soak.add(
        "security: keys",
        app_routes=len(names - ANONYMOUS_BY_DESIGN),
        anonymous=",".join(sorted(anonymous)),
        endpoints=tally["routes"],
        requests=tally["requests"],
        **{"401": tally["401"]},
        other_status=tally["requests"] - tally["401"],
        side_effects=0,
    )


# --- crafted ids and VMs outside the scope -------------------------------------------------------------------


def outside_vms(stack: Stack) -> list[str]:
    """Two real Spot VMs respot must not touch: one in another resource group, one in another subscription."""
    made = []
    for sub, rg in ((payloads.SUB, payloads.OTHER_RG), (payloads.OTHER_SUB, payloads.RG)):
        control(stack.arm, "/resource-groups", {"subscription": sub, "name": rg})
        subnet = default_subnet(sub, rg, "eastus")
        control(stack.arm, "/subnets", {"id": subnet, "region": "eastus"})
        compute = stack.arm.compute_client(subscription=sub, retry_total=0)
        body = vm_body(stack.arm, zones=["1"], subnet=subnet)
        compute.virtual_machines.begin_create_or_update(rg, "outsider", body, polling=False)
        made.append(payloads.vm_id("outsider", sub=sub, rg=rg))
    return made


def test_crafted_ids_and_vms_outside_the_scope_make_no_arm_call_and_start_nothing(
    world: World, soak: SoakReport
) -> None:
    stack = world.stack
    [live] = stack.fleet(["victim"])
    world.settle()
    crafted = payloads.crafted_ids("victim")
    tally: Counter[str] = Counter()
    quiet = Quiet(world)
    shapes = {**payloads.EVICTIONS, "scale-set": payloads.scale_set_eviction}
    for trick, target in crafted.items():
        for shape, build in shapes.items():
            answer = world.send(
                "POST",
                f"/api/alerts?code={world.host.keys.function}",
                payloads.encode(build(target, f"{trick}-{shape}", "2026-12-01T12:00:00Z")),
                {"Content-Type": "application/json"},
            )
            what = f"{trick} as {shape}: {answer.status} {answer.body[:300]!r}"
            assert answer.status in (200, 400) and answer.json().get("accepted", []) == [], what
            reasons = {i["reason"] for i in answer.json().get("ignored", [])}
            tally["payloads"] += 1
            tally["out_of_scope" if "out_of_scope" in reasons else "refused"] += 1
        assert not quiet.changed(), f"{trick}: the hub or ARM saw something"
    batch = [
        payloads.event_grid_eviction(t, f"batch-{n}", "2026-12-01T12:00:00Z") for n, t in enumerate(crafted.values())
    ]
    answer = stack.post_alert(batch)
    assert answer[0] == 200 and answer[1]["accepted"] == [] and len(answer[1]["ignored"]) == len(batch)
    assert not quiet.changed()
    tally["payloads"] += 1

    # Real evictions outside the scope: the emulator's alerts reach /api/alerts, and the sweep runs over them.
    outsiders = outside_vms(stack)
    stack.wait(lambda: all(_power_of(stack, vm) == "PowerState/running" for vm in outsiders), what="the outsiders")
    control(stack.arm, "/requests", method="DELETE")
    for vm in outsiders:
        control(stack.arm, "/evict", {"id": vm})
    stack.later(900)  # the alerts arrive, and three sweeps run
    delivered = [d for d in control(stack.arm, "/deliveries")["value"] if "outsider" in json.dumps(d["payload"])]
    assert len(delivered) >= 2 * len(outsiders) and all(d["status"] == 200 for d in delivered)
    touched = [
        e for e in world.arm_entries() if "outsider" in e["path"].lower() or payloads.OTHER_RG in e["path"].lower()
    ]
    assert touched == [], touched[:5]
    assert not any(
        i["instanceId"].startswith(recovery_prefix(parse_vm_id(vm))) for vm in outsiders for i in world.instances()
    )
    assert all(_power_of(stack, vm) == "PowerState/deallocated" for vm in outsiders)
    assert _power_of(stack, live) == "PowerState/running"
    soak.add(
        "security: crafted ids and out-of-scope VMs",
        tricks=len(crafted),
        payloads=tally["payloads"],
        refused=tally["refused"],
        out_of_scope=tally["out_of_scope"],
        accepted=0,
        out_of_scope_evictions=len(outsiders),
        alerts_delivered_for_them=len(delivered),
        arm_calls_on_them=len(touched),
        recoveries_started=0,
    )


def _power_of(stack: Stack, vm_id: str) -> str:
    vm = parse_vm_id(vm_id)
    compute = stack.arm.compute_client(subscription=vm.subscription, retry_total=0)
    view = compute.virtual_machines.instance_view(vm.resource_group, vm.name)
    return next((s.code for s in view.statuses or [] if s.code.startswith("PowerState/")), "")


# --- a person's choices, over many mixed events ---------------------------------------------------------------


@dataclass
class Member:
    name: str
    id: str
    ignored: bool = False
    state: str = "running"  # running | evicted | owner_off | ignored_off | owner_starting
    evictions: list[str] = field(default_factory=list)  # evict | evict_then_owner, in order
    owner_calls: int = 0
    since: datetime | None = None  # when it went off (an owner may start it again once every alert is in)


class Mixed:
    """Events drawn from a seeded random generator, applied one at a time with simulated time between them."""

    KINDS: ClassVar[dict[str, int]] = {
        "evict": 34,
        "owner_deallocates": 8,
        "evict_then_owner": 8,
        "evict_ignored": 12,
        "owner_starts": 14,
    }

    def __init__(self, world: World, members: list[Member], seed: int) -> None:
        self.world, self.stack, self.members = world, world.stack, members
        self.rng = random.Random(seed)
        self.owner = world.arm.compute_client(principal=OWNER, retry_total=0)
        self.tally: Counter[str] = Counter()
        self.prefixes = {recovery_prefix(parse_vm_id(m.id)): m for m in members}
        self.width = len(next(iter(self.prefixes)))

    def member_of(self, instance_id: str) -> Member | None:
        return self.prefixes.get(instance_id[: self.width]) if is_recovery_id(instance_id) else None

    def active(self) -> set[str]:
        """Names of members with a recovery still open (running, or settling after it concluded)."""
        with self.world.host.store.tx() as db:
            rows = db.execute("SELECT id, status FROM instances WHERE id LIKE 'respot-%'").fetchall()
        return {m.name for r in rows if r[1] in ACTIVE and (m := self.member_of(str(r[0]))) is not None}

    def step(self) -> None:
        busy = self.active()
        idle = [m for m in self.members if m.name not in busy]
        free = [m for m in idle if not m.ignored and m.state == "running"]
        calm = [m for m in idle if m.ignored and m.state == "running"]
        settled = self.stack.arm.clock.now() - SETTLED
        off = [m for m in idle if m.state in ("owner_off", "ignored_off") and m.since and m.since < settled]
        kind = self.rng.choices([*self.KINDS, "redeliver"], weights=[*self.KINDS.values(), 24])[0]
        if kind in ("evict", "owner_deallocates", "evict_then_owner") and free:
            member = self.rng.choice(free)
            if kind != "owner_deallocates":
                self.evict(member, kind)
            if kind != "evict":  # right after the eviction, before any alert of it arrives
                self.owner_call(member, "deallocate", "owner_off")
        elif kind == "evict_ignored" and calm:
            self.evict(self.rng.choice(calm), kind, state="ignored_off")
        elif kind == "owner_starts" and off:
            self.owner_call(self.rng.choice(off), "start", "owner_starting")
        else:
            self.redeliver()
        self.stack.later(self.rng.choice([20, 45, 90, 180]))
        busy = self.active()
        for m in self.members:  # eligible again once running, and once respot's record of it has closed
            waiting = m.state in ("evicted", "owner_starting") and m.name not in busy
            if waiting and self.stack.power(m.name) == "PowerState/running":
                m.state = "running"

    def evict(self, member: Member, kind: str, state: str = "evicted") -> None:
        control(self.stack.arm, "/evict", {"id": member.id})
        member.state, member.since = state, self.stack.arm.clock.now()
        member.evictions.append(kind)
        self.tally[kind] += 1

    def owner_call(self, member: Member, action: str, state: str) -> None:
        """The owner's own deallocation or start (the Activity Log names them as the caller)."""
        begin = getattr(self.owner.virtual_machines, f"begin_{action}")
        begin(self.world.arm.resource_group, member.name, polling=False)
        member.state, member.owner_calls = state, member.owner_calls + 1
        member.since = self.stack.arm.clock.now()
        self.tally[f"owner_{action}"] += 1

    def redeliver(self) -> None:
        """An alert delivered again (Azure Monitor and Event Grid deliver at least once), often long after."""
        delivered = list(self.world.arm.notifier.deliveries)
        if delivered:
            status, _ = self.stack.post_alert(self.rng.choice(delivered)["payload"])
            assert status in (200, 202), status
            self.tally["redeliveries"] += 1


WRITE_OPS = ("/start/action", "/write", "/deallocate/action", "/delete", "/poweroff/action", "/redeploy/action")


def respot_writes(world: World, member: Member, since: int) -> tuple[int, int]:
    """(writes respot made while the VM's owner had it deallocated, or at all if it is tagged respot:ignore; all
    of respot's writes on it), from the Activity Log after record ``since``: each record names its caller."""
    owner_off = bad = mine = 0
    for rec in world.arm.backend.world.activity[since:]:
        if rec.resource_id.lower() != member.id:
            continue
        op = rec.operation_name.lower()
        if rec.caller == OWNER:
            owner_off = op.endswith("/deallocate/action") or (owner_off and not op.endswith("/start/action"))
        elif op.endswith(WRITE_OPS) and rec.caller != PLATFORM_CALLER:
            mine += 1
            bad += bool(owner_off or member.ignored)
    return bad, mine


def test_a_persons_deallocation_and_the_ignore_tag_are_never_undone(world: World, soak: SoakReport) -> None:
    stack = world.stack
    count = scale(full=30, ci=12)
    names = [f"mix-{n}" for n in range(count)]
    stack.fleet(names)
    ignored = [f"mix-ignored-{n}" for n in range(count // 3)]
    body = vm_body(stack.arm, zones=["1"], tags={"respot:ignore": "true"})
    for name in ignored:
        stack.compute.virtual_machines.begin_create_or_update(stack.arm.resource_group, name, body, polling=False)
    stack.wait(lambda: all(stack.power(n) == "PowerState/running" for n in ignored), what="the ignored VMs")
    world.settle()
    members = [Member(n, payloads.vm_id(n).lower()) for n in names]
    members += [Member(n, payloads.vm_id(n).lower(), ignored=True) for n in ignored]
    mixed = Mixed(world, members, seed=12)
    since = len(world.arm.backend.world.activity)
    for _ in range(MIXED_EVENTS):
        mixed.step()
    stack.wait(lambda: not mixed.active(), what="every recovery to close", within=7 * 86400)

    listed = world.instances()
    assert [(i["instanceId"], i["runtimeStatus"]) for i in listed if i["runtimeStatus"] != "Completed"] == []
    by_vm: dict[str, list[dict[str, Any]]] = {}
    for i in sorted(listed, key=lambda i: str(i["instanceId"])):
        if (member := mixed.member_of(i["instanceId"])) is not None:
            by_vm.setdefault(member.name, []).append(i.get("output") or {})
    undone = respot_total = sweep_only = 0
    for m in members:
        bad, mine = respot_writes(world, m, since)
        undone, respot_total = undone + bad, respot_total + mine
        assert bad == 0, f"{m.name}: respot wrote to it while {'tagged respot:ignore' if m.ignored else 'owner-off'}"
        power = stack.power(m.name)
        if m.state in ("owner_off", "ignored_off"):
            assert power == "PowerState/deallocated", (m.name, m.state, power)
        else:
            assert power == "PowerState/running", (m.name, m.state, power)
        outs = by_vm.get(m.name, [])
        # The sweep also opens a record for a VM it finds deallocated (not one tagged respot:ignore); it restarts
        # nothing without the platform's eviction on record. An eviction's own recovery holds an alert's signal.
        from_alerts = [o for o in outs if any(s["source"] != "sweep" for s in o.get("signals", []))]
        swept = [o for o in outs if o not in from_alerts]
        sweep_only += len(swept)
        assert all(o["outcome"] != "recovered" for o in swept), (m.name, swept)
        # Every eviction has its own recovery (each came after the one before had closed): it brought the VM back,
        # unless the VM is tagged respot:ignore or its owner deallocated it before the first alert.
        assert len(from_alerts) == len(m.evictions), f"{m.name}: evictions {m.evictions}, recoveries {from_alerts}"
        for kind, out in zip(m.evictions, from_alerts, strict=True):
            if m.ignored:
                assert (out["outcome"], out["reason"]) == ("ignored", "tagged_ignore"), (m.name, out)
            elif kind == "evict_then_owner":
                assert out["outcome"] != "recovered" and out["reason"] == "user_deallocated", (m.name, out)
            else:
                assert out["outcome"] == "recovered", (m.name, out)
    t = mixed.tally
    recoveries = [o for outs in by_vm.values() for o in outs]
    soak.add(
        "security: a person's choices",
        events=MIXED_EVENTS,
        vms=len(names),
        ignore_tagged=len(ignored),
        evictions=t["evict"] + t["evict_then_owner"],
        owner_deallocations=t["owner_deallocate"],
        of_which_right_after_an_eviction=t["evict_then_owner"],
        owner_starts=t["owner_start"],
        ignore_tagged_evictions=t["evict_ignored"],
        redeliveries=t["redeliveries"],
        recoveries=len(recoveries),
        recovered=sum(o.get("outcome") == "recovered" for o in recoveries),
        sweep_records=sweep_only,
        respot_writes=respot_total,
        undone=undone,
    )
