"""The ARM emulator as one object: build it, start it on a port, point the real SDK at ``.url``.

The port also speaks https (localcloud.tls), for the one client that insists on it: Key Vault's, at
``.vault_url(name)``, trusting ``.ca_file``.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from localcloud.arm import urls
from localcloud.arm.backend import Backend
from localcloud.arm.control import Services
from localcloud.arm.faults import Faults
from localcloud.arm.models import Json
from localcloud.arm.notifications import Notifier
from localcloud.arm.pipeline import Pipeline
from localcloud.arm.scenario import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, default_scenario
from localcloud.arm.throttling import Throttler
from localcloud.clock import Clock
from localcloud.httpserver import LocalHTTPServer
from localcloud.tls import loopback_certificate

log = logging.getLogger(__name__)


class ArmEmulator:
    """ARM on loopback. ``with ArmEmulator(speed=60) as arm: client = arm.compute_client()``.

    ``clock`` may be shared with the local Functions host so that durable timers and ARM agree on the time.
    """

    subscription = DEFAULT_SUBSCRIPTION
    resource_group = DEFAULT_RESOURCE_GROUP

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        seed: int = 0,
        scenario: Json | None = None,
        clock: Clock | None = None,
        throttling: bool = True,
        base_dir: Path | None = None,
    ) -> None:
        self.clock = clock or Clock(speed=speed)
        self.backend = Backend(self.clock, seed=seed)
        self.throttler = Throttler(self.clock, enabled=throttling)
        self.faults = Faults(seed)
        self.notifier = Notifier(self.backend)
        start = default_scenario()
        if scenario:
            start = _merge(start, scenario)
        self.services = Services(self.backend, self.notifier, self.throttler, self.faults, start_scenario=start)
        self.base_dir = base_dir
        self.services.apply(start)
        self.pipeline = Pipeline(
            self.backend, urls.routes(self.services), self.throttler, self.faults, self.services.requests
        )
        self._certificate = loopback_certificate()
        self._server = LocalHTTPServer(host, port, self.pipeline, tls=self._certificate.server_context())
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._run_ticker, name="localcloud-arm-ticker", daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def vault_endpoint(self) -> str:
        """Where vaults are served: ``https://<name>.vault.azure.net`` is ``<vault_endpoint>/<name>`` here."""
        return f"{self._server.tls_url}/keyvault"

    def vault_url(self, name: str) -> str:
        """A Key Vault client's ``vault_url`` for the vault ``name`` (create it with the control API first)."""
        return f"{self.vault_endpoint}/{name.lower()}"

    @property
    def ca_file(self) -> str:
        """The PEM a client trusts for the https side (``connection_verify=arm.ca_file``)."""
        return str(self._certificate.ca_file)

    def start(self) -> ArmEmulator:
        self._server.start()
        self._ticker.start()
        log.info(
            "ARM emulator listening on %s (speed %sx), Key Vault on %s", self.url, self.clock.speed, self.vault_endpoint
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        self.clock.wake()
        self._server.stop()
        self._ticker.join(timeout=5)
        self.notifier.close()

    def __enter__(self) -> ArmEmulator:  # noqa: PYI034
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run_ticker(self) -> None:
        """Move the world on without requests: evictions, LRO completions and alerts happen on time."""
        while not self._stop.is_set():
            due = self.backend.next_due()
            horizon = self.clock.now() + timedelta(seconds=max(self.clock.speed, 1.0))
            self.clock.wait_until(min(due, horizon) if due else horizon, self._stop, interruptible=True)
            self.backend.tick()

    # --- for a stepped-clock driver (localcloud.stepper) ------------------------------------------------------

    def quiescent(self) -> bool:
        """Nothing runnable now, at ``clock.now()``: no scheduled callback due, no request being served, no
        webhook delivery posting or waiting for its real-time retry. A snapshot: ask again before each step."""
        if self.pipeline.in_flight or self.notifier.in_flight:
            return False
        due = self.backend.next_due()  # waits for a tick in progress (it holds the backend's lock)
        return due is None or due > self.clock.now()

    def next_due(self) -> datetime | None:
        """The earliest simulated time something is scheduled for (an LRO's end, an eviction, a timeline step,
        an alert delivery), or None when nothing is."""
        return self.backend.next_due()

    # --- helpers for tests and the CLI ----------------------------------------------------------------------

    def compute_client(self, subscription: str | None = None, *, advance_on_sleep: bool = False, **kwargs: Any) -> Any:
        """azure-mgmt-compute on this emulator, its waits in this emulator's time (``clients`` module docstring)."""
        from localcloud.arm.clients import compute_client

        return compute_client(
            self.url, subscription or self.subscription, clock=self.clock, advance_on_sleep=advance_on_sleep, **kwargs
        )

    def monitor_client(self, subscription: str | None = None, *, advance_on_sleep: bool = False, **kwargs: Any) -> Any:
        """azure-mgmt-monitor (a development dependency) on this emulator: autoscale settings."""
        from localcloud.arm.clients import monitor_client

        return monitor_client(
            self.url, subscription or self.subscription, clock=self.clock, advance_on_sleep=advance_on_sleep, **kwargs
        )

    def logs_client(self, *, advance_on_sleep: bool = False, **kwargs: Any) -> Any:
        from localcloud.arm.clients import logs_client

        return logs_client(self.url, clock=self.clock, advance_on_sleep=advance_on_sleep, **kwargs)

    def secret_client(self, vault: str, *, principal: str = "respot@localcloud", **kwargs: Any) -> Any:
        """azure-keyvault-secrets' SecretClient on the vault ``vault`` here (``clients.secret_client``)."""
        from localcloud.arm.clients import secret_client

        return secret_client(self.vault_url(vault), ca_file=self.ca_file, principal=principal, **kwargs)

    def apply(self, doc: Json) -> None:
        self.services.apply(doc)


def _merge(base: Json, extra: Json) -> Json:
    out = dict(base)
    for key, value in extra.items():
        if key == "subscriptions" and isinstance(value, dict):
            out[key] = {**base.get(key, {}), **value}
        elif key == "subnets" and isinstance(value, list):
            out[key] = [*base.get(key, []), *value]
        else:
            out[key] = value
    return out


def load_scenario(path: Path) -> Json:
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict):
        raise TypeError(f"{path}: a scenario is a JSON object")
    return doc
