"""The emulator's state and its scheduler: one lock, one clock, one queue of things due in simulated time.

Everything that happens later in Azure (an LRO finishing, a recalled VM being evicted after its 30 s notice, an
alert reaching a webhook) is a scheduled callback here. ``tick()`` runs whatever is due; it runs before every
request and on a background thread, so the world moves on even when nobody asks.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from localcloud.arm import catalog
from localcloud.arm.models import (
    ActivityRecord,
    AllocationFault,
    AutoscaleSetting,
    Disk,
    Json,
    Nic,
    Operation,
    Orchestration,
    ScaleSet,
    ScheduledEvent,
    Vault,
    Vm,
)
from localcloud.clock import Clock

log = logging.getLogger(__name__)

PLATFORM_CALLER = "Microsoft.Compute"  # NOT CONFIRMED: no public record shows the caller of evictSpotVM.


@dataclass
class Durations:
    """Simulated seconds each long-running operation takes (scenario ``durations`` overrides)."""

    create: float = 40.0
    start: float = 25.0
    deallocate: float = 30.0
    power_off: float = 15.0
    delete: float = 20.0
    update: float = 5.0
    allocation_failure: float = 8.0
    preempt_notice: float = 30.0  # Scheduled Events Preempt: at least 30 s (spot-vms.md)
    autoscale_interval: float = 60.0  # how often the autoscale engine evaluates a setting (NOT CONFIRMED)
    spot_restore_retry: float = 60.0  # how often Try & restore looks for capacity again (NOT CONFIRMED)


@dataclass
class World:
    """All resource state. Keys are lower-cased resource ids: ARM ids are case-insensitive."""

    resource_groups: dict[tuple[str, str], str] = field(default_factory=dict)  # (sub, rg.lower()) -> name
    subscriptions: set[str] = field(default_factory=set)
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id lower -> region
    vms: dict[str, Vm] = field(default_factory=dict)
    scale_sets: dict[str, ScaleSet] = field(default_factory=dict)
    autoscale: dict[str, AutoscaleSetting] = field(default_factory=dict)  # Microsoft.Insights/autoscalesettings
    operations: dict[str, Operation] = field(default_factory=dict)
    disks: dict[str, Disk] = field(default_factory=dict)
    nics: dict[str, Nic] = field(default_factory=dict)
    capacity: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (region, zone, size.lower())
    # What an empty pool answers an allocation with (scenario capacity "code"): AllocationFailed when not set.
    empty_codes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    prices: dict[tuple[str, str], float] = field(default_factory=dict)  # (region, size.lower())
    eviction_rates: dict[tuple[str, str], str] = field(default_factory=dict)
    quotas: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (sub, region, usage name)
    restrictions: set[tuple[str, str, str]] = field(default_factory=set)  # (region, zone or "", size.lower())
    activity: list[ActivityRecord] = field(default_factory=list)
    scheduled_events: dict[str, list[ScheduledEvent]] = field(default_factory=dict)
    incarnations: dict[str, int] = field(default_factory=dict)
    evictions: list[tuple[datetime, str, str]] = field(default_factory=list)  # (time, region, size.lower())
    price_history: list[tuple[datetime, str, str, float]] = field(default_factory=list)  # (time, region, size, USD/h)
    regions: dict[str, tuple[str, ...]] = field(default_factory=lambda: {r: z for r, (z, _) in catalog.REGIONS.items()})
    vaults: dict[str, Vault] = field(default_factory=dict)  # Key Vault data plane: vault name (lower) -> vault


class Backend:
    """State, time and the scheduler; the operations live in ``compute``, ``scalesets`` and ``evictions``."""

    def __init__(self, clock: Clock, *, seed: int = 0) -> None:
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.world = World()
        self.durations = Durations()
        self.lro_factor = 1.0  # > 1 when a "slow LRO" fault is injected
        self.log_delay = 0.0  # seconds before an Activity Log record reaches Log Analytics (AzureActivity)
        self._queue: list[tuple[datetime, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()
        # The due time of the callback this thread is running (see ``tick``); per thread, so a request logged on
        # another thread meanwhile reads the clock, not the ticker's callback.
        self._running = threading.local()
        self.allocation_faults: list[AllocationFault] = []
        self.listeners: list[Callable[[ActivityRecord], None]] = []
        self.annotation_listeners: list[Callable[[Vm, str, datetime], None]] = []

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Simulated time; inside a scheduled callback, the time it was due (see ``tick``)."""
        running: datetime | None = getattr(self._running, "at", None)
        return running or self.clock.now()

    def schedule(self, delay: float, label: str, fn: Callable[[], None]) -> datetime:
        """Run ``fn`` (under the lock) once ``delay`` simulated seconds have passed."""
        due = self.now() + timedelta(seconds=max(0.0, delay))
        with self.lock:
            heapq.heappush(self._queue, (due, next(self._seq), label, fn))
        self.clock.wake()
        return due

    def next_due(self) -> datetime | None:
        with self.lock:
            return self._queue[0][0] if self._queue else None

    def tick(self) -> int:
        """Run every callback that is due; returns how many ran."""
        ran = 0
        with self.lock:
            now = self.clock.now()
            while self._queue and self._queue[0][0] <= now:
                due, _, label, fn = heapq.heappop(self._queue)
                # Each callback runs "at" its due time, so what it schedules in turn (a recall's 30 s notice)
                # lands where it would have if time had flowed, even after a jump of the clock.
                self._running.at = due
                try:
                    fn()
                except Exception:  # a bug in one callback must not stop the world
                    log.exception("scheduled callback %s failed", label)
                finally:
                    self._running.at = None
                ran += 1
        return ran

    def pending(self) -> list[tuple[datetime, str]]:
        with self.lock:
            return sorted((due, label) for due, _, label, _ in self._queue)

    def clear_schedule(self) -> None:
        with self.lock:
            self._queue.clear()

    # --- async operations -------------------------------------------------------------------------------------

    def begin_operation(self, *, sub: str, location: str, name: str, resource_id: str) -> Operation:
        op = Operation(str(uuid.uuid4()), sub, location, name, resource_id, self.now())
        self.world.operations[op.op_id] = op
        return op

    def finish_operation(self, op: Operation, error: Json | None = None) -> None:
        op.end_time = self.now()
        op.status = "Failed" if error else "Succeeded"
        op.error = error

    def complete(self, op: Operation, seconds: float, label: str, fn: Callable[[], None]) -> None:
        """Schedule the work that finishes ``op`` after ``seconds`` (stretched by a slow-LRO fault)."""
        op.expected_end = self.schedule(seconds * self.lro_factor, label, fn)

    def take_allocation_fault(self, vm: Vm) -> AllocationFault | None:
        """Consume one injected allocation failure that applies to ``vm``, if any."""
        for fault in self.allocation_faults:
            if fault.remaining > 0 and fault.matches(vm):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.allocation_faults.remove(fault)
                return fault
        return None

    # --- activity log -----------------------------------------------------------------------------------------

    def record(
        self,
        *,
        operation: str,
        status: str,
        caller: str,
        resource_id: str,
        correlation_id: str | None = None,
        properties: Json | None = None,
        level: str = "Informational",
        category: str = "Administrative",
    ) -> ActivityRecord:
        parts = resource_id.split("/")
        rec = ActivityRecord(
            event_data_id=str(uuid.uuid4()),
            correlation_id=correlation_id or str(uuid.uuid4()),
            operation_name=operation,
            status=status,
            caller=caller,
            resource_id=resource_id,
            subscription=parts[2] if len(parts) > 2 else "",
            resource_group=parts[4] if len(parts) > 4 else "",
            timestamp=self.now(),
            level=level,
            category=category,
            properties=properties or {},
        )
        self.world.activity.append(rec)
        for listener in self.listeners:
            listener(rec)
        return rec

    def annotate(self, vm: Vm, annotation: str) -> None:
        """A Resource Health annotation (resource-health-vm-annotation.md), for alerts and Event Grid."""
        for listener in self.annotation_listeners:
            listener(vm, annotation, self.now())

    # --- lookups ----------------------------------------------------------------------------------------------

    def price(self, region: str, size: str) -> float:
        key = (region, size.lower())
        if key in self.world.prices:
            return self.world.prices[key]
        spec = catalog.size_of(size)
        return catalog.default_spot_price(region, spec) if spec else 0.0

    def capacity(self, region: str, zone: str, size: str) -> int:
        return self.world.capacity.get((region, zone, size.lower()), catalog.DEFAULT_CAPACITY)

    def zones_of(self, region: str) -> tuple[str, ...]:
        return self.world.regions.get(region, ())

    def slots_of(self, region: str) -> tuple[str, ...]:
        """Capacity pools of a region: its zones, or the one regional pool "" when it has none."""
        return self.zones_of(region) or ("",)

    def quota(self, sub: str, region: str, name: str) -> int:
        key = (sub, region, name)
        if key in self.world.quotas:
            return self.world.quotas[key]
        if name == "lowPriorityCores":
            return catalog.DEFAULT_LOW_PRIORITY_CORES
        if name == "cores":
            return catalog.DEFAULT_TOTAL_CORES
        if name == "virtualMachines":
            return catalog.DEFAULT_VM_COUNT
        return catalog.DEFAULT_FAMILY_CORES

    def vms_in_scale_set(self, ss: ScaleSet) -> list[Vm]:
        """A Uniform set's instances by instance id; a Flexible set's member VMs, oldest first."""
        if ss.orchestration == Orchestration.FLEXIBLE:
            members = (vm for vm in self.world.vms.values() if vm.member_of == ss.key)
            return sorted(members, key=lambda v: (v.time_created, v.name))
        prefix = ss.key + "/virtualmachines/"
        return sorted(
            (vm for key, vm in self.world.vms.items() if key.startswith(prefix)),
            key=lambda v: int(v.instance_id or 0),
        )

    def scale_set_of(self, vm: Vm) -> ScaleSet | None:
        """The set ``vm`` is an instance (Uniform) or a member (Flexible) of."""
        if vm.member_of is not None:
            return self.world.scale_sets.get(vm.member_of)
        if vm.scale_set is None:
            return None
        return self.world.scale_sets.get(vm.key.rsplit("/virtualmachines/", 1)[0])
