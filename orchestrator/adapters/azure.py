"""The Azure side: credentials, SDK clients, and the Compute and ActivityLog ports over them.

Retries belong to tenacity, not azure-core (``retry_total=0``): 429 waits for Retry-After (or retry-after-ms),
5xx and connection errors back off with jitter, all bounded. ARM error codes become the domain's failure kinds
here, once (orchestrator.domain.errors.classify).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    BillingProfile,
    VirtualMachineProperties,
    VirtualMachineScaleSetUpdate,
    VirtualMachineScaleSetUpdateProperties,
    VirtualMachineScaleSetUpdateVMProfile,
    VirtualMachineUpdate,
)
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from orchestrator.domain.classify import VmFacts
from orchestrator.domain.errors import ArmFailure, Failure, classify
from orchestrator.domain.resources import VmRef
from orchestrator.domain.vmstate import status_of
from orchestrator.settings import Settings

log = logging.getLogger("respot.adapters")
T = TypeVar("T")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_backoff = wait_exponential_jitter(multiplier=0.5, max=20)


class LocalcloudCredential:
    """The emulator's static token (``localcloud:<principal>``); only for the localcloud ARM emulator."""

    token = "localcloud:respot"  # noqa: S105 - the emulator's public test token, not a secret

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class LoopbackHttpPolicy(SansIOHTTPPolicy[Any, Any]):
    """Bearer tokens over plain http, for loopback endpoints only (azure-core ``_enforce_https``)."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = urlparse(request.http_request.url)
        if url.scheme == "http" and url.hostname in LOOPBACK:
            request.context["enforce_https"] = False


def credential(settings: Settings) -> TokenCredential:
    if settings.credential == "localcloud":
        return LocalcloudCredential()
    # A user-assigned identity is picked by AZURE_CLIENT_ID, which DefaultAzureCredential reads itself.
    return DefaultAzureCredential()


# --- retries ----------------------------------------------------------------------------------------------------


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code == 429 or (exc.status_code or 0) >= 500)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return min(float(value) * scale, 60.0)
            except ValueError:
                break
    return float(_backoff(state))


def arm_call(fn: Callable[[], T]) -> T:
    """``fn()`` with tenacity's retries; a final failure becomes :class:`ArmFailure`."""
    guarded = retry(
        retry=retry_if_exception(_retryable),
        wait=_wait,
        stop=stop_after_attempt(8) | stop_after_delay(120),
        reraise=True,
    )(fn)
    try:
        return guarded()
    except HttpResponseError as exc:
        raise to_failure(exc) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise ArmFailure(Failure.TRANSIENT, "ConnectionError", str(exc)) from exc


def to_failure(exc: HttpResponseError) -> ArmFailure:
    code = getattr(exc.error, "code", None) or str(exc.status_code or "Unknown")
    message = getattr(exc.error, "message", None) or str(exc.message)
    return ArmFailure(classify(code, exc.status_code, message), code, message, exc.status_code)


# --- Compute --------------------------------------------------------------------------------------------------


class ArmCompute:
    """The Compute port over azure-mgmt-compute: VMs and Uniform scale-set instances."""

    def __init__(self, settings: Settings, cred: TokenCredential | None = None) -> None:
        self.settings = settings
        self._cred = cred or credential(settings)
        self._clients: dict[str, ComputeManagementClient] = {}

    def client(self, subscription: str) -> ComputeManagementClient:
        if subscription not in self._clients:
            self._clients[subscription] = ComputeManagementClient(
                self._cred,
                subscription,
                base_url=self.settings.arm_endpoint,
                retry_total=0,
                polling_interval=self.settings.arm_polling_seconds,
                per_call_policies=[LoopbackHttpPolicy()],
            )
        return self._clients[subscription]

    def facts(self, vm: VmRef) -> VmFacts:
        try:
            return arm_call(lambda: self._instance_facts(vm) if vm.scale_set else self._vm_facts(vm))
        except ArmFailure as failure:
            if failure.kind == Failure.NOT_FOUND:
                return VmFacts(exists=False)
            raise

    def _vm_facts(self, vm: VmRef) -> VmFacts:
        got = self.client(vm.subscription).virtual_machines.get(vm.resource_group, vm.name, expand="instanceView")
        codes = [s.code for s in (got.instance_view.statuses if got.instance_view else []) or [] if s.code]
        billing = got.billing_profile
        return VmFacts(
            exists=True,
            status=status_of(codes),
            priority=_text(got.priority) or "Regular",
            eviction_policy=_text(got.eviction_policy),
            max_price=billing.max_price if billing else None,
            size=_text(got.hardware_profile.vm_size) if got.hardware_profile else None,
            location=got.location,
            tags=dict(got.tags or {}),
            codes=codes,
            health=_health(got.instance_view),
        )

    def _instance_facts(self, vm: VmRef) -> VmFacts:
        client = self.client(vm.subscription)
        scale_set = client.virtual_machine_scale_sets.get(vm.resource_group, str(vm.scale_set))
        view = client.virtual_machine_scale_set_vms.get_instance_view(
            vm.resource_group, str(vm.scale_set), str(vm.instance_id)
        )
        codes = [s.code for s in view.statuses or [] if s.code]
        profile = scale_set.virtual_machine_profile
        return VmFacts(
            exists=True,
            status=status_of(codes),
            priority=(_text(profile.priority) if profile else None) or "Regular",
            eviction_policy=_text(profile.eviction_policy) if profile else None,
            max_price=profile.billing_profile.max_price if profile and profile.billing_profile else None,
            size=scale_set.sku.name if scale_set.sku else None,
            location=scale_set.location,
            tags=dict(scale_set.tags or {}),
            codes=codes,
            health=_health(view),
        )

    def start(self, vm: VmRef) -> None:
        client = self.client(vm.subscription)
        if vm.scale_set:
            arm_call(
                lambda: client.virtual_machine_scale_set_vms.begin_start(
                    vm.resource_group, str(vm.scale_set), str(vm.instance_id)
                ).result()
            )
        else:
            arm_call(lambda: client.virtual_machines.begin_start(vm.resource_group, vm.name).result())

    def set_max_price(self, vm: VmRef, price: float) -> None:
        client, billing = self.client(vm.subscription), BillingProfile(max_price=price)
        if vm.scale_set:
            profile = VirtualMachineScaleSetUpdateVMProfile(billing_profile=billing)
            update = VirtualMachineScaleSetUpdate(
                properties=VirtualMachineScaleSetUpdateProperties(virtual_machine_profile=profile)
            )
            arm_call(
                lambda: client.virtual_machine_scale_sets.begin_update(
                    vm.resource_group, str(vm.scale_set), update
                ).result()
            )
        else:
            patch = VirtualMachineUpdate(properties=VirtualMachineProperties(billing_profile=billing))
            arm_call(lambda: client.virtual_machines.begin_update(vm.resource_group, vm.name, patch).result())


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
