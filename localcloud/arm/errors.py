"""The ARM error envelope, and every Azure error the emulator emits, in one module.

ARM wraps errors as ``{"error": {"code", "message", "target"?, "details"?}}`` (the CloudError in
reference/azure-specs/common-types/v1/common.json); azure-mgmt-core's ARMErrorFormat reads ``e.error.code`` from it.
Messages are Azure's own where a Microsoft doc prints them (error-codes-spot.md, allocation-failure.md); the few
that no doc prints verbatim say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALLOCATION_GUIDANCE = "https://aka.ms/allocation-guidance"
SPOT_MAX_PRICE_RULE = (
    "Invalid max price value. The only supported values for max price are -1 or a decimal greater than zero. "
    "Max price value of -1 indicates the Azure Spot virtual machine will not be evicted for price reasons."
)

# Codes respot treats as "no capacity here, now" (../shared/reference/azure-facts.md section 5).
CAPACITY_CODES = frozenset(
    {
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "SkuNotAvailable",
    }
)


@dataclass
class ArmError(Exception):
    """An ARM failure: HTTP status plus the error body; raised anywhere in the emulator, rendered in one place."""

    status: int
    code: str
    message: str
    target: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        return {"error": self.error()}

    def error(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        return err


# --- request shape ---------------------------------------------------------------------------------------------


def invalid_json(detail: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: '{detail}'.",
    )


def missing_property(name: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", target=name)


def invalid_parameter(name: str, message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=name)


def invalid_resource_name(name: str, kind: str) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceName",
        f"The resource name '{name}' is invalid for {kind}. The name can contain only letters, numbers, "
        "periods, underscores and hyphens, must start with a letter or number and be at most 64 characters.",
    )


def missing_api_version() -> ArmError:
    return ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def no_route(method: str, path: str) -> ArmError:
    return ArmError(
        404,
        "InvalidResourceType",
        f"The resource type could not be found for the request '{method} {path}'.",
    )


def method_not_allowed(method: str, path: str) -> ArmError:
    return ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for '{path}'.")


def payload_too_large(limit: int) -> ArmError:
    return ArmError(413, "RequestEntityTooLarge", f"The request content length exceeds the limit of {limit} bytes.")


def unauthorized() -> ArmError:
    return ArmError(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing or not a Bearer token.",
    )


# --- existence -------------------------------------------------------------------------------------------------


def subscription_not_found(sub: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")


def resource_group_not_found(rg: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def resource_not_found(kind: str, name: str, rg: str, provider: str = "Microsoft.Compute") -> ArmError:
    """ARM's 404; for autoscale settings OBSERVED as "The Resource 'microsoft.insights/autoscalesettings/test'
    under resource group rgname was not found." (Azure/azure-cli#11754)."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{provider}/{kind}/{name}' under resource group '{rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def instance_not_found(scale_set: str, instance_id: str) -> ArmError:
    return ArmError(
        404,
        "NotFound",
        f"The entity was not found in this Azure location. Scale set '{scale_set}' has no instance '{instance_id}'.",
    )


def operation_not_found(op_id: str) -> ArmError:
    return ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")


def invalid_subnet(subnet_id: str) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {subnet_id} referenced by resource was not found. Please make sure that the referenced "
        "resource exists, and that both resources are in the same region.",
    )


def nic_not_found(nic_id: str) -> ArmError:
    return ArmError(400, "NotFound", f"Network interface {nic_id} not found.")


# --- state conflicts -------------------------------------------------------------------------------------------


def operation_not_allowed(message: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message)


def conflicting_operation(name: str, op: str) -> ArmError:
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation '{op}' is not allowed on VM '{name}' since the VM is marked for deletion or another "
        "operation is in progress. Retry the operation after it completes.",
    )


def not_allowed_on_scale_set(operation: str, scale_set: str) -> ArmError:
    """The scale-set VM API on a Flexible set. OBSERVED, not in a Microsoft doc: Microsoft Q&A 1418158 shows
    ``BadRequest`` "Operation 'VirtualMachineScaleSets.virtualMachines.GET' is not allowed on Virtual Machine
    Scale Set ..."; hashicorp/nomad-autoscaler#1096 the same shape for instanceView. The status (400) follows
    the code."""
    return ArmError(
        400,
        "BadRequest",
        f"Operation '{operation}' is not allowed on Virtual Machine Scale Set '{scale_set}'.",
    )


