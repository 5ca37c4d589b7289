"""The local Functions host as one object: ``FunctionsHost(app_path).start()`` serves ``function_app.py``.

Settings come from local.settings.json (``Values`` into the environment, as Core Tools does, and
FUNCTIONS_REQUEST_BODY_SIZE_LIMIT among them bounds request bodies as in Azure; ``Host.LocalHttpPort``;
keys under ``LocalcloudKeys``) and host.json (``extensions.http.routePrefix``, ``extensions.durableTask.hubName``,
its concurrency limits, ``maxEntityOperationBatchSize`` and ``overridableExistingInstanceStates``). Keys not configured are generated once, kept beside the task hub, and printed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from localcloud.clock import Clock
from localcloud.functions import appmodel
from localcloud.functions.engine import Engine, OverridableStates
from localcloud.functions.history import stamp
from localcloud.functions.httphost import HttpHost, Keys
from localcloud.functions.management import Management
from localcloud.functions.store import Store
from localcloud.functions.timers import TimerHost
from localcloud.httpserver import DEFAULT_MAX_BODY, LocalHTTPServer

log = logging.getLogger("localcloud.functions")
BODY_LIMIT = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"


@dataclass(frozen=True)
class HostSettings:
    route_prefix: str = "api"
    hub: str = "TestHubName"
    max_activities: int = 10
    max_orchestrators: int = 10
    # The extension's default is 50 on a Consumption plan, 5000 elsewhere (AzureStorageDurabilityProviderFactory).
    max_entity_batch: int = 50
    overridable: OverridableStates = OverridableStates.NON_RUNNING_STATES

    @classmethod
    def from_host_json(cls, path: Path) -> HostSettings:
        if not path.exists():
            return cls()
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise appmodel.AppLoadError(f"{path}: not JSON: {exc}") from None
        ext = doc.get("extensions", {})
        durable = ext.get("durableTask", {})
        try:
            overridable = OverridableStates.parse(
                str(durable.get("overridableExistingInstanceStates", "NonRunningStates"))
            )
        except ValueError as exc:
            raise appmodel.AppLoadError(
                f"{path}: extensions.durableTask.overridableExistingInstanceStates: {exc}"
            ) from None
        batch = int(durable.get("maxEntityOperationBatchSize", 50))
        if batch <= 0:  # DurableTaskOptions.Validate
            raise appmodel.AppLoadError(
                f"{path}: extensions.durableTask.maxEntityOperationBatchSize must be a positive integer value."
            )
        return cls(
            route_prefix=str(ext.get("http", {}).get("routePrefix", "api")),
            hub=str(durable.get("hubName", "TestHubName")),
            max_activities=int(durable.get("maxConcurrentActivityFunctions", 10)),
            max_orchestrators=int(durable.get("maxConcurrentOrchestratorFunctions", 10)),
            max_entity_batch=batch,
            overridable=overridable,
        )


def load_local_settings(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise appmodel.AppLoadError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise appmodel.AppLoadError(f'{path}: expected a JSON object such as {{"Values": {{...}}}}, not a {_kind(doc)}')
    for field in ("Values", "Host", "LocalcloudKeys"):
        if not isinstance(doc.get(field) or {}, dict):
            raise appmodel.AppLoadError(f"{path}: {field} must be an object of name: value, not a {_kind(doc[field])}")
    for name, value in (doc.get("Values") or {}).items():
        os.environ.setdefault(str(name), str(value))
    return dict(doc)


def _kind(value: Any) -> str:
    return {list: "JSON array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def settings_port(local: dict[str, Any], path: Path) -> int:
    """Host.LocalHttpPort (default 7071), one error naming the file and field when it is no port."""
    value = (local.get("Host") or {}).get("LocalHttpPort", 7071)
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535 or isinstance(value, bool | float):
        raise appmodel.AppLoadError(f"{path}: Host.LocalHttpPort {value!r} is not a port (0 to 65535)")
    return port


def body_limit(environ: Mapping[str, str]) -> int:
    """FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, the Functions host's own setting for it (bytes; default 100 MB)."""
    text = environ.get(BODY_LIMIT, "").strip()
    if not text:
        return DEFAULT_MAX_BODY
    if not text.isdecimal() or int(text) <= 0:
        raise appmodel.AppLoadError(f"{BODY_LIMIT}={text!r}: must be a positive number of bytes")
    return int(text)


def load_keys(settings: dict[str, Any], keyfile: Path) -> tuple[Keys, bool]:
    """Keys from local.settings.json, else from the key file, else new ones (saved there). Returns (keys, new)."""
    given = settings.get("LocalcloudKeys") or {}
    stored = json.loads(keyfile.read_text()) if keyfile.exists() else {}
    merged = {name: given.get(name) or stored.get(name) for name in ("function", "host", "master", "system")}
    fresh = [n for n, v in merged.items() if not v]
    for name in fresh:
        merged[name] = secrets.token_urlsafe(24)
    if fresh:
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.write_text(json.dumps(merged, indent=2))
        keyfile.chmod(0o600)
    return Keys(**{k: str(v) for k, v in merged.items()}), bool(fresh)


