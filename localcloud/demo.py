"""``make demo``: respot recovering Spot fleets on localcloud, about an hour of simulated time in half a minute.

One process runs the ARM emulator and the local Functions host (function_app.py) on one clock at 120x. Six
Stop/Deallocate Spot VMs live in two regions; a scripted capacity recall evicts most of them and respot restarts
each when capacity returns. Three Delete-policy VMs of the fleet profile ``api`` live in centralus; a region-wide
recall there deletes them, and respot creates each replacement on the best candidate of the profile's three
regions, printing the ranked choice. Activity Log alerts and Event Grid events reach /api/alerts. Progress prints
as it happens, then a summary per VM. Exit code 0 when every evicted VM runs again (or was replaced).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from localcloud import argtypes
from localcloud.arm import ArmEmulator
from localcloud.arm.scenario import default_subnet
from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.functions.store import HubError, lock_hub

REPO = Path(__file__).resolve().parent.parent
SIZE = "Standard_D2s_v5"
FLEET = {"eastus": ["web-1", "web-2", "web-3"], "westus2": ["batch-1", "batch-2", "batch-3"]}
API = ["api-1", "api-2", "api-3"]  # the Delete-policy fleet "api", in centralus zones 1-3
API_REGIONS = {"centralus": ["1", "2", "3"], "eastus": ["1", "2", "3"], "westus2": ["1", "2", "3"]}
RECALL_CENTRALUS = 7  # minutes: after the inventory sweep (every 5 minutes) recorded the members
# Minutes after the start (simulated): recalls, then capacity coming back in two steps.
TIMELINE = [
    (2, "eastus", 0),
    (4, "westus2", 1),
    (25, "eastus", 2),
    (40, "eastus", 5),
    (45, "westus2", 5),
]


@dataclass
class VmLog:
    name: str
    region: str
    evicted_at: datetime | None = None
    recovered_at: datetime | None = None
    attempts: int = 0
    outcome: str = ""
    seen: set[str] = field(default_factory=set)
    replacement: str = ""  # Delete policy: the new VM and where it went


class Demo:
    def __init__(self, speed: float, workdir: Path) -> None:
        self.clock = Clock(speed=speed)
        self.arm = ArmEmulator(clock=self.clock, seed=7).start()
        os.environ.update(
            RESPOT_SUBSCRIPTIONS=self.arm.subscription,
            RESPOT_RESOURCE_GROUPS=self.arm.resource_group,
            RESPOT_CREDENTIAL="localcloud",
            RESPOT_ARM_ENDPOINT=self.arm.url,
            RESPOT_PRICES_ENDPOINT=self.arm.url,
            RESPOT_LOGS_ENDPOINT=self.arm.url,
            RESPOT_LOG_WORKSPACE_ID="respot-demo",  # the Activity Log: evidence that a vanished VM was evicted
            RESPOT_FLEETS_FILE=str(_fleets_file(self.arm, workdir)),
        )
        self.host = FunctionsHost(
            REPO / "function_app.py", port=0, clock=self.clock, db_path=workdir / "taskhub.sqlite"
        ).start()
        self.start = self.clock.now()
        self.vms = {name: VmLog(name, region) for region, names in FLEET.items() for name in names}
        self.vms |= {name: VmLog(name, "centralus") for name in API}
        self.recoveries: dict[str, str] = {}  # recovery instance id -> VM name
        self.compute = self.arm.compute_client()

    def say(self, text: str) -> None:
        minutes = (self.clock.now() - self.start).total_seconds() / 60
        print(f"[T+{minutes:5.1f} min] {text}", flush=True)

    def control(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.arm.url}/_localcloud{path}", data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    def setup(self) -> None:
        alerts = f"{self.host.url}/api/alerts?code={self.host.keys.function}"
        self.control(
            "/action-groups", {"name": "evictions", "url": alerts, "kind": "activityLogAlert", "delay_seconds": 90}
        )
        self.control("/action-groups", {"name": "health", "url": alerts, "kind": "eventGrid", "delay_seconds": 45})
        self.say(f"ARM emulator {self.arm.url}, Functions host {self.host.url}, clock {self.clock.speed:g}x")
        pollers = []
        for region, names in FLEET.items():
            for name in names:
                pollers.append(
                    self.compute.virtual_machines.begin_create_or_update(
                        self.arm.resource_group, name, _body(self.arm, region)
                    )
                )
        for zone, name in zip(API_REGIONS["centralus"], API, strict=True):
            body = _body(self.arm, "centralus", zone=zone, policy="Delete", tags={"respot-fleet": "api"})
            pollers.append(self.compute.virtual_machines.begin_create_or_update(self.arm.resource_group, name, body))
        for poller in pollers:
            poller.result()
        self.say("fleet running: 6 Spot VMs (Stop/Deallocate) in eastus and westus2, zone 1")
        self.say(
            "fleet 'api' running: 3 Spot VMs (Delete policy) in centralus zones 1-3; profile regions: "
            + ", ".join(API_REGIONS)
        )
        steps = [
            {"at": self.clock.elapsed() + m * 60, "capacity": {"region": r, "zone": "1", "size": SIZE, "available": n}}
            for m, r, n in TIMELINE
        ]
        steps += [
            {
                "at": self.clock.elapsed() + RECALL_CENTRALUS * 60,
                "capacity": {"region": "centralus", "zone": z, "size": SIZE, "available": 0},
            }
            for z in API_REGIONS["centralus"]
        ]
        self.control("/scenario", {"timeline": steps})
        for minutes, region, available in TIMELINE:
            verb = "recalls capacity to" if available < 3 else "restores capacity to"
            self.say(f"scenario: at T+{minutes} min, {region} zone 1 {verb} {available} slots")
        self.say(f"scenario: at T+{RECALL_CENTRALUS} min, all of centralus recalls {SIZE} capacity to 0 (region-wide)")

    def watch(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while time.monotonic() < deadline:
            self.observe()
            if (
                all(v.recovered_at for v in self.vms.values() if v.evicted_at)
                and any(v.evicted_at for v in self.vms.values())
                and self._settled()
            ):
                return True
            pause.wait(0.25)
        return False

    def _settled(self) -> bool:
        """Every recovery has concluded (each then stays open a while for late signals: no need to wait)."""
        recoveries = [i for i in self.instances() if i["name"] == "recover_vm"]
        return all(
            (i.get("customStatus") or {}).get("concludedAt") or i["runtimeStatus"] != "Running" for i in recoveries
        )

    def instances(self) -> list[dict[str, Any]]:
        url = f"{self.host.url}/runtime/webhooks/durabletask/instances?code={self.host.keys.system}"
        with urllib.request.urlopen(url) as resp:
            return list(json.loads(resp.read()))

    def observe(self) -> None:
        powers = {
            vm["name"]: next(
                (
                    s["code"]
                    for s in vm["properties"]["instanceView"]["statuses"]
                    if s["code"].startswith("PowerState/")
                ),
                "",
            )
            for vm in self.control("/state")["vms"]
        }
        for name, log in self.vms.items():
            power = powers.get(name, "")
            if name in API:
                if name not in powers and log.evicted_at is None:
                    log.evicted_at = self.clock.now()
                    self.say(f"{name}: evicted by the region-wide recall, deleted with its disks (Delete policy)")
                continue
            if power == "PowerState/deallocated" and log.evicted_at is None:
                log.evicted_at = self.clock.now()
                self.say(f"{name}: evicted (capacity recall in {log.region}), deallocated")
            if power == "PowerState/running" and log.evicted_at and not log.recovered_at and log.outcome:
                log.recovered_at = self.clock.now()
                self.say(f"{name}: running again after {log.attempts} attempt(s)")
        for inst in self.instances():
            self._progress(inst)

    def _progress(self, inst: dict[str, Any]) -> None:
        """Recoveries publish their VM and outcome; their restart strategy (``<id>:restart``) its attempts."""
        status = inst.get("customStatus") or {}
        if inst["name"] == "recover_vm" and status.get("vm"):
            self.recoveries[inst["instanceId"]] = str(status["vm"]).rsplit("/", 1)[-1]
        name = self.recoveries.get(inst["instanceId"].split(":", 1)[0])
        if name is None or name not in self.vms:
            return
        log = self.vms[name]
        if inst["name"] == "redeploy_vm":
            self._replaced(log, inst)
            return
        if inst["name"] == "recover_vm":
            if status.get("concludedAt") and not log.outcome:
                log.outcome = str(status.get("outcome"))
                if log.outcome != "recovered":
                    self.say(f"{name}: recovery ended: {log.outcome} ({status.get('reason')})")
            return
        log.attempts = max(log.attempts, int(status.get("attempt") or 0))
        key = f"{status.get('phase')}:{status.get('attempt')}"
        if key in log.seen or status.get("phase") != "waiting":
            return
        log.seen.add(key)
        error = (status.get("lastError") or {}).get("code", "?")
        when = (status.get("nextTry") or "")[11:16]
        self.say(f"{name}: attempt {status.get('attempt')} got {error}; next try at {when} (durable timer)")

    def _replaced(self, log: VmLog, inst: dict[str, Any]) -> None:
        """A replacement's strategy finished: print its ranked choice, once."""
        out = inst.get("output") or {}
        if inst["runtimeStatus"] != "Completed" or log.recovered_at or not isinstance(out, dict):
            return
        log.outcome, log.recovered_at = f"{out.get('outcome')}/{out.get('reason')}", self.clock.now()
        ranking, new = out.get("ranking") or {}, (out.get("replacement") or {}).get("new") or {}
        log.attempts = len(out.get("walk") or [])
        if new:
            log.replacement = f"{new['id'].rsplit('/', 1)[-1]} {new['region']}/{new.get('zone') or '-'}"
        self.say(f"{log.name}: {out.get('detail')}")
        self.say(f"    choice: {ranking.get('choice')}")
        for c in (ranking.get("ranked") or [])[1:4]:
            self.say(
                f"    then:   {c['size']} {c['region']}/{c['zone'] or '-'} score {c['score']} (placement "
                f"{c['placementScore']}, eviction {c['evictionRate']}%, price {c['price']})"
            )
        excluded = sorted({f"{c['region']}: {c['excluded']}" for c in ranking.get("excluded") or []})
        for line in excluded[:3]:
            self.say(f"    excluded: {line}")

    def summary(self) -> None:
        requests = self.control("/requests")["entries"]
        print("\nVM        region     evicted    recovered  attempts  ARM calls  outcome")
        for name, log in self.vms.items():
            calls = sum(1 for r in requests if f"/virtualmachines/{name}" in r["path"].lower())
            ev = _clock(log.evicted_at, self.start)
            rec = _clock(log.recovered_at, self.start)
            outcome = (log.outcome or "not evicted") + (f" -> {log.replacement}" if log.replacement else "")
            print(f"{name:<9} {log.region:<10} {ev:<10} {rec:<10} {log.attempts:<9} {calls:<10} {outcome}")

    def stop(self) -> None:
        self.host.stop()
        self.arm.stop()


