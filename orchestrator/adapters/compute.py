"""The Compute port over azure-mgmt-compute: VM facts, and writes that return at once with the operation to watch.

No call here waits for a long-running operation. A write is sent with a polling method that keeps the initial
response and stops (``polling=`` is the SDK's public hook for it): the Azure-AsyncOperation URL and Retry-After of
that response go back to the orchestration, which waits on durable timers and reads the status with
:meth:`ArmCompute.operation` (the Durable Functions monitor pattern). So no worker slot is held while Azure works.

Scale sets: a Uniform instance is addressed through the scale-set VM API and its model (maxPrice...) belongs to the
whole set, so respot never changes it for one instance; a Flexible member is an ordinary VM resource.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.polling import PollingMethod
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import BillingProfile, VirtualMachineProperties, VirtualMachineUpdate

from orchestrator.adapters import arm
from orchestrator.adapters.credentials import LoopbackHttpPolicy, RateReadingsPolicy, credential
from orchestrator.domain.errors import ArmFailure, Failure, missing_of
from orchestrator.domain.models import InvalidInput, Operation, ScaleSetMode, VmFacts, VmRef, iso, parse_iso
from orchestrator.domain.scope import parse_vm_id
from orchestrator.domain.vmstate import failed_provisioning, status_of
from orchestrator.ports import OperationState
from orchestrator.settings import Settings

LIST_API = "2026-04-01"  # the api-version azure-mgmt-compute sends for VirtualMachines_Get and _ListAll


class Accepted(PollingMethod[None]):
    """Keep a long-running operation's first response and stop there: the orchestration does the waiting."""

    def __init__(self) -> None:
        self.response: Any = None

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        self.response = initial_response

    def run(self) -> None:
        return None

    def status(self) -> str:
        return "Accepted"

    def finished(self) -> bool:
        return True

    def resource(self) -> None:
        return None

    def operation(self) -> Operation | None:
        """The Azure-AsyncOperation to watch; None when ARM answered 200 without one (already done)."""
        headers = {k.lower(): v for k, v in arm.headers_of(self.response).items()}
        url = headers.get("azure-asyncoperation") or headers.get("location")
        return Operation(url, arm.retry_after_of(headers)) if url else None