class FunctionsHost:
    def __init__(
        self,
        app_path: Path = Path("function_app.py"),
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        clock: Clock | None = None,
        db_path: Path | str = Path(".respot/taskhub.sqlite"),
        settings_path: Path | None = None,
        host_json: Path | None = None,
    ) -> None:
        folder = app_path.resolve().parent
        settings_file = settings_path or folder / "local.settings.json"
        local = load_local_settings(settings_file)
        port = port if port is not None else settings_port(local, settings_file)
        self.settings = HostSettings.from_host_json(host_json or folder / "host.json")
        self.app = appmodel.load(app_path)
        self.clock = clock or Clock()
        self.store = Store(db_path)
        try:
            self._wire(local, host=host, port=port, db_path=db_path)
        except BaseException:  # the hub's lock goes with the store: a caller that retries must find it free
            self.store.close()
            raise

    def _wire(self, local: dict[str, Any], *, host: str, port: int, db_path: Path | str) -> None:
        keyfile = (Path(db_path).parent if str(db_path) != ":memory:" else Path(".respot")) / "keys.json"
        self.keys, self.new_keys = load_keys(local, keyfile)
        self.engine = Engine(
            self.app,
            self.store,
            self.clock,
            max_activities=self.settings.max_activities,
            max_orchestrators=self.settings.max_orchestrators,
            max_entity_batch=self.settings.max_entity_batch,
            overridable=self.settings.overridable,
        )
        self.server = LocalHTTPServer(host, port, self._serve, max_body=body_limit(os.environ))
        self.management = Management(
            self.engine, base_url=self.server.url, hub=self.settings.hub, system_key=self.keys.system
        )
        self.http = HttpHost(
            self.app,
            self.management,
            self.keys,
            route_prefix=self.settings.route_prefix,
            durable_client=self.management.client_binding,
        )
        self.timers = TimerHost(
            self.app.of_type("timerTrigger"), self.store, self.clock, self.management.client_binding
        )

    @property
    def url(self) -> str:
        return self.server.url

    # --- the stepper's Part protocol (localcloud.stepper) -----------------------------------------------------

    def quiescent(self) -> bool:
        """Nothing to do at the clock's now: no inbox message visible (entity operations included), no activity
        queued or running, no episode or entity batch running, no HTTP request being served, no timer function due
        or running."""
        now = self.clock.now()
        return (
            self.engine.dispatch.idle()
            and not self.store.ready_instances(stamp(now))
            and self.store.pending_activities() == 0
            and self.server.in_flight == 0
            and self.timers.quiescent(now)
        )

    def next_due(self) -> datetime | None:
        """The earliest time work appears by itself: an inbox message (durable timer, retry, an aborted entity
        batch's retry) or a timer function. (No Python API schedules an entity signal: see the docs.)"""
        upcoming = self.store.next_visible()
        times = [t for t in (self.timers.earliest(), datetime.fromisoformat(upcoming) if upcoming else None) if t]
        return min(times, default=None)

    def _serve(self, req: Any) -> Any:
        return self.http(req)

    def start(self) -> FunctionsHost:
        self.engine.start()
        self.server.start()
        self.timers.start()
        log.info(
            "Functions host on %s: %d functions (%s)",
            self.url,
            len(self.app.functions),
            ", ".join(sorted(self.app.functions)),
        )
        return self

    def stop(self) -> None:
        """Graceful: stop taking requests, stop timers, let running invocations finish, close the task hub."""
        self.server.stop()
        self.timers.stop()
        self.engine.stop()
        self.store.close()

    def __enter__(self) -> FunctionsHost:  # noqa: PYI034
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def describe(self) -> list[str]:
        lines = []
        for spec in sorted(self.app.functions.values(), key=lambda s: s.name):
            if spec.trigger_type == "httpTrigger":
                route = spec.trigger.get("route") or spec.name
                methods = ",".join(spec.trigger.get("methods") or ["*"])
                lines.append(
                    f"  {spec.name}: [{methods}] {self.url}/{self.settings.route_prefix}/{route}  ({str(spec.trigger.get('authLevel', 'function')).lower()})"
                )
            else:
                extra = {
                    "timerTrigger": f" {spec.trigger.get('schedule')}",
                    "entityTrigger": f" {spec.trigger.get('entityName') or spec.name}",
                }.get(spec.trigger_type, "")
                lines.append(f"  {spec.name}: {spec.trigger_type}{extra}")
        return lines
