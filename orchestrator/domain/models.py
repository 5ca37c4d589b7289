"""respot's shared vocabulary: VM references and facts, eviction signals, what an activity came back with, and how
a recovery ended (closed sets, as StrEnums, so workflows branch on values, never on message text).

Everything here crosses the durable boundary as plain JSON (``to_dict`` / ``from_dict``): orchestrators read
activity results and their own input through these types. ``from_dict`` validates, because an orchestration's input
is not trusted (anyone with the durable system key can start one). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

IGNORE_TAG = "respot:ignore"


class InvalidInput(ValueError):
    """A value that crossed a trust boundary is not what it must be; the message names the field."""


# --- VMs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VmRef:
    """A standalone VM (``scale_set`` None) or a Uniform scale-set instance. Fields are lower-case.

    Built only by :func:`orchestrator.domain.scope.parse_vm_id` or :meth:`from_dict`, which apply ARM's name rules.
    """

    subscription: str
    resource_group: str
    name: str
    scale_set: str | None = None
    instance_id: str | None = None

    @property
    def id(self) -> str:
        base = f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/microsoft.compute"
        if self.scale_set is not None:
            return f"{base}/virtualmachinescalesets/{self.scale_set}/virtualmachines/{self.instance_id}"
        return f"{base}/virtualmachines/{self.name}"

    @property
    def scale_set_id(self) -> str | None:
        return self.id.rsplit("/virtualmachines/", 1)[0] if self.scale_set is not None else None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> VmRef:
        """Raises :class:`InvalidInput` unless ``data`` names a VM by ARM's rules."""
        from orchestrator.domain.scope import InvalidResourceId, parse_vm_id

        if not isinstance(data, dict):
            raise InvalidInput("vm must be an object")
        sub, rg, name = data.get("subscription"), data.get("resource_group"), data.get("name")
        ss, iid = data.get("scale_set"), data.get("instance_id")
        if ss is None:
            raw = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        else:
            raw = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{ss}/virtualMachines/{iid}"
        try:
            return parse_vm_id(raw)
        except InvalidResourceId as exc:
            raise InvalidInput(f"vm: {exc}") from None


