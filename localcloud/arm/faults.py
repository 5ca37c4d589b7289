"""Injected HTTP faults: 500/503/429 answers, dropped connections before or after the work, slow LROs.

A fault rule gives a probability per kind for the requests it matches (``path`` regex, ``method``), optionally
only for the next ``count`` matching requests. Rules are tried in order; each matching rule takes one of its
``count`` and rolls; the first one that fires decides the answer. Seeded, so a failing test replays the same
faults. Allocation failures with a chosen Azure code are injected through the backend
(``Backend.allocation_faults``) since they surface through async operations, not HTTP.

- ``error429``: CRP's throttling body with ``Retry-After: retryAfter`` (seconds of simulated time; the official
  CRP sample asks for 1200, troubleshooting-throttling-errors.md);
- ``drop``: the connection closes before the request is served: nothing happened;
- ``dropAfter``: the request is served (a start is accepted and runs), then the connection closes before the
  answer: the client cannot know whether it happened, the case respot must treat as an unknown outcome.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from localcloud.arm import errors
from localcloud.arm.errors import ArmError

Drop = Literal["drop", "dropAfter"]
_KINDS = {
    "error500": "error_500",
    "error503": "error_503",
    "error429": "error_429",
    "drop": "drop",
    "dropAfter": "drop_after",
}
RULE_KEYS = {*_KINDS, "path", "method", "retryAfter", "count"}


@dataclass
class FaultRule:
    error_500: float = 0.0  # probability per matching request
    error_503: float = 0.0
    error_429: float = 0.0  # throttled, with the CRP body and Retry-After: retry_after
    drop: float = 0.0  # close the connection without serving the request
    drop_after: float = 0.0  # serve the request, then close the connection without the answer
    path: str | None = None  # only requests whose path matches this regex (case-insensitive)
    method: str | None = None
    retry_after: int = 1  # simulated seconds an injected 429 asks the client to wait
    count: int | None = None  # only the next `count` matching requests (None: every one)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for kind in _KINDS.values():
            value = getattr(self, kind)
            if not 0.0 <= value <= 1.0:
                raise errors.invalid_parameter(kind, f"{kind} must be a probability between 0 and 1.")
        if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int) or self.retry_after < 1:
            raise errors.invalid_parameter("retryAfter", "retryAfter must be a whole number of seconds >= 1.")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int)):
            raise errors.invalid_parameter("count", "count must be a whole number of requests.")
        try:
            self._pattern = re.compile(self.path, re.IGNORECASE) if self.path else None
        except re.error as exc:
            raise errors.invalid_parameter("path", f"path is not a valid regular expression: {exc}") from None

    def fires(self) -> bool:
        """Whether any of its probabilities is above zero (a rule of zeros is no rule)."""
        return any(getattr(self, kind) > 0 for kind in _KINDS.values())

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self._pattern is not None and not self._pattern.search(path):
            return False
        return not self.method or self.method.upper() == method.upper()

    def pick(self, roll: float) -> ArmError | Drop | None:
        """What this rule does to a request, given a uniform roll in [0, 1)."""
        outcomes: list[tuple[float, ArmError | Drop]] = [
            (self.drop, "drop"),
            (self.drop_after, "dropAfter"),
            (self.error_500, errors.internal_error()),
            (self.error_503, errors.service_unavailable()),
            (self.error_429, errors.throttled_injected(self.retry_after)),
        ]
        edge = 0.0
        for probability, outcome in outcomes:
            edge += probability
            if roll < edge:
                return outcome
        return None


def rule_from_json(spec: dict[str, Any]) -> FaultRule:
    """A rule from the control API's spelling: ``{error429: 1, retryAfter: 1200, path, method, count}``."""
    unknown = set(spec) - RULE_KEYS
    if unknown:
        raise errors.invalid_parameter("faults", f"unknown fault keys: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {attr: float(spec.get(key, 0)) for key, attr in _KINDS.items()}
    return FaultRule(
        **kwargs,
        path=spec.get("path"),
        method=spec.get("method"),
        retry_after=spec.get("retryAfter", 1),
        count=spec.get("count"),
    )


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def configure(self, rules: list[FaultRule], seed: int | None = None) -> None:
        """Replace the rules (an empty list: no faults)."""
        with self._lock:
            self.rules = list(rules)
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> ArmError | Drop | None:
        """An error to answer with, ``"drop"``/``"dropAfter"`` to hang up, or None to serve the request."""
        if not self.rules:
            return None
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.count is not None:
                    rule.count -= 1
                outcome = rule.pick(self._rng.random())
                if outcome is not None:
                    self.injected += 1
                    return outcome
        return None
