"""Who respot is to Azure: DefaultAzureCredential (a managed identity in Azure), or the local emulator's token.

Also the one concession loopback needs: azure-core's bearer-token policy refuses to send a token over plain http
unless the request context says ``enforce_https=False`` (azure-core ``_authentication._enforce_https``); the policy
here says so only for loopback hosts, so a misconfigured http endpoint elsewhere still fails closed.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity import DefaultAzureCredential

from orchestrator import readings
from orchestrator.settings import Settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LocalcloudCredential:
    """The emulator's static token (``localcloud:<principal>``); only for the localcloud ARM emulator."""

    token = "localcloud:respot"  # noqa: S105 - the emulator's public test token, not a secret

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class LoopbackHttpPolicy(SansIOHTTPPolicy[Any, Any]):
    """Bearer tokens over plain http, for loopback endpoints only."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = urlparse(request.http_request.url)
        if url.scheme == "http" and url.hostname in LOOPBACK:
            request.context["enforce_https"] = False


class RateReadingsPolicy(SansIOHTTPPolicy[Any, Any]):
    """Hands each response to orchestrator.readings: its ``x-ms-ratelimit-remaining-*`` headers (the limiter's view
    of ARM's own count) and the token its request spent."""

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        readings.record(http.headers, request.http_request.method, http.status_code)


def credential(settings: Settings) -> TokenCredential:
    if settings.credential == "localcloud":
        return LocalcloudCredential()
    # A user-assigned identity is picked by AZURE_CLIENT_ID, which DefaultAzureCredential reads itself.
    return DefaultAzureCredential()
