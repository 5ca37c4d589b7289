"""ARM and Compute throttling as token buckets that refill in simulated time.

Numbers (azure-facts.md section 5, CONFIRMED):
- ARM, per subscription and region: reads 250 + 25/s, writes 200 + 10/s, deletes 200 + 10/s
  (request-limits-and-throttling.md); a 429 carries ``SubscriptionRequestsThrottled`` and Retry-After.
- Compute RP (compute-throttling-limits.md): per policy, a resource-level and a subscription-level bucket, given
  as (refill per minute, maximum). A 429 carries ``OperationNotAllowed`` with a ``TooManyRequests`` detail whose
  message is the JSON of the CRP sample (troubleshooting-throttling-errors.md).
The ``x-ms-ratelimit-remaining-resource`` policy names follow the form seen in SDK recordings
(``Microsoft.Compute/PutVM3Min;239,Microsoft.Compute/PutVM30Min;1198``): resource bucket first, then subscription.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import timedelta

from localcloud.arm.errors import ArmError
from localcloud.arm.views import iso
from localcloud.clock import Clock

# A client that waited exactly the Retry-After finds its token, despite float noise in simulated seconds.
_EPSILON = 1e-6
MAX_RETRY_AFTER = 3600  # a bucket that never refills still names a finite wait

ARM_BUCKETS: dict[str, tuple[float, float]] = {  # kind -> (max, refill per second)
    "reads": (250, 25),
    "writes": (200, 10),
    "deletes": (200, 10),
}

# policy -> ((resource refill/min, resource max) or None, (subscription refill/min, subscription max))
COMPUTE_POLICIES: dict[str, tuple[tuple[float, float] | None, tuple[float, float]]] = {
    "PutVM": ((4, 12), (500, 1500)),
    "UpdateVM": ((4, 12), (500, 1500)),
    "DeleteVM": ((4, 12), (500, 1500)),
    "LowCostGet": ((12, 36), (8000, 24000)),
    "HighCostGet": (None, (300, 900)),
    "GetOperation": ((15, 45), (5000, 15000)),
    "VMScaleSetPut": ((4, 12), (125, 375)),
    "VMScaleSetUpdate": ((4, 12), (500, 1500)),
    "VMScaleSetDelete": ((4, 12), (175, 525)),
    "VMScaleSetLowCostGet": ((12, 36), (800, 2400)),
    "VMScaleSetHighCostGet": ((10, 30), (360, 1080)),
}


@dataclass
class Bucket:
    capacity: float
    refill_per_s: float
    tokens: float
    last: float  # simulated seconds

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.refill_per_s)
        self.last = now

    def seconds_to_token(self) -> float:
        return max(0.0, (1 - self.tokens) / self.refill_per_s) if self.refill_per_s > 0 else math.inf

    def take(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)


@dataclass(frozen=True)
class Decision:
    headers: dict[str, str]
    error: ArmError | None = None


class Throttler:
    def __init__(self, clock: Clock, *, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], Bucket] = {}
        self.throttled = 0

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self.throttled = 0

    def _bucket(self, key: tuple[str, ...], capacity: float, refill_per_s: float, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(capacity, refill_per_s, capacity, now)
        bucket.refill(now)
        return bucket

    def check(self, *, sub: str, kind: str, policy: str | None, resource: str, caller: str) -> Decision:
        """Take one token from every bucket the request draws on, or say which one is empty."""
        if not self.enabled:
            return Decision({})
        now = self.clock.elapsed()
        with self._lock:
            cap, rate = ARM_BUCKETS[kind]
            arm = self._bucket(("arm", sub, kind), cap, rate, now)
            buckets: list[tuple[str, Bucket]] = [("arm", arm)]
            if policy is not None:
                res_spec, sub_spec = COMPUTE_POLICIES[policy]
                if res_spec is not None:
                    buckets.append(("res", self._bucket(("res", resource, policy), res_spec[1], res_spec[0] / 60, now)))
                buckets.append(("sub", self._bucket(("sub", sub, policy), sub_spec[1], sub_spec[0] / 60, now)))
            empty = next(((name, b) for name, b in buckets if b.tokens < 1 - _EPSILON), None)
            if empty is not None:
                self.throttled += 1
                return Decision({}, self._error(empty, sub=sub, kind=kind, policy=policy, caller=caller))
            for _, b in buckets:
                b.take()
            return Decision(self._remaining_headers(kind, arm, policy, buckets))

    def _remaining_headers(
        self, kind: str, arm: Bucket, policy: str | None, buckets: list[tuple[str, Bucket]]
    ) -> dict[str, str]:
        headers = {f"x-ms-ratelimit-remaining-subscription-{kind}": str(int(arm.tokens))}
        if policy is not None:
            named = dict(buckets)
            parts = []
            if "res" in named:
                parts.append(f"Microsoft.Compute/{policy}3Min;{int(named['res'].tokens)}")
            parts.append(f"Microsoft.Compute/{policy}30Min;{int(named['sub'].tokens)}")
            headers["x-ms-ratelimit-remaining-resource"] = ",".join(parts)
        return headers

    def _error(self, empty: tuple[str, Bucket], *, sub: str, kind: str, policy: str | None, caller: str) -> ArmError:
        level, bucket = empty
        wait_sim = bucket.seconds_to_token()
        headers = retry_after(wait_sim)
        wait_text = headers["Retry-After"]
        if level == "arm":
            headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = "0"
            return ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind[:-1]}' requests for subscription '{sub}' actor '{caller}' exceeded. Please try "
                f"again after '{wait_text}' seconds after additional tokens are available. Refer to "
                "https://aka.ms/arm-throttling for additional information.",
                headers=headers,
            )
        assert policy is not None
        start = self.clock.now()
        detail = {
            "operationGroup": policy,
            "startTime": iso(start),
            "endTime": iso(start + timedelta(seconds=wait_sim)),
            "allowedRequestCount": int(bucket.capacity),
            "measuredRequestCount": int(bucket.capacity) + 1,
        }
        headers["x-ms-ratelimit-remaining-resource"] = (
            f"Microsoft.Compute/{policy}{'3Min' if level == 'res' else '30Min'};0"
        )
        return ArmError(
            429,
            "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this subscription.",
            details=[{"code": "TooManyRequests", "target": policy, "message": json.dumps(detail)}],
            headers=headers,
        )


def retry_after(seconds: float) -> dict[str, str]:
    """The Retry-After header for a wait of ``seconds`` of simulated time.

    Azure gives whole seconds (request-limits-and-throttling.md), and azure-mgmt-compute parses the header as an
    int, so the wait is rounded up (a throttled client must not come back early) and is at least 1 s. The
    seconds are the simulated world's, whatever the clock's speed: a client outside the simulation converts
    them to its own time (``localcloud.arm.clients.WorldRetryAfterPolicy``).
    """
    if math.isinf(seconds):
        return {"Retry-After": str(MAX_RETRY_AFTER)}
    return {"Retry-After": str(max(1, math.ceil(seconds - 1e-9)))}
