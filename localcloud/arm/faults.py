"""Injected faults: random 500/503 answers, dropped connections, and slow long-running operations.

Seeded, so a failing test replays the same faults. Allocation failures with a chosen Azure code are injected
through the backend (``Backend.allocation_faults``) since they surface through async operations, not HTTP.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

from localcloud.arm import errors
from localcloud.arm.errors import ArmError


@dataclass
class FaultSettings:
    error_500: float = 0.0  # probability per ARM request
    error_503: float = 0.0
    error_429: float = 0.0  # throttled, with the CRP body and a Retry-After
    drop: float = 0.0  # close the connection without an answer
    path: str | None = None  # only requests whose path matches this regex (case-insensitive)
    method: str | None = None


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.settings = FaultSettings()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self.injected = 0

    def configure(self, settings: FaultSettings, seed: int | None = None) -> None:
        for name in ("error_500", "error_503", "error_429", "drop"):
            value = getattr(settings, name)
            if not 0.0 <= value <= 1.0:
                raise errors.invalid_parameter(name, f"{name} must be a probability between 0 and 1.")
        try:
            pattern = re.compile(settings.path, re.IGNORECASE) if settings.path else None
        except re.error as exc:
            raise errors.invalid_parameter("path", f"path is not a valid regular expression: {exc}") from None
        with self._lock:
            self.settings, self._pattern = settings, pattern
            if seed is not None:
                self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> ArmError | str | None:
        """An error to answer with, ``"drop"`` to hang up, or None to serve the request."""
        s = self.settings
        if s.error_500 == s.error_503 == s.error_429 == s.drop == 0.0:
            return None
        if (self._pattern and not self._pattern.search(path)) or (s.method and s.method.upper() != method):
            return None
        with self._lock:
            roll = self._rng.random()
        if roll < s.drop:
            self.injected += 1
            return "drop"
        if roll < s.drop + s.error_500:
            self.injected += 1
            return errors.internal_error()
        if roll < s.drop + s.error_500 + s.error_503:
            self.injected += 1
            return errors.service_unavailable()
        if roll < s.drop + s.error_500 + s.error_503 + s.error_429:
            self.injected += 1
            return errors.throttled_injected()
        return None