class ArmCompute:
    def __init__(self, settings: Settings, cred: TokenCredential | None = None) -> None:
        self.settings = settings
        self._cred = cred or credential(settings)
        self._clients: dict[str, ComputeManagementClient] = {}
        self._listed: dict[str, tuple[float, list[tuple[VmRef, VmFacts]]]] = {}  # subscription -> (monotonic, VMs)

    @property
    def credential(self) -> TokenCredential:
        return self._cred

    def client(self, subscription: str) -> ComputeManagementClient:
        if subscription not in self._clients:
            self._clients[subscription] = ComputeManagementClient(
                self._cred,
                subscription,
                base_url=self.settings.arm_endpoint,
                retry_total=0,
                per_call_policies=[LoopbackHttpPolicy()],
                per_retry_policies=[RateReadingsPolicy()],
            )
        return self._clients[subscription]

    # --- reads ----------------------------------------------------------------------------------------------

    def facts(self, vm: VmRef) -> VmFacts:
        try:
            return arm.read(lambda: self._instance_facts(vm) if vm.scale_set else self._vm_facts(vm))
        except ArmFailure as failure:
            if failure.kind == Failure.NOT_FOUND:
                return VmFacts(exists=False, missing=missing_of(failure.code))
            raise

    def list_vms(self, subscription: str, *, status: bool = False, max_age: float = 0.0) -> list[tuple[VmRef, VmFacts]]:
        """Every standalone VM of the subscription, from its model; with ``status``, also each one's instance view
        from a second list, ``statusOnly=true`` (its entries carry no model: no tags, no priority, so both lists are
        needed; Azure/azure-sdk-for-go#18565). Two reads per subscription, whatever the number of VMs. With
        ``max_age``, the models listed that recently on this instance answer (the instance views never do)."""
        if not status:
            return list(self._models(subscription, max_age))
        views = self._views(subscription)
        return [
            (ref, _json_facts(raw, views.get(ref.id)))
            for raw in self._list_all(subscription, "")
            if (ref := _ref_of(raw))
        ]

    def _models(self, subscription: str, max_age: float) -> list[tuple[VmRef, VmFacts]]:
        """The VMs from their models, as listed at most ``max_age`` seconds ago on this instance (facts built once
        per list: a wave's creates and rankings share it)."""
        hit = self._listed.get(subscription)
        if max_age > 0 and hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
        found = [(ref, _json_facts(raw, None)) for raw in self._list_all(subscription, "") if (ref := _ref_of(raw))]
        self._listed[subscription] = (time.monotonic(), found)
        return found

    def _views(self, subscription: str) -> dict[str, Any]:
        listed = self._list_all(subscription, "&statusOnly=true")
        views = {}
        for raw in listed:
            ref = _ref_of(raw)
            if ref is not None:
                views[ref.id] = (raw.get("properties") or {}).get("instanceView") or {}
        return views

    def _list_all(self, subscription: str, query: str) -> list[dict[str, Any]]:
        """VirtualMachines_ListAll as JSON, every page: the same reads as the SDK's pager, without building a
        model per VM (azure-mgmt-compute's deserialiser costs ~0.5 ms a VM: half a CPU second per list of a
        thousand, and the fleet activities list once per replacement)."""
        url = f"{self.settings.arm_endpoint}/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachines"
        next_url: str | None = f"{url}?api-version={LIST_API}{query}"
        found: list[dict[str, Any]] = []
        while next_url:
            body = arm.read(functools.partial(self._get, subscription, next_url)).json() or {}
            found += [v for v in body.get("value") or [] if isinstance(v, dict)]
            next_url = body.get("nextLink") if isinstance(body.get("nextLink"), str) else None
        return found

    def list_instances(self, subscription: str, resource_group: str, scale_set: str) -> list[tuple[VmRef, VmFacts]]:
        """VirtualMachineScaleSetVMs_List with ``$expand=instanceView``: one read for the whole set."""
        client = self.client(subscription)
        found = arm.read(
            lambda: list(client.virtual_machine_scale_set_vms.list(resource_group, scale_set, expand="instanceView"))
        )
        out = []
        for ref, got in _identified(found):
            view = got.properties.instance_view if got.properties else None
            size = got.sku.name if got.sku else None
            out.append((ref, _facts(view, mode=ScaleSetMode.UNIFORM, size=size, location=got.location)))
        return out

    def _vm_facts(self, vm: VmRef) -> VmFacts:
        """VirtualMachines_Get with ``$expand=instanceView``, read as JSON like the lists (one facts builder)."""
        url = (
            f"{self.settings.arm_endpoint}/subscriptions/{vm.subscription}/resourceGroups/{vm.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{vm.name}?$expand=instanceView&api-version={LIST_API}"
        )
        raw = self._get(vm.subscription, url).json() or {}
        return _json_facts(raw, (raw.get("properties") or {}).get("instanceView"))

    def _instance_facts(self, vm: VmRef) -> VmFacts:
        client = self.client(vm.subscription)
        scale_set = client.virtual_machine_scale_sets.get(vm.resource_group, str(vm.scale_set))
        view = client.virtual_machine_scale_set_vms.get_instance_view(
            vm.resource_group, str(vm.scale_set), str(vm.instance_id)
        )
        props = scale_set.properties
        profile = props.virtual_machine_profile if props else None
        return _facts(
            view,
            priority=_text(profile.priority) if profile else None,
            eviction_policy=_text(profile.eviction_policy) if profile else None,
            max_price=profile.billing_profile.max_price if profile and profile.billing_profile else None,
            size=scale_set.sku.name if scale_set.sku else None,
            location=scale_set.location,
            tags=dict(scale_set.tags or {}),
            mode=ScaleSetMode.UNIFORM,
        )

    def operation(self, operation: Operation) -> OperationState:
        sub = operation.url.split("/subscriptions/", 1)[1].split("/", 1)[0]
        response = arm.read(lambda: self._get(sub, operation.url))
        body = response.json() if response.content else {}
        error = body.get("error") or {}
        return OperationState(
            str(body.get("status") or "InProgress"),
            arm.retry_after_of(response.headers),
            error.get("code"),
            str(error.get("message") or ""),
        )

    def _get(self, subscription: str, url: str) -> Any:
        response = self.client(subscription).send_request(HttpRequest("GET", url))
        response.raise_for_status()
        return response

    # --- writes: sent once, never waited for -----------------------------------------------------------------

    def begin_start(self, vm: VmRef) -> Operation | None:
        accepted, client = Accepted(), self.client(vm.subscription)
        if vm.scale_set:
            arm.write(
                lambda: client.virtual_machine_scale_set_vms.begin_start(
                    vm.resource_group, str(vm.scale_set), str(vm.instance_id), polling=accepted
                )
            )
        else:
            arm.write(lambda: client.virtual_machines.begin_start(vm.resource_group, vm.name, polling=accepted))
        return accepted.operation()

    def begin_create(self, vm: VmRef, body: dict[str, Any]) -> Operation | None:
        """PUT the VM with ``If-None-Match: *``: a create only. A VM of that name already there is left as it is
        and ARM answers 412 (ArmFailure with ``status`` 412): a repeated create never makes a second VM, and
        never needs a read first to know."""
        accepted, client = Accepted(), self.client(vm.subscription)
        arm.write(
            lambda: client.virtual_machines.begin_create_or_update(
                vm.resource_group, vm.name, cast(Any, body), polling=accepted, match_condition=MatchConditions.IfMissing
            )
        )
        return accepted.operation()

    def begin_delete(self, vm: VmRef) -> Operation | None:
        accepted, client = Accepted(), self.client(vm.subscription)
        arm.write(lambda: client.virtual_machines.begin_delete(vm.resource_group, vm.name, polling=accepted))
        return accepted.operation()

    def begin_set_max_price(self, vm: VmRef, price: float) -> Operation | None:
        if vm.scale_set:  # a Uniform instance's maxPrice is the whole scale set's model: not respot's to change
            raise ArmFailure(Failure.CONFIG, "UniformInstance", "maxPrice of a Uniform scale-set instance is the set's")
        accepted, client = Accepted(), self.client(vm.subscription)
        patch = VirtualMachineUpdate(
            properties=VirtualMachineProperties(billing_profile=BillingProfile(max_price=price))
        )
        arm.write(lambda: client.virtual_machines.begin_update(vm.resource_group, vm.name, patch, polling=accepted))
        return accepted.operation()

    def simulate_eviction(self, vm: VmRef) -> None:
        """POST simulateEviction (204): the platform evicts the Spot VM after its usual notice, and the eviction's
        signals follow as for a real one (the drill the Azure guidance recommends; ``respot drill``). Sent once."""
        client = self.client(vm.subscription)
        if vm.scale_set:
            arm.write(
                lambda: client.virtual_machine_scale_set_vms.simulate_eviction(
                    vm.resource_group, str(vm.scale_set), str(vm.instance_id)
                )
            )
        else:
            arm.write(lambda: client.virtual_machines.simulate_eviction(vm.resource_group, vm.name))


