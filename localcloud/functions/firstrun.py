"""A new user's first run: with no local.settings.json, the app's local.settings.sample.json is the settings.

Core Tools reads local.settings.json, which is never committed. A fresh clone has only the sample next to
function_app.py; when the environment sets none of the app's settings the sample lists either (RESPOT_* here; the
Functions runtime's own FUNCTIONS_*, AzureWebJobs* do not count), the host runs on the sample's
(localcloud) Values and says so, and starts the ARM emulator on the loopback port the sample's ``*_ARM_ENDPOINT``
names, so that the app works out of the box. With a local.settings.json, nothing here applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SETTINGS = "local.settings.json"
SAMPLE = "local.settings.sample.json"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The Functions runtime's own settings, which a dev container may set: they say nothing about the app's.
RUNTIME = re.compile(r"^(FUNCTIONS_|AzureWebJobs|WEBSITE_|APPLICATIONINSIGHTS_)")


@dataclass(frozen=True)
class Plan:
    settings: Path  # the file whose Values become environment variables
    from_sample: bool = False
    arm_port: int | None = None  # start the ARM emulator on this port
    env: dict[str, str] = field(default_factory=dict)  # set before the app loads (an ARM endpoint moved by --arm-port)
    sample_names: frozenset[str] = frozenset()  # the settings the sample lists (to explain a bad one)

    @property
    def notice(self) -> str | None:
        if not self.from_sample:
            return None
        return (
            f"No {SETTINGS} beside the app: running on the localcloud defaults in {self.settings.name}"
            f" (to edit them: cp {SAMPLE} {SETTINGS})"
        )


def plan(app: Path, *, arm_port: int | None, no_arm: bool, environ: Mapping[str, str]) -> Plan:
    """Which settings file to load and whether to start the ARM emulator. Raises ValueError for a bad sample."""
    folder = app.resolve().parent
    settings, sample = folder / SETTINGS, folder / SAMPLE
    values = sample_values(sample) if sample.exists() else {}
    names = frozenset(values)
    if settings.exists() or not values or any(name in environ for name in values if not RUNTIME.match(name)):
        return Plan(settings, arm_port=None if no_arm else arm_port, sample_names=names)
    endpoints = {name: url for name, url in values.items() if name.endswith("_ARM_ENDPOINT") and loopback_port(url)}
    default_port = next((loopback_port(url) for url in endpoints.values()), None)
    port = None if no_arm else (arm_port if arm_port is not None else default_port)
    env: dict[str, str] = {}
    if port is not None and default_port is not None and port != default_port:
        old = next(iter(endpoints.values())).rstrip("/")
        new = old.rsplit(":", 1)[0] + f":{port}"
        env = {name: new for name, url in values.items() if url.rstrip("/") == old}  # ARM and Logs alike
    return Plan(sample, from_sample=True, arm_port=port, env=env, sample_names=names)


def sample_values(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    return {str(k): str(v) for k, v in (doc.get("Values") or {}).items()}


def loopback_port(url: str) -> int | None:
    try:
        parts = urlsplit(url)
        return parts.port if parts.scheme == "http" and parts.hostname in LOOPBACK else None
    except ValueError:
        return None


def explain(message: str, plan: Plan) -> str:
    """One line; when it names a setting the sample lists, also where to set it."""
    line = " ".join(message.split())
    named = [name for name in sorted(plan.sample_names) if re.search(rf"\b{re.escape(name)}\b", line)]
    if not named:
        return line
    where = f"set {', '.join(named)} in the Values of {SETTINGS} beside the app, or in the environment"
    return f"{line}. Fix: {where} (cp {SAMPLE} {SETTINGS} starts from working local defaults)"
