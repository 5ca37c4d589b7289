"""Small simulators of the ports, with state, a call log and scenario verbs (SkyPilot's FakeCloud, moto's backends).

:class:`FakeCompute` keeps VMs and long-running operations on a clock the test (or the replay Driver) moves:
``begin_start`` returns an operation that succeeds after ``start_seconds`` when there is capacity, or fails after
``fail_seconds`` with ``ZonalAllocationFailed``; faults queued with :meth:`FakeCompute.fail_next` answer the next
matching call instead (a 429 with Retry-After, a 5xx, a dropped connection that still applied the write, an
operation ending with an unknown code). It does not model throttling buckets, prices or scale sets' models.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator import readings
from orchestrator.activities import capacity, fleet, logs, policy, returns
from orchestrator.activities import compute as compute_activities
from orchestrator.domain.capacity import ScaleSetFacts
from orchestrator.domain.classify import UserAction
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.models import Missing, Operation, VmFacts, VmRef, VmStatus
from orchestrator.domain.placement import Scores, Sku
from orchestrator.ports import OperationState
from orchestrator.settings import Settings
from orchestrator.workflows import names

SUB = "11111111-2222-3333-4444-555555555555"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ARM = "https://management.azure.com"

CODES = {
    VmStatus.CREATING: ["ProvisioningState/creating"],
    VmStatus.RUNNING: ["ProvisioningState/succeeded", "PowerState/running"],
    VmStatus.STARTING: ["ProvisioningState/updating", "PowerState/starting"],
    VmStatus.DEALLOCATED: ["ProvisioningState/succeeded", "PowerState/deallocated"],
    VmStatus.STOPPED: ["ProvisioningState/succeeded", "PowerState/stopped"],
}


def vm_ref(name: str = "vm1", rg: str = "rg") -> VmRef:
    return VmRef(SUB, rg, name)


@dataclass
class FakeVm:
    status: VmStatus = VmStatus.DEALLOCATED
    size: str = "Standard_D2s_v5"
    priority: str = "Spot"
    eviction_policy: str = "Deallocate"
    changed_at: str | None = None  # the ProvisioningState time the instance view gives
    max_price: float = 0.05
    tags: dict[str, str] = field(default_factory=dict)
    failed_code: str | None = None
    location: str = "eastus"
    zone: str = ""
    body: dict[str, Any] = field(default_factory=dict)  # the create's request body, for VMs respot created
    created_at: str = ""  # timeCreated, ISO 8601


@dataclass
class FakeOp:
    name: str
    vm: str
    ends: datetime
    code: str | None = None  # the failure code when it ends, None: succeeds
    applied: bool = False


@dataclass
class FakeCompute:
    now: datetime = T0
    capacity: bool = True
    start_seconds: float = 30
    fail_seconds: float = 8
    create_seconds: float = 40
    vms: dict[str, FakeVm] = field(default_factory=dict)
    refs: dict[str, VmRef] = field(default_factory=dict)
    ops: dict[str, FakeOp] = field(default_factory=dict)
    create_codes: dict[str, str] = field(default_factory=dict)  # offering key -> the code its Spot creates fail with
    evict_after: dict[str, float] = field(default_factory=dict)  # offering key -> seconds a new VM lives there
    delete_fails: str | None = None  # a code every delete ends with: ARM accepts it, its operation fails, the VM stays
    faults: list[tuple[str, Any]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    started_at: list[datetime] = field(default_factory=list)  # when each start was sent
    remaining: dict[str, int] = field(default_factory=dict)  # the x-ms-ratelimit-remaining-* readings a start sees
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- scenario verbs ---------------------------------------------------------------------------------------

    def add(self, vm: VmRef, **kw: Any) -> FakeVm:
        self.vms[vm.id], self.refs[vm.id] = FakeVm(**kw), vm
        return self.vms[vm.id]

    def created(self) -> list[FakeVm]:
        """VMs respot created, in order."""
        return [vm for vm in self.vms.values() if vm.body]

    def fail_next(self, call: str, fault: Any) -> None:
        """``call``: facts | start | operation | price | create | delete; ``fault``: an ArmFailure to raise, or for ``operation``
        a code the operation ends with; ``("applied", ArmFailure)`` applies the write, then raises."""
        self.faults.append((call, fault))

    def tick(self, now: datetime) -> None:
        self.now = now
        for op in self.ops.values():
            if op.ends <= now and not op.applied and op.vm in self.vms:
                op.applied, vm = True, self.vms[op.vm]
                if vm.status == VmStatus.STARTING:
                    vm.status = VmStatus.DEALLOCATED if op.code else VmStatus.RUNNING
                    vm.failed_code = op.code
                elif vm.status == VmStatus.CREATING:
                    vm.status = VmStatus.FAILED if op.code else VmStatus.RUNNING
                    vm.failed_code = op.code
        for op in list(self.ops.values()):
            vm = self.vms.get(op.vm)
            life = self.evict_after.get(_offering_key(vm)) if vm is not None and vm.body else None
            if (
                vm is not None
                and life is not None
                and vm.status == VmStatus.RUNNING
                and now >= op.ends + timedelta(seconds=life)
            ):
                del self.vms[op.vm]  # a Delete-policy eviction: gone with its disks

    def count(self, call: str) -> int:
        return sum(1 for c, _ in self.log if c == call)

    # --- the port ----------------------------------------------------------------------------------------------

    def _fault(self, call: str) -> Any:
        for i, (name, fault) in enumerate(self.faults):
            if name == call:
                del self.faults[i]
                return fault
        return None

    def facts(self, vm: VmRef) -> VmFacts:
        self.log.append(("facts", vm.id))
        readings.record({}, "GET")  # what the request spends of ARM's buckets
        fault = self._fault("facts")
        if isinstance(fault, ArmFailure):
            raise fault
        got = self.vms.get(vm.id)
        if got is None:
            return VmFacts(exists=False, missing=Missing.VM)
        codes = list(CODES.get(got.status, []))
        if got.failed_code:
            codes[:1] = [f"ProvisioningState/failed/{got.failed_code}"]
        return VmFacts(
            exists=True,
            status=got.status,
            provisioning_failed=got.failed_code,
            priority=got.priority,
            eviction_policy=got.eviction_policy,
            max_price=got.max_price,
            size=got.size,
            location=got.location,
            tags=dict(got.tags),
            codes=codes,
            zone=got.zone,
            changed_at=got.changed_at,
            created_at=got.created_at,
        )

    def list_instances(self, subscription: str, resource_group: str, scale_set: str) -> list[tuple[VmRef, VmFacts]]:
        self.log.append(("list_instances", scale_set))
        return []

    def list_vms(self, subscription: str, *, status: bool = False, max_age: float = 0.0) -> list[tuple[VmRef, VmFacts]]:
        self.log.append(("list", subscription))
        readings.record({}, "GET")  # what the request spends of ARM's buckets
        return [
            (self.refs[i], self.facts(self.refs[i]))
            for i in list(self.vms)
            if self.refs[i].subscription == subscription
        ]

    def begin_create(self, vm: VmRef, body: dict[str, Any]) -> Operation | None:
        self.log.append(("create", vm.id))
        readings.record({}, "PUT")  # what the request spends of ARM's buckets
        fault = self._fault("create")
        if isinstance(fault, ArmFailure):
            raise fault
        if vm.id in self.vms:  # If-None-Match: *
            raise ArmFailure(Failure.CONFIG, "PreconditionFailed", "the VM exists", 412)
        props = body["properties"]
        got = FakeVm(
            status=VmStatus.CREATING,
            size=props["hardwareProfile"]["vmSize"],
            priority=props.get("priority", "Regular"),
            eviction_policy=props.get("evictionPolicy", ""),
            max_price=(props.get("billingProfile") or {}).get("maxPrice", -1),
            tags=dict(body.get("tags") or {}),
            location=body["location"],
            zone=(body.get("zones") or [""])[0],
            body=body,
        )
        self.vms[vm.id], self.refs[vm.id] = got, vm
        code = self.create_codes.get(_offering_key(got)) if got.priority == "Spot" else None
        seconds = self.fail_seconds if code else self.create_seconds
        return self._operation("create", vm, seconds, code, fault)

    def begin_delete(self, vm: VmRef) -> Operation | None:
        self.log.append(("delete", vm.id))
        fault = self._fault("delete")
        if fault is not None:
            raise fault
        readings.record({}, "DELETE")  # what the request spends of ARM's buckets
        if self.delete_fails:
            return self._operation("delete", vm, self.fail_seconds, self.delete_fails, None)
        self.vms.pop(vm.id, None)
        return None

    def _operation(self, name: str, vm: VmRef, seconds: float, code: str | None, fault: Any) -> Operation:
        op_id = f"op{next(self._ids)}"
        self.ops[op_id] = FakeOp(name, vm.id, self.now + timedelta(seconds=seconds), code)
        if isinstance(fault, tuple) and fault[0] == "applied":
            raise fault[1]
        return Operation(
            f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/{op_id}", 10
        )

    def begin_start(self, vm: VmRef) -> Operation | None:
        self.log.append(("start", vm.id))
        readings.record({}, "POST")  # what the request spends of ARM's buckets
        self.started_at.append(self.now)
        readings.record({f"{readings.PREFIX}{k}": str(v) for k, v in self.remaining.items()})
        fault = self._fault("start")
        applied = isinstance(fault, tuple) and fault[0] == "applied"
        if isinstance(fault, ArmFailure):
            raise fault
        got = self.vms[vm.id]
        code = self._fault("operation")
        if code is None and not self.capacity:
            code = "ZonalAllocationFailed"
        op = FakeOp(
            "start", vm.id, self.now + timedelta(seconds=self.fail_seconds if code else self.start_seconds), code
        )
        got.status, got.failed_code = VmStatus.STARTING, None
        op_id = f"op{next(self._ids)}"
        self.ops[op_id] = op
        if applied:
            raise fault[1]
        return Operation(
            f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/{op_id}", 10
        )

    def operation(self, operation: Operation) -> OperationState:
        self.log.append(("operation", operation.url))
        readings.record({}, "GET")  # what the request spends of ARM's buckets
        fault = self._fault("poll")
        if isinstance(fault, ArmFailure):
            raise fault
        op = self.ops.get(operation.url.rsplit("/", 1)[1])
        if op is None:
            raise ArmFailure(Failure.NOT_FOUND, "NotFound", "no such operation", 404)
        if op.ends > self.now:
            return OperationState("InProgress", 10)
        if op.code:
            return OperationState("Failed", None, op.code, f"{op.code} (fake)")
        return OperationState("Succeeded")

    def begin_set_max_price(self, vm: VmRef, price: float) -> Operation | None:
        self.log.append(("price", vm.id))
        readings.record({}, "PATCH")  # what the request spends of ARM's buckets
        self.vms[vm.id].max_price = price
        return None


def _offering_key(vm: FakeVm | None) -> str:
    return f"{vm.size.lower()}/{vm.location}/{vm.zone or '-'}" if vm is not None else ""


@dataclass
class FakeMarket:
    """The market a ranking reads: resource SKUs, quota, spot prices, eviction rates and placement scores."""

    sku_table: dict[str, dict[str, Sku]] = field(default_factory=dict)  # region -> size lower -> Sku
    free: dict[str, dict[str, int]] = field(default_factory=dict)  # region -> usage name -> free units
    prices: dict[str, dict[str, float]] = field(default_factory=dict)  # region -> size lower -> USD/h
    rates: dict[tuple[str, str], str] = field(default_factory=dict)
    scores: dict[str, str] = field(default_factory=dict)
    stale: bool = False
    renewed_in: float | None = None  # seconds until the scores are asked again (the adapter's cache ends)
    log: list[str] = field(default_factory=list)

    def offer(
        self,
        region: str,
        size: str,
        *,
        price: float,
        vcpus: int = 2,
        family: str = "standardDSv5Family",
        zones: tuple[str, ...] = ("1", "2", "3"),
        rate: str = "0-5",
        score: str = "High",
    ) -> FakeMarket:
        self.sku_table.setdefault(region, {})[size.lower()] = Sku(size, vcpus, vcpus * 4.0, family, zones=zones)
        self.prices.setdefault(region, {})[size.lower()] = price
        self.rates[(size.lower(), region)] = rate
        for zone in zones or ("",):
            self.scores[f"{size.lower()}/{region}/{zone or '-'}"] = score
        self.free.setdefault(region, {"cores": 100, "lowPriorityCores": 100})[family] = 100
        return self

    def skus(self, subscription: str, region: str) -> dict[str, Sku]:
        return dict(self.sku_table.get(region, {}))

    def quota(self, subscription: str, region: str) -> dict[str, int]:
        return dict(self.free.get(region, {}))

    def spot_prices(self, region: str) -> dict[str, float]:
        return dict(self.prices.get(region, {}))

    def eviction_rates(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], str]:
        return {k: v for k, v in self.rates.items() if k[0] in sizes and k[1] in regions}

    def placement_scores(self, subscription: str, sizes: list[str], regions: list[str]) -> Scores:
        self.log.append("scores")
        return Scores(dict(self.scores), stale=self.stale, renewed_in=self.renewed_in)


@dataclass
class FakeScaleSet:
    capacity: int = 10
    mode: str = "Uniform"
    spot: bool = True
    delete_policy: bool = True
    restore: bool = False
    autoscale: tuple[str, ...] = ()


@dataclass
class FakeScaleSets:
    """Scale sets by name: a PATCH of sku.capacity lands after ``patch_seconds`` (or fails with ``patch_code``)."""

    sets: dict[str, FakeScaleSet] = field(default_factory=dict)
    compute: FakeCompute | None = None  # its clock and operations carry the PATCH
    patch_code: str | None = None
    log: list[tuple[str, int]] = field(default_factory=list)

    def facts(self, subscription: str, resource_group: str, name: str) -> ScaleSetFacts:
        s = self.sets[name]
        sid = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
        return ScaleSetFacts(sid, s.capacity, s.mode, s.spot, s.delete_policy, s.restore, s.autoscale)

    def begin_set_capacity(self, subscription: str, resource_group: str, name: str, capacity: int) -> Operation | None:
        self.log.append((name, capacity))
        if self.patch_code is None:
            self.sets[name].capacity = capacity
        assert self.compute is not None
        ref = VmRef(subscription, resource_group, name)
        return self.compute._operation("patch", ref, 20, self.patch_code, None)

    def list_scale_sets(self, subscription: str) -> list[tuple[str, str, ScaleSetFacts, dict[str, str]]]:
        return [("rg", n, self.facts(subscription, "rg", n), {}) for n in self.sets]


@dataclass
class FakeSecrets:
    """Key Vault secrets by (vault url, name); a missing one is the CONFIG failure Key Vault's 404 becomes."""

    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def ssh_key(self, vault_url: str, secret_name: str) -> str:
        value = self.values.get((vault_url, secret_name))
        if value is None:
            raise ArmFailure(Failure.CONFIG, "SecretNotFound", f"Key Vault secret '{secret_name}' not found", 404)
        return value


