"""ARM error code -> what kind of failure it is, mapped once (azure-facts.md section 5). Pure.

Synchronous answers carry an HTTP status; a long-running operation that ends Failed carries only the code in its
status body (async-operations.md). A code respot does not know is never read as "give up": from an operation it is
UNKNOWN (retried like a transient fault until a bounded count says otherwise), from a 5xx TRANSIENT.
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.domain.models import FailureInfo, Missing


class Failure(StrEnum):
    CAPACITY = "capacity"  # retry later in place (Deallocate) or elsewhere (Delete)
    QUOTA = "quota"  # waiting will not help; needs another region or more quota
    PRICE = "price"  # the spot price is above the VM's maxPrice
    CONFIG = "config"  # the request itself is wrong: never retry
    THROTTLED = "throttled"  # 429: wait Retry-After
    TRANSIENT = "transient"  # 5xx, connection trouble before the request was sent: retry soon
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # another operation is in flight on the VM: retry soon
    UNKNOWN = "unknown"  # an unrecognised code from a finished operation: retry, a bounded number of times
    NO_ANSWER = "no_answer"  # a write was sent and no answer came: its outcome is unknown, read before retrying


CAPACITY_CODES = frozenset(
    {
        "allocationfailed",
        "zonalallocationfailed",
        "overconstrainedallocationrequest",
        "overconstrainedzonalallocationrequest",
        "skunotavailable",
    }
)
PRICE_CODES = frozenset({"spotpricegreaterthanprovidedmaxprice", "variablepricegreaterthanprovidedmaxprice"})
CONFIG_CODES = frozenset(
    {
        "maxpricevalueinvalid",
        "maxpricechangenotallowedforallocatedvms",
        "maxpricechangenotallowed",
        "maxpriceissupportedonlyforazurespotvirtualmachines",
        "evictionpolicycanbesetonlyonazurespotvirtualmachines",
        "azurespotvmnotsupportedinavailabilityset",
        "azurespotfeaturenotenabledforsubscription",
        "vmprioritycannotbeapplied",
        "azurespotisnotsupportedforthisapiversion",
        "azurespotisnotsupportedforthisvmsize",
        "invalidparameter",
        "invalidresourcereference",
        "authorizationfailed",
        "authenticationfailed",
        "linkedauthorizationfailed",
        "invalidauthenticationtoken",
    }
)
TRANSIENT_CODES = frozenset(
    {"internalexecutionerror", "internaloperationerror", "internalservererror", "serviceunavailable", "retryableerror"}
)
NOT_FOUND_CODES = {
    "resourcenotfound": Missing.VM,
    "notfound": Missing.VM,
    "parentresourcenotfound": Missing.VM,
    "resourcegroupnotfound": Missing.RESOURCE_GROUP,
    "subscriptionnotfound": Missing.SUBSCRIPTION,
    "invalidsubscriptionid": Missing.SUBSCRIPTION,
}


def classify(code: str | None, status: int | None, message: str = "") -> Failure:
    """The failure kind of an ARM error: from its code first, then its HTTP status (None: an operation's body)."""
    c = (code or "").lower()
    if status == 429 or c in ("toomanyrequests", "subscriptionrequeststhrottled"):
        return Failure.THROTTLED
    for codes, kind in ((CAPACITY_CODES, Failure.CAPACITY), (PRICE_CODES, Failure.PRICE)):
        if c in codes:
            return kind
    if c == "operationnotallowed":
        # Quota and "another operation in progress" share this code (the quota text names the quota).
        return Failure.QUOTA if "quota" in message.lower() else Failure.CONFLICT
    if c in CONFIG_CODES:
        return Failure.CONFIG
    if c in TRANSIENT_CODES:
        return Failure.TRANSIENT
    if status == 404 or c in NOT_FOUND_CODES:
        return Failure.NOT_FOUND
    if status is None:
        return Failure.UNKNOWN
    if status == 409:
        return Failure.CONFLICT
    if status >= 500:
        return Failure.TRANSIENT
    return Failure.CONFIG


def missing_of(code: str | None) -> Missing:
    """Which thing a 404 says is missing (the VM unless the code names its resource group or subscription)."""
    return NOT_FOUND_CODES.get((code or "").lower(), Missing.VM)


class ArmFailure(Exception):
    """An ARM call failed; ``kind`` decides what the workflow does, never the message text."""

    def __init__(
        self, kind: Failure, code: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.kind, self.code, self.message, self.status = kind, code, message, status
        self.retry_after = retry_after

    def info(self) -> FailureInfo:
        return FailureInfo(self.kind.value, self.code[:100], self.message[:500], self.status)