def _clock(when: datetime | None, start: datetime) -> str:
    return f"T+{(when - start).total_seconds() / 60:.1f}m" if when else "-"


def _fleets_file(arm: ArmEmulator, workdir: Path) -> Path:
    """The fleet profile 'api': its template and the three regions' subnets (RESPOT_FLEETS_FILE)."""
    image = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}
    profile = {
        "name": "api",
        "desired": 3,
        "template": {"image": image, "admin": {"username": "azureuser", "ssh_public_key": DEMO_KEY}},
        "sizes": [SIZE, "Standard_D4s_v5"],
        "placements": [
            {"region": r, "zones": z, "subnet": default_subnet(arm.subscription, arm.resource_group, r)}
            for r, z in API_REGIONS.items()
        ],
        "healthy_seconds": 60,
    }
    path = workdir / "fleets.yaml"
    path.write_text(json.dumps({"fleets": [profile]}, indent=2))  # JSON is YAML
    return path


DEMO_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmQEMKGP4Jd4kdl2pjyc6rzb3E5eXgNOQ8dEovCc6Wj respot-demo"


def _body(
    arm: ArmEmulator, region: str, *, zone: str = "1", policy: str = "Deallocate", tags: dict[str, str] | None = None
) -> dict[str, Any]:
    nic = {
        "name": "nic",
        "properties": {
            "primary": True,
            "ipConfigurations": [
                {
                    "name": "ip",
                    "properties": {"subnet": {"id": default_subnet(arm.subscription, arm.resource_group, region)}},
                }
            ],
        },
    }
    return {
        "location": region,
        "zones": [zone],
        "tags": {"app": "respot-demo", **(tags or {})},
        "properties": {
            "hardwareProfile": {"vmSize": SIZE},
            "priority": "Spot",
            "evictionPolicy": policy,
            "billingProfile": {"maxPrice": -1},
            "storageProfile": {
                "imageReference": {
                    "publisher": "Canonical",
                    "offer": "ubuntu-24_04-lts",
                    "sku": "server",
                    "version": "latest",
                }
            },
            "osProfile": {"computerName": "demo", "adminUsername": "azureuser"},
            "networkProfile": {"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": [nic]},
        },
    }