@dataclass
class FakeActivityLog:
    user_actions: dict[str, UserAction] = field(default_factory=dict)
    evictions: dict[str, datetime] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    faults: dict[str, list[Exception]] = field(default_factory=dict)  # "user" | "eviction" -> raised next, in turn

    def last_user_action(self, vm: VmRef, since: datetime) -> UserAction | None:
        self._query("user", vm)
        return self.user_actions.get(vm.id)

    def eviction_record(self, vm: VmRef, since: datetime) -> datetime | None:
        self._query("eviction", vm)
        return self.evictions.get(vm.id)

    def _query(self, kind: str, vm: VmRef) -> None:
        self.log.append((kind, vm.id))
        pending = self.faults.get(kind)
        if pending:
            raise pending.pop(0)


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"subscriptions": SUB, "arm_endpoint": ARM, "credential": "localcloud"}
    return Settings(**{**base, **values})


@dataclass
class World:
    """The fakes behind every activity, wired the way compose.py wires the real adapters."""

    compute: FakeCompute = field(default_factory=FakeCompute)
    activity_log: FakeActivityLog = field(default_factory=FakeActivityLog)
    config: Settings = field(default_factory=settings)
    market: FakeMarket = field(default_factory=FakeMarket)
    fleets: Fleets = field(default_factory=Fleets)
    scale_sets: FakeScaleSets = field(default_factory=FakeScaleSets)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)

    def __post_init__(self) -> None:
        self.scale_sets.compute = self.compute

    def with_settings(self, **values: Any) -> World:
        return replace(self, config=settings(**values))

    def activity(self, name: str, payload: Any, now: datetime) -> Any:
        self.compute.tick(now)
        scope = self.config.scope
        table: dict[str, Any] = {
            names.RECOVERY_POLICY: lambda: policy.recovery_policy(self.config),
            names.READ_VM: lambda: compute_activities.read_vm(payload, self.compute, scope),
            names.TRY_START: lambda: compute_activities.try_start(payload, self.compute, scope),
            names.CHECK_OPERATION: lambda: compute_activities.check_operation(payload, self.compute, self.config),
            names.RAISE_MAX_PRICE: lambda: compute_activities.raise_max_price(payload, self.compute, self.config),
            names.USER_ACTION: lambda: logs.user_action(payload, self.activity_log, scope),
            names.EVICTION_RECORD: lambda: logs.eviction_record(payload, self.activity_log, scope),
            names.FLEET_PROFILE: lambda: fleet.fleet_profile(payload, self.fleets),
            names.GATHER_MARKET: lambda: fleet.gather_market(payload, self.market, self.compute, self.fleets, scope),
            names.CREATE_VM: lambda: fleet.create_vm(
                payload, self.compute, self.market, self.secrets, self.fleets, scope
            ),
            names.DELETE_VM: lambda: fleet.delete_vm(payload, self.compute, scope),
            names.CREATE_RETURN: lambda: returns.create_return(
                payload, self.compute, self.market, self.secrets, self.fleets, scope
            ),
            names.DELETE_FALLBACK: lambda: returns.delete_fallback(payload, self.compute, self.fleets, scope),
            names.READ_SCALE_SET: lambda: capacity.read_scale_set(payload, self.scale_sets, scope),
            names.SET_CAPACITY: lambda: capacity.set_capacity(payload, self.scale_sets, scope),
        }
        return table[name]()
