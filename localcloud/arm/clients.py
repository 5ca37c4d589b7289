"""The real Azure SDK clients, pointed at the emulator.

Choice: plain http on loopback. azure-core's BearerTokenCredentialPolicy refuses to send a token over http
unless the request context says ``enforce_https=False``; the constructor keyword does not reach it, so a small
per-call policy sets it on every request (azure-core ``_authentication._enforce_https``). No certificate to
generate, trust or rotate, and nothing leaves 127.0.0.1. The SDK code paths are otherwise untouched.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.compute import ComputeManagementClient
from azure.monitor.query import LogsQueryClient


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


def compute_client(
    base_url: str, subscription: str, *, principal: str = "respot@localcloud", **kwargs: Any
) -> ComputeManagementClient:
    kwargs.setdefault("polling_interval", 1)
    return ComputeManagementClient(
        StaticTokenCredential(principal),
        subscription,
        base_url=base_url,
        credential_scopes=["https://management.azure.com/.default"],
        per_call_policies=[AllowHttpPolicy()],
        **kwargs,
    )


def logs_client(base_url: str, **kwargs: Any) -> LogsQueryClient:
    return LogsQueryClient(
        StaticTokenCredential(), endpoint=f"{base_url}/v1", per_call_policies=[AllowHttpPolicy()], **kwargs
    )
