"""The reliability suite (``make soak``; a smaller scale runs in CI): properties that try to break respot.

Every property reports what it tried through the ``soak`` fixture: one summary line per property, printed at the end
of the run and written to ``.respot/soak.json``, so a reader sees the counts behind each pass.

``RESPOT_SOAK_SCALE`` picks the size: ``full`` (``make soak``, the issue's figures: 10,000 payloads, 100 chaos
recoveries, ...) or ``ci`` (``.ci/run``: the same properties, fewer cases, inside CI's budget). A test asks
:func:`scale` for its size, never reads the variable itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import REPO

SCALES = ("full", "ci")


def scale_name() -> str:
    name = os.environ.get("RESPOT_SOAK_SCALE", "full")
    if name not in SCALES:
        raise pytest.UsageError(f"RESPOT_SOAK_SCALE={name!r}: expected one of {', '.join(SCALES)}")
    return name


def scale(full: int, ci: int) -> int:
    """This run's size for one property: ``full`` under ``make soak``, ``ci`` in CI's subset."""
    return full if scale_name() == "full" else ci


@dataclass
class SoakReport:
    """Summary lines by property; a property reported twice (two tests) adds its counts up."""

    lines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, prop: str, **counts: Any) -> None:
        line = self.lines.setdefault(prop, {})
        for key, value in counts.items():
            line[key] = line.get(key, 0) + value if isinstance(value, int | float) and key in line else value

    def render(self) -> list[str]:
        return [f"{prop}: " + ", ".join(f"{k}={v}" for k, v in counts.items()) for prop, counts in self.lines.items()]


_REPORT = SoakReport()


@pytest.fixture(scope="session")
def soak() -> Iterator[SoakReport]:
    yield _REPORT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORT.lines:
        return
    terminalreporter.section(f"soak summary (scale {scale_name()})")
    for line in _REPORT.render():
        terminalreporter.write_line(line)
    out = REPO / ".respot" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"scale": scale_name(), "properties": _REPORT.lines}, indent=2) + "\n")
    terminalreporter.write_line(f"written to {out.relative_to(REPO)}")
