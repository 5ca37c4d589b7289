"""ARM error code -> what kind of failure it is, mapped once (azure-facts.md section 5). Pure."""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    CAPACITY = "capacity"  # retry later in place (Deallocate) or elsewhere (Delete)
    QUOTA = "quota"  # waiting will not help; needs another region or more quota
    PRICE = "price"  # the spot price is above the VM's maxPrice
    CONFIG = "config"  # the request itself is wrong: never retry
    THROTTLED = "throttled"  # 429: wait Retry-After
    TRANSIENT = "transient"  # 5xx, connection trouble: retry soon
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # another operation is in flight on the VM


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
    }
)


def classify(code: str | None, status: int | None, message: str = "") -> Failure:
    """The failure kind of an ARM error, from its code first and its HTTP status second."""
    c = (code or "").lower()
    if status == 429 or c in ("toomanyrequests", "subscriptionrequeststhrottled"):
        return Failure.THROTTLED
    if c in CAPACITY_CODES:
        return Failure.CAPACITY
    if c in PRICE_CODES:
        return Failure.PRICE
    if c == "operationnotallowed":
        # Quota and "another operation in progress" share this code (the quota text names the quota).
        return Failure.QUOTA if "quota" in message.lower() else Failure.CONFLICT
    if c in CONFIG_CODES:
        return Failure.CONFIG
    if status == 404 or c in ("resourcenotfound", "notfound", "resourcegroupnotfound"):
        return Failure.NOT_FOUND
    if status == 409:
        return Failure.CONFLICT
    if status is None or status >= 500:
        return Failure.TRANSIENT
    return Failure.CONFIG


class ArmFailure(Exception):
    """An ARM call failed; ``kind`` decides what the workflow does, never the message text."""

    def __init__(self, kind: Failure, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.kind, self.code, self.message, self.status = kind, code, message, status

    def to_dict(self) -> dict[str, str | int | None]:
        return {"kind": self.kind.value, "code": self.code, "message": self.message[:500], "status": self.status}