def _identified(listed: list[Any]) -> Iterator[tuple[VmRef, Any]]:
    """Each listed resource with its VmRef; one whose id breaks ARM's name rules is not respot's to touch."""
    for got in listed:
        try:
            yield parse_vm_id(str(got.id)), got
        except InvalidInput:
            continue


def _facts(view: Any, *, mode: ScaleSetMode | None, **fields: Any) -> VmFacts:
    statuses = [s for s in (getattr(view, "statuses", None) or []) if s.code]
    codes = [s.code for s in statuses]
    return VmFacts(
        exists=True,
        status=status_of(codes),
        provisioning_failed=failed_provisioning(codes),
        codes=codes,
        health=_health(view),
        changed_at=_changed_at(statuses),
        scale_set_mode=mode,
        **{**fields, "priority": fields.get("priority") or "Regular"},
    )


def _ref_of(raw: dict[str, Any]) -> VmRef | None:
    try:
        return parse_vm_id(str(raw.get("id")))
    except InvalidInput:
        return None  # an id that breaks ARM's name rules is not respot's to touch


def _json_facts(raw: dict[str, Any], view: dict[str, Any] | None) -> VmFacts:
    """A VM's facts from its JSON (a Get or a list entry) and its instance view's JSON."""
    props = raw.get("properties") or {}
    storage = props.get("storageProfile") or {}
    member_of = (props.get("virtualMachineScaleSet") or {}).get("id")
    statuses = [
        SimpleNamespace(code=s.get("code"), time=_parsed(s.get("time")))
        for s in (view or {}).get("statuses") or []
        if isinstance(s, dict)
    ]
    health = ((view or {}).get("vmHealth") or {}).get("status") or {}
    return _facts(
        SimpleNamespace(statuses=statuses, vm_health=SimpleNamespace(status=SimpleNamespace(code=health.get("code")))),
        priority=props.get("priority"),
        eviction_policy=props.get("evictionPolicy"),
        max_price=(props.get("billingProfile") or {}).get("maxPrice"),
        size=(props.get("hardwareProfile") or {}).get("vmSize"),
        location=raw.get("location"),
        tags=dict(raw.get("tags") or {}),
        mode=ScaleSetMode.FLEXIBLE if member_of else None,
        zone=(raw.get("zones") or [""])[0],
        data_disks=[
            {
                "lun": int(d["lun"]),
                "size_gb": int(d.get("diskSizeGB") or 0),
                "type": (d.get("managedDisk") or {}).get("storageAccountType") or "Premium_LRS",
            }
            for d in storage.get("dataDisks") or []
            if isinstance(d, dict) and isinstance(d.get("lun"), int) and d.get("diskSizeGB")
        ],
        scale_set_name=_last(member_of) if member_of else "",
        created_at=_when(_parsed(props.get("timeCreated"))),
    )


def _parsed(value: Any) -> datetime | None:
    try:
        return parse_iso(value, "time") if isinstance(value, str) else None
    except InvalidInput:
        return None


def _when(value: Any) -> str:
    return iso(value) if isinstance(value, datetime) else ""


def _last(resource_id: Any) -> str:
    return str(resource_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def _changed_at(statuses: list[Any]) -> str | None:
    """The time of the ProvisioningState status: when the VM's last operation (a start, a deallocation, an
    eviction) ended. InstanceViewStatus.time, "The time of the status" (computeRPCommon.json)."""
    when = next((s.time for s in statuses if str(s.code).lower().startswith("provisioningstate/")), None)
    return iso(when) if isinstance(when, datetime) else None


def _health(view: Any) -> str | None:
    """``HealthState/healthy`` from the instance view's vmHealth -> "healthy"; None without the extension."""
    code = getattr(getattr(getattr(view, "vm_health", None), "status", None), "code", None)
    return str(code).split("/", 1)[-1].lower() if code else None


def _text(value: Any) -> str | None:
    """SDK enums are str subclasses whose str() is their repr: take the wire value."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


@lru_cache(maxsize=1)
def compute_for(settings: Settings) -> ArmCompute:
    return ArmCompute(settings)