class VmStatus(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"  # powered off but still allocated (and billed): a person did that, not an eviction
    STOPPING = "stopping"
    DEALLOCATED = "deallocated"
    DEALLOCATING = "deallocating"
    CREATING = "creating"
    UPDATING = "updating"
    DELETING = "deleting"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Missing(StrEnum):
    """What a 404 said is not there: only a missing VM can be an eviction under the Delete policy."""

    VM = "vm"
    RESOURCE_GROUP = "resource_group"
    SUBSCRIPTION = "subscription"


class ScaleSetMode(StrEnum):
    UNIFORM = "uniform"  # instances through the scale-set VM API; the model (maxPrice...) belongs to the set
    FLEXIBLE = "flexible"  # members are ordinary VM resources


@dataclass(frozen=True)
class VmFacts:
    """What one read of the VM (with its instance view) said."""

    exists: bool
    missing: Missing | None = None
    status: VmStatus = VmStatus.UNKNOWN
    provisioning_failed: str | None = None  # the code of ProvisioningState/failed/<code>, e.g. after a failed start
    priority: str | None = None
    eviction_policy: str | None = None
    max_price: float | None = None
    size: str | None = None
    location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    health: str | None = None  # Application Health extension: healthy | unhealthy | unknown | None (not installed)
    scale_set_mode: ScaleSetMode | None = None
    zone: str = ""  # the VM's availability zone, "" for a regional VM
    scale_set_name: str = ""  # the Flexible scale set a VM belongs to
    data_disks: list[dict[str, Any]] = field(default_factory=list)  # {lun, size_gb, type}: what a replacement needs
    changed_at: str | None = None  # the ProvisioningState status's time: when the VM's last operation ended
    created_at: str = ""  # the VM's timeCreated (ISO 8601), "" when ARM did not say

    @property
    def is_spot(self) -> bool:
        return (self.priority or "").lower() in ("spot", "low")

    @property
    def delete_policy(self) -> bool:
        return (self.eviction_policy or "").lower() == "delete"

    @property
    def ignored_by_tag(self) -> bool:
        return any(k.lower() == IGNORE_TAG and str(v).lower() not in ("false", "0", "no") for k, v in self.tags.items())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmFacts:
        def enum(kind: type[StrEnum], key: str) -> Any:
            return kind(data[key]) if data.get(key) is not None else None

        return cls(
            **{
                **data,
                "missing": enum(Missing, "missing"),
                "status": VmStatus(data.get("status", "unknown")),
                "scale_set_mode": enum(ScaleSetMode, "scale_set_mode"),
            }
        )


# --- signals ----------------------------------------------------------------------------------------------------


class Source(StrEnum):
    ACTIVITY_LOG = "activity-log-alert"
    RESOURCE_HEALTH = "resource-health-alert"
    EVENT_GRID = "event-grid"
    CLOUD_EVENTS = "cloud-events"
    AGENT = "in-vm-agent"  # Scheduled Events Preempt: before the eviction, at least 30 s ahead (best effort)
    SWEEP = "sweep"  # the reconciliation sweep found the VM deallocated, failed to start, or gone (app/sweep.py)


MAX_EVENT_ID = 200
SWEEP_LOOKBACK = timedelta(minutes=15)  # a deallocation takes minutes; ARM ends an operation's wait long before this
# The oldest state a sweep acts on, and how far back a sweep's recovery looks for the platform's evictSpotVM record:
# a VM deallocated longer ago than this is not restarted by a sweep (first deployment, a VM newly in scope).
SWEEP_MAX_AGE = timedelta(days=7)
SWEEP_DEALLOCATED = "deallocated"  # the sweep's finding whose recovery needs the platform's eviction record


@dataclass(frozen=True)
class Signal:
    """One report that a VM was (or is about to be) evicted. ``occurred_at`` is when the source says it happened
    (for the agent's notice: NotBefore, when the eviction is due)."""

    vm: VmRef
    source: Source
    event_id: str
    occurred_at: datetime

    @property
    def key(self) -> str:
        """What makes two deliveries the same signal (alerts and events are delivered at least once)."""
        return f"{self.source.value}:{self.event_id}"

    @property
    def wants_eviction_record(self) -> bool:
        """A sweep found the VM deallocated: nothing says who deallocated it, and any later operation on it (a tag
        change, a resize) moves the time the sweep sees, so its recovery restarts it only on the platform's
        ``evictSpotVM`` record, newer than a person's last deallocation or power-off."""
        return self.source == Source.SWEEP and self.event_id.startswith(SWEEP_DEALLOCATED + "@")

    @property
    def is_notice(self) -> bool:
        return self.source == Source.AGENT

    @property
    def since(self) -> datetime:
        """From when a recovery asks the Activity Log what a person did. The sweep's time is when the VM's last
        operation *ended* (or when it was last seen), so the deallocation or deletion that led there began
        before it: look back SWEEP_LOOKBACK further."""
        return self.occurred_at - SWEEP_LOOKBACK if self.source == Source.SWEEP else self.occurred_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm": self.vm.to_dict(),
            "source": self.source.value,
            "event_id": self.event_id,
            "occurred_at": iso(self.occurred_at),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signal:
        if not isinstance(data, dict):
            raise InvalidInput("signal must be an object")
        try:
            source = Source(str(data.get("source")))
        except ValueError:
            raise InvalidInput(f"signal.source: unknown source {str(data.get('source'))[:40]!r}") from None
        event_id = data.get("event_id")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
            raise InvalidInput(f"signal.event_id must be a string of 1 to {MAX_EVENT_ID} characters")
        return cls(VmRef.from_dict(data.get("vm")), source, event_id, parse_iso(data.get("occurred_at"), "occurred_at"))


@dataclass(frozen=True)
class Ignored:
    """A payload (or one event of it) that is not acted on, and why: every signal is acted on or recorded so."""

    reason: str
    detail: str
    source: str = ""


# --- what an activity came back with ------------------------------------------------------------------------------


class Step(StrEnum):
    OK = "ok"  # a read: ``facts``
    ACCEPTED = "accepted"  # ARM took a write: ``operation`` to watch
    RUNNING = "running"  # the operation is still in progress
    DONE = "done"  # the operation (or a synchronous write) succeeded
    FAILED = "failed"  # ARM refused, or the operation failed: ``failure``
    SKIPPED = "skipped"  # the write's guard read said not to write: ``facts`` and ``reason``
    THROTTLED = "throttled"  # 429: nothing happened; wait ``retry_after`` at least
    TRANSIENT = "transient"  # 5xx or no connection before sending: nothing happened; retry soon
    UNKNOWN = "unknown"  # a write was sent but no answer came: read before trying again
    OUT_OF_SCOPE = "out_of_scope"  # respot may not touch this (settings): no ARM call was made


@dataclass(frozen=True)
class Operation:
    """An ARM long-running operation to watch: its Azure-AsyncOperation status URL and the suggested wait."""

    url: str
    retry_after: float | None = None
    polls: int = 0  # looks already taken (an operation watched on across continue-as-new)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Operation:
        """Raises InvalidInput unless ``data`` names an operation by its URL."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise InvalidInput("an operation needs its url")
        retry_after, polls = data.get("retry_after"), data.get("polls", 0)
        if not (retry_after is None or isinstance(retry_after, int | float)) or not isinstance(polls, int):
            raise InvalidInput("an operation's retry_after and polls are numbers")
        return cls(data["url"][:1000], retry_after, polls)


@dataclass(frozen=True)
class FailureInfo:
    kind: str  # orchestrator.domain.errors.Failure
    code: str
    message: str
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StepResult:
    """An activity's answer. Only bugs raise; everything ARM can say is one of these."""

    step: Step
    facts: VmFacts | None = None
    operation: Operation | None = None
    failure: FailureInfo | None = None
    retry_after: float | None = None
    reason: str = ""
    value: str | None = None  # a small answer (the user action seen, an eviction record's time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "facts": self.facts.to_dict() if self.facts else None,
            "operation": self.operation.to_dict() if self.operation else None,
            "failure": self.failure.to_dict() if self.failure else None,
            "retry_after": self.retry_after,
            "reason": self.reason,
            "value": self.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(
            Step(data["step"]),
            VmFacts.from_dict(data["facts"]) if data.get("facts") else None,
            Operation.from_dict(data["operation"]) if data.get("operation") else None,
            FailureInfo(**data["failure"]) if data.get("failure") else None,
            data.get("retry_after"),
            str(data.get("reason") or ""),
            data.get("value"),
        )


# --- how a recovery ends --------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    RECOVERED = "recovered"  # running (and healthy when required) again
    IGNORED = "ignored"  # not an eviction respot should undo: the reason says why
    NOT_FOUND = "not_found"  # the VM, its resource group or subscription does not exist, with no sign of an eviction
    NOT_PROTECTED = "not_protected"  # deleted by a Delete-policy eviction, but no fleet profile covers it
    FAILED = "failed"  # waiting cannot help (quota, configuration, an error that keeps coming back)
    GAVE_UP = "gave_up"  # the retry deadline passed
    STOPPED = "stopped"  # something changed while respot waited (a person, a resize, a deletion)
    REJECTED = "rejected"  # the orchestration's input is not a recovery respot started
    RETURNED = "returned"  # a Regular fallback was replaced by a Spot VM (orchestrator.workflows.revert)
    KEPT = "kept"  # a return to Spot left the Regular fallback in place: the reason says why


class Reason(StrEnum):
    EVICTED = "evicted"
    NO_EVICTION_RECORD = "no_eviction_record"  # a sweep found it deallocated; the platform's eviction is not on record
    ALREADY_RUNNING = "already_running"
    USER_STOPPED = "user_stopped"
    USER_DEALLOCATED = "user_deallocated"
    USER_DELETED = "user_deleted"
    TAGGED_IGNORE = "tagged_ignore"
    NOT_SPOT = "not_spot"
    OUT_OF_SCOPE = "out_of_scope"
    IN_TRANSITION = "in_transition"
    VM_MISSING = "vm_missing"
    RESOURCE_GROUP_MISSING = "resource_group_missing"
    SUBSCRIPTION_MISSING = "subscription_missing"
    DELETED_BY_EVICTION = "deleted_by_eviction"
    STARTED_MEANWHILE = "started_meanwhile"
    DELETED_MEANWHILE = "deleted_meanwhile"
    RESIZED_MEANWHILE = "resized_meanwhile"
    QUOTA = "quota"
    CONFIG = "config"
    UNKNOWN_ERROR = "unknown_error"
    DEADLINE = "deadline"
    BAD_INPUT = "bad_input"
    REPLACED = "replaced"  # a replacement runs (and held for the profile's healthy_seconds)
    REPLACED_REGULAR = "replaced_regular"  # a Regular-priority fallback replacement runs, marked respot:fallback
    NO_FLEET = "no_fleet"  # no profile's membership tag is on the VM
    NOT_REMEMBERED = "not_remembered"  # respot never recorded the VM before it was deleted: it cannot rebuild it
    FLEET_FULL = "fleet_full"  # the fleet already has its desired count of live members: nothing is created
    NO_CANDIDATE = "no_candidate"  # every size x region x zone fails a limit waiting cannot lift (quota, restrictions)
    TRY_AND_RESTORE = "try_and_restore"  # the scale set restores its own instances (spotRestorePolicy)
    AUTOSCALED = "autoscaled"  # an autoscale setting owns the scale set's capacity
    CAPACITY_RESTORED = "capacity_restored"  # the scale set's sku.capacity is back to what it was
    WAVE_JOINED = "wave_joined"  # another recovery of this eviction wave restores the scale set's capacity
    RETURNED = "returned_to_spot"  # the Spot VM held for healthy_seconds, then the Regular fallback was deleted
    NO_GOOD_CANDIDATE = "no_good_candidate"  # no Spot candidate ranks well enough (yet), or not for long enough
    LOST_IN_WARM_UP = "lost_in_warm_up"  # the Spot VM was evicted or failed before it held: nothing Regular deleted
    CREATE_FAILED = "create_failed"  # the Spot VM could not be created (capacity, price, quota): the fallback stays
    FALLBACK_KEPT = "fallback_kept"  # deleting the fallback would leave the fleet below desired or keep_regular
    MOVED = "moved"  # a Spot member on a worse offering was replaced by one on a better offering (revert.better_by)
    NOT_WORSE = "not_worse"  # the Spot member's own offering ranks within revert.better_by of the best good one


# --- time ---------------------------------------------------------------------------------------------------------


def iso(when: datetime) -> str:
    """UTC, ISO 8601 with a Z: how times are written in outputs and inputs."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def parse_iso(value: Any, name: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text (a Z, an offset, or none meaning UTC), between 2000 and 2200 (so
    that no arithmetic on it can leave datetime's range). Raises InvalidInput."""
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        raise InvalidInput(f"{name} must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not an ISO 8601 time") from None
    return in_range(when, name)


def in_range(when: datetime, name: str) -> datetime:
    """``when`` as aware UTC, if it lies between 2000 and 2200. Raises InvalidInput."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not EARLIEST <= when <= LATEST:  # compared before converting: astimezone can overflow at the edges
        raise InvalidInput(f"{name}: {when.isoformat()} is not between 2000 and 2200")
    return when.astimezone(UTC)