def _parse(argv: list[str] | None, prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--speed",
        type=argtypes.number(0, inclusive=False),
        default=120.0,
        help="simulated seconds per real second (default 120)",
    )
    parser.add_argument(
        "--timeout",
        type=argtypes.number(0, inclusive=False),
        default=150.0,
        help="real seconds before giving up (default 150)",
    )
    parser.add_argument(
        "--hub-dir",
        type=Path,
        default=REPO / ".respot" / "demo",
        help="where the demo keeps its task hub, keys and fleets file (default .respot/demo; emptied at start)",
    )
    parser.add_argument(
        "--inspect-port",
        type=argtypes.port(1),
        default=7072,
        help="the port the printed `respot serve` reopens the hub on",
    )
    args = parser.parse_args(argv)
    problem = _not_a_folder(args.hub_dir)
    if problem:
        parser.error(f"--hub-dir {args.hub_dir}: {problem}")
    if _listening(args.inspect_port):  # _fresh would delete the hub under the `respot serve` a last run printed
        parser.error(
            f"port {args.inspect_port} is in use, maybe by the `respot serve` an earlier demo printed, on "
            f"{_shown(args.hub_dir)}/taskhub.sqlite: stop it (kill %1) or pass another --inspect-port and --hub-dir"
        )
    return args