def precondition_failed() -> ArmError:
    """A PUT with ``If-None-Match: *`` on a VM that exists (the spec's IfNoneMatch: "Set to '*' to allow a new
    record set to be created, but to prevent updating an existing record set"; virtualMachine.json 2024-11-01).
    HTTP 412 is the spec's intent; the code and message are NOT CONFIRMED from a live answer."""
    return ArmError(412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met.")


def property_change_not_allowed(prop: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{prop}' is not allowed.", target=prop)


def disk_exists(name: str, rg: str, disk_id: str) -> ArmError:
    """OBSERVED (terraform and PowerShell reports): ConflictingUserInput "Disk X already exists in resource group
    RG. Only CreateOption.Attach is supported." with the group upper-cased and the disk id as target."""
    return ArmError(
        409,
        "ConflictingUserInput",
        f"Disk {name} already exists in resource group {rg.upper()}. Only CreateOption.Attach is supported.",
        target=disk_id,
    )


def disk_in_use(disk_id: str, vm_id: str) -> ArmError:
    # NOT CONFIRMED: no public source prints Azure's answer to attaching a disk another VM holds.
    return ArmError(409, "OperationNotAllowed", f"Disk '{disk_id}' is already attached to VM '{vm_id}'.")


# --- Try & restore and autoscale -----------------------------------------------------------------------------


def spot_restore_only_for_spot() -> ArmError:
    return ArmError(
        400,
        "SpotRestorationIsSupportedOnlyForAzureSpotScaleSets",
        "Spot restoration feature is supported only for Azure Spot virtual machine scale sets.",
    )


def spot_restore_api_version() -> ArmError:
    return ArmError(
        400,
        "SpotRestorationIsNotSupportedForThisAPIVersion",
        "Spot restoration feature is not supported for this API version.",
    )


def autoscale_bad_request(message: str, code: str = "BadRequest") -> ArmError:
    """Autoscale's validation answers BadRequest (OBSERVED, microsoft/onefuzz#2249: "The minimum capacity value '6'
    that you specified in the autoscale setting is greater than the default capacity of '1'. ..."); a body without
    targetResourceUri UnsupportedRequestContent (OBSERVED, Azure/azure-sdk-for-net#43948)."""
    return ArmError(400, code, message)


def autoscale_target_not_found(target: str) -> ArmError:
    # The code is OBSERVED (Azure/azure-powershell#11710); the status and the message are a choice.
    return ArmError(400, "TargetResourceNotFound", f"The target resource id '{target}' was not found.")


def autoscale_target_immutable(name: str, rg: str, target: str) -> ArmError:
    # OBSERVED verbatim in Azure/Moodle#311 and MicrosoftDocs/azure-docs#28175 (a BadRequest).
    return ArmError(
        400,
        "TargetResourceIdIsImmutable",
        f"The autoscale setting '{name}' under resource group '{rg}' is referencing target resource '{target}'. "
        "The target resource reference is immutable. If you want to change it, please create a new autoscale "
        "setting with a different name.",
    )


# --- capacity, quota, price (azure-facts.md section 5) -----------------------------------------------------------


def allocation_failed(zonal: bool) -> ArmError:
    code = "ZonalAllocationFailed" if zonal else "AllocationFailed"
    scope = "zone" if zonal else "region"
    return ArmError(
        409,
        code,
        f"Allocation failed. We do not have sufficient capacity for the requested VM size in this {scope}. "
        f"Read more about improving likelihood of allocation success at {ALLOCATION_GUIDANCE}",
    )


def overconstrained(zonal: bool) -> ArmError:
    code = "OverconstrainedZonalAllocationRequest" if zonal else "OverconstrainedAllocationRequest"
    # No Microsoft doc prints this message verbatim (azure-facts.md: OBSERVED code only).
    return ArmError(
        409,
        code,
        "Allocation failed. VM(s) with the following constraints cannot be allocated, because the condition is "
        f"too restrictive. Please remove some constraints and try again. Read more at {ALLOCATION_GUIDANCE}",
    )


def sku_not_available(size: str, location: str, sub: str) -> ArmError:
    return ArmError(
        409,
        "SkuNotAvailable",
        f"The requested tier for resource '{size}' is currently not available in location '{location}' for "
        f"subscription '{sub}'. Try another tier or deploy to a different location.",
    )


def quota_exceeded(*, family: str, location: str, limit: int, usage: int, required: int) -> ArmError:
    # Exact text not in a Microsoft doc we hold (azure-facts.md "Gaps"); this is the shape seen in the wild.
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation could not be completed as it results in exceeding approved {family} quota. Additional "
        f"details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, Current "
        f"Usage: {usage}, Additional Required: {required}, (Minimum) New Limit Required: {usage + required}. "
        "Submit a request for Quota increase at https://aka.ms/ProdportalCRP by specifying parameters listed in "
        "the 'Details' section for deployment to succeed.",
    )


def spot_price_too_high(operation: str, max_price: float, price: float, size: str) -> ArmError:
    return ArmError(
        409,
        "SpotPriceGreaterThanProvidedMaxPrice",
        f"Unable to perform operation '{operation}' since the provided max price '{max_price:g} USD' is lower "
        f"than the current spot price '{price:g} USD' for Azure Spot Virtual Machine size '{size}'.",
    )


# --- invalid spot configuration (error-codes-spot.md, CONFIRMED) ----------------------------------------------


def max_price_invalid() -> ArmError:
    return ArmError(400, "MaxPriceValueInvalid", SPOT_MAX_PRICE_RULE, target="billingProfile.maxPrice")


def max_price_only_for_spot() -> ArmError:
    return ArmError(
        400,
        "MaxPriceIsSupportedOnlyForAzureSpotVirtualMachines",
        "Max price is supported only for Azure Spot Virtual Machines.",
    )


def eviction_policy_only_for_spot() -> ArmError:
    return ArmError(
        400,
        "EvictionPolicyCanBeSetOnlyOnAzureSpotVirtualMachines",
        "Eviction policy can be set only on Azure Spot Virtual Machines.",
    )


def spot_not_in_availability_set() -> ArmError:
    return ArmError(
        400,
        "AzureSpotVMNotSupportedInAvailabilitySet",
        "Azure Spot Virtual Machine is not supported in Availability Set.",
    )


def spot_not_for_size(size: str) -> ArmError:
    return ArmError(
        400, "AzureSpotIsNotSupportedForThisVMSize", f"Azure Spot is not supported for this VM size {size}."
    )


def max_price_change_allocated(name: str) -> ArmError:
    return ArmError(
        409,
        "MaxPriceChangeNotAllowedForAllocatedVMs",
        f"Max price change is not allowed when the VM '{name}' is currently allocated. Please deallocate and try again.",
    )


def priority_cannot_change(value: str, name: str) -> ArmError:
    return ArmError(
        409,
        "VMPriorityCannotBeApplied",
        f"The specified priority value '{value}' cannot be applied to the Virtual Machine '{name}' since no "
        "priority was specified when the Virtual Machine was created.",
    )


def invalid_size(size: str, location: str) -> ArmError:
    return ArmError(
        400,
        "InvalidParameter",
        f"The value {size} provided for the VM size is not valid. The valid sizes in the current region "
        f"'{location}' are listed by the ResourceSkus API.",
        target="vmSize",
    )


# --- server side -----------------------------------------------------------------------------------------------


def internal_error(message: str = "An internal execution error occurred. Please retry later.") -> ArmError:
    return ArmError(500, "InternalExecutionError", message)


def service_unavailable() -> ArmError:
    return ArmError(
        503,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Please retry later.",
        headers={"Retry-After": "1"},
    )


def throttled_injected(retry_after: int = 1) -> ArmError:
    """An injected 429, shaped like CRP's (troubleshooting-throttling-errors.md), asking for ``retry_after``
    simulated seconds (the doc's sample asks for 1200)."""
    detail = '{"operationGroup":"LowCostGet","allowedRequestCount":36,"measuredRequestCount":37}'
    return ArmError(
        429,
        "OperationNotAllowed",
        "The server rejected the request because too many requests have been received for this subscription.",
        details=[{"code": "TooManyRequests", "target": "LowCostGet", "message": detail}],
        headers={"Retry-After": str(retry_after)},
    )
