"""The real Azure SDK clients, pointed at the emulator.

Choice: plain http on loopback. azure-core's BearerTokenCredentialPolicy refuses to send a token over http
unless the request context says ``enforce_https=False``; the constructor keyword does not reach it, so a small
per-call policy sets it on every request (azure-core ``_authentication._enforce_https``). No certificate to
generate, trust or rotate, and nothing leaves 127.0.0.1. The SDK code paths are otherwise untouched.

Time. The emulator answers ``Retry-After`` as Azure does, in whole seconds, and those are seconds of the
simulated world (429s, and LRO answers while the operation runs). Code inside that world (respot, on durable
timers over the shared clock) waits them out on the clock. A client outside it (a test, the demo, a benchmark)
lets azure-core sleep in real time: between retries (RetryPolicy) and between LRO polls (the poller), both
through ``transport.sleep``. Given the clock, the factories below make that sleep right:

- ``clock`` running (speed > 0): :class:`WorldRetryAfterPolicy` rewrites each answer's ``Retry-After`` into
  ``retry-after-ms``, the real-time wait for that clock (azure-core reads it when Retry-After is absent; the
  world value stays readable in ``x-localcloud-retry-after``). 5 simulated seconds at 600x is 8 ms.
- ``clock`` stopped (speed 0): time moves only when someone advances it. The policy then asks for a short real
  nap (``STOPPED_NAP``) instead, so a client re-polls soon after the clock moves, and no wait is ever infinite:
  a 429 retry loop runs out of tries; an LRO ``.result()`` returns once someone (a test, a stepper) has moved
  the clock past the operation's end. With ``advance_on_sleep=True`` the client moves the clock itself:
  :class:`ClockSteppingTransport` turns each ``sleep(seconds)`` into ``clock.advance(seconds)`` and the
  world's Retry-After is left as it is, so a test can assert that the SDK waited exactly what it was told.
- no ``clock``: nothing is rewritten; the world's seconds are slept as real seconds (right at speed 1, e.g.
  an emulator in another process at real time).

Key Vault is the exception to plain http: its SDK refuses any URL that is not https (localcloud.tls), so
:func:`secret_client` speaks TLS to the same port and trusts the emulator's CA file.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.keyvault.secrets import SecretClient
from azure.mgmt.compute import ComputeManagementClient
from azure.monitor.query import LogsQueryClient

from localcloud.clock import Clock

if TYPE_CHECKING:  # a development dependency (requirements-dev.txt): imported where it is used
    from azure.mgmt.monitor import MonitorManagementClient

STOPPED_NAP = 0.02  # real seconds a client naps for a Retry-After while the clock is stopped
WORLD_HEADER = "x-localcloud-retry-after"  # the emulator's Retry-After, kept after the rewrite


class StaticTokenCredential:
    """A credential that hands out ``localcloud:<principal>``; the emulator logs the principal as the caller."""

    def __init__(self, principal: str = "respot@localcloud") -> None:
        self.token = f"localcloud:{principal}"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class AllowHttpPolicy(SansIOHTTPPolicy[Any, Any]):
    """Let the bearer-token policy send its token over loopback http."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False


class WorldRetryAfterPolicy(SansIOHTTPPolicy[Any, Any]):
    """Rewrite a response's ``Retry-After`` (simulated seconds) into ``retry-after-ms`` of real time for ``clock``.

    A per-retry policy: it sees every try's answer before RetryPolicy and the LRO poller read the wait.
    """

    def __init__(self, clock: Clock, *, stopped_nap: float = STOPPED_NAP) -> None:
        self.clock = clock
        self.stopped_nap = stopped_nap

    def real_seconds(self, world_seconds: float) -> float:
        speed = self.clock.speed
        return world_seconds / speed if speed > 0 else self.stopped_nap

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        headers = response.http_response.headers
        value = headers.get("Retry-After")
        if not value:
            return
        try:
            world = float(value)
        except ValueError:  # an HTTP date: not the emulator's; leave it to azure-core
            return
        del headers["Retry-After"]
        headers[WORLD_HEADER] = value
        headers["retry-after-ms"] = str(max(1, round(self.real_seconds(world) * 1000)))


class ClockSteppingTransport(RequestsTransport):  # type: ignore[misc]  # exported lazily: Any to mypy
    """A transport whose ``sleep`` advances the simulated clock instead of sleeping (for a stopped clock).

    azure-core's RetryPolicy and LRO pollers wait through ``transport.sleep``; with this transport a client's
    waits are simulated time, and a test is instant and exact whatever the machine's speed.
    """

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock

    def sleep(self, duration: float) -> None:
        self.clock.advance(max(0.0, duration))


def _time_kwargs(clock: Clock | None, advance_on_sleep: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The per-retry policy or the transport that makes the client's waits right for ``clock``."""
    if clock is None:
        if advance_on_sleep:
            raise ValueError("advance_on_sleep needs the clock to advance")
        return kwargs
    if advance_on_sleep:
        return {"transport": ClockSteppingTransport(clock), **kwargs}
    return {**kwargs, "per_retry_policies": [WorldRetryAfterPolicy(clock), *kwargs.get("per_retry_policies", [])]}


def compute_client(
    base_url: str,
    subscription: str,
    *,
    principal: str = "respot@localcloud",
    clock: Clock | None = None,
    advance_on_sleep: bool = False,
    **kwargs: Any,
) -> ComputeManagementClient:
    """azure-mgmt-compute against the emulator; ``clock``/``advance_on_sleep``: see the module docstring."""
    kwargs.setdefault("polling_interval", 1)
    return ComputeManagementClient(
        StaticTokenCredential(principal),
        subscription,
        base_url=base_url,
        credential_scopes=["https://management.azure.com/.default"],
        per_call_policies=[AllowHttpPolicy()],
        **_time_kwargs(clock, advance_on_sleep, kwargs),
    )


def logs_client(
    base_url: str, *, clock: Clock | None = None, advance_on_sleep: bool = False, **kwargs: Any
) -> LogsQueryClient:
    """azure-monitor-query's LogsQueryClient against the emulator's Log Analytics."""
    return LogsQueryClient(
        StaticTokenCredential(),
        endpoint=f"{base_url}/v1",
        per_call_policies=[AllowHttpPolicy()],
        **_time_kwargs(clock, advance_on_sleep, kwargs),
    )


def secret_client(vault_url: str, *, ca_file: str, principal: str = "respot@localcloud", **kwargs: Any) -> SecretClient:
    """azure-keyvault-secrets against a vault of the emulator (``ArmEmulator.vault_url``), its CA trusted.

    The challenge names ``resource="https://vault.azure.net"``, which a loopback host is not a subdomain of: the
    SDK's check that the two match (verify_challenge_resource, https://aka.ms/azsdk/blog/vault-uri) is off.
    """
    return SecretClient(
        vault_url,
        StaticTokenCredential(principal),
        verify_challenge_resource=False,
        connection_verify=ca_file,
        **kwargs,
    )


def monitor_client(
    base_url: str,
    subscription: str,
    *,
    principal: str = "respot@localcloud",
    clock: Clock | None = None,
    advance_on_sleep: bool = False,
    **kwargs: Any,
) -> MonitorManagementClient:
    """azure-mgmt-monitor (autoscale settings) against the emulator; installed for development only."""
    from azure.mgmt.monitor import MonitorManagementClient

    return MonitorManagementClient(
        StaticTokenCredential(principal),
        subscription,
        base_url=base_url,
        credential_scopes=["https://management.azure.com/.default"],
        per_call_policies=[AllowHttpPolicy()],
        **_time_kwargs(clock, advance_on_sleep, kwargs),
    )