def _not_a_folder(path: Path) -> str | None:
    while not path.exists():
        path = path.parent
    return None if path.is_dir() else f"{path} is a file, not a directory"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None, *, prog: str = "python -m localcloud.demo") -> int:
    args = _parse(argv, prog)
    logging.basicConfig(level=logging.WARNING)
    try:
        workdir = _fresh(args.hub_dir)
    except HubError as exc:  # a `respot serve` an earlier demo printed still has it open
        print(f"{prog}: {exc}: stop it first (kill it, or pass another --hub-dir)", file=sys.stderr)
        return 2
    demo = Demo(args.speed, workdir)
    began = time.monotonic()
    try:
        demo.setup()
        ok = demo.watch(args.timeout)
        demo.summary()
    finally:
        demo.stop()
    wall = time.monotonic() - began
    if ok:
        print(f"\nevery evicted VM is running again ({wall:.0f} s of wall time)")
    else:
        print(f"\nnot every VM recovered within {args.timeout:.0f} s", file=sys.stderr)
    print(inspect_commands(workdir, args.inspect_port))
    return 0 if ok else 1


def _fresh(folder: Path) -> Path:
    """The demo's folder, emptied of a previous run's task hub (its keys stay: the printed commands find them). The
    hub's lock is held meanwhile, so a host still serving it is named instead of losing its files; the lock file
    itself stays (store.lock_hub: unlinking it would race with a host opening it)."""
    folder.mkdir(parents=True, exist_ok=True)
    held = lock_hub(folder / "taskhub.sqlite")
    try:
        for old in folder.glob("taskhub.sqlite*"):
            if old.suffix != ".lock":
                old.unlink()
    finally:
        os.close(held)
    return folder


def inspect_commands(workdir: Path, port: int) -> str:
    """How to look at what the demo did: reopen its task hub on a stopped clock (what was due by then runs once,
    then nothing: no ARM emulator, no timers firing), then read it with the CLI."""
    hub, respot = _shown(workdir), _respot()
    target = f"--app http://127.0.0.1:{port} --hub {hub}"
    lines = [
        f"\nThe demo's task hub is kept in {hub}/taskhub.sqlite. To look at what respot did, reopen it (clock stopped):",
        f"  {respot} serve --db {hub}/taskhub.sqlite --port {port} --speed 0 --no-arm &",
        "then, while it runs:",
        f"  {respot} recoveries {target}",
        f"  {respot} history web-1 {target}",
        f"  {respot} history api-1 {target}",
        f"  {respot} recoveries --failed --json {target}",
        f"Stop it with: kill %1 (its keys are in {hub}/keys.json)",
    ]
    return "\n".join(lines)


def _respot() -> str:
    """How to type the respot command here: ``respot`` when the shell finds this one, else its path (``make demo``
    runs from .venv without activating it)."""
    script = Path(sys.executable).parent / "respot"
    found = shutil.which("respot")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "respot"
    return _shown(script) if script.exists() else f"{sys.executable} -m orchestrator.cli"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it (shorter to copy), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


if __name__ == "__main__":
    sys.exit(main())
