"""The Secrets port over azure-keyvault-secrets: the SSH public key a fleet profile keeps in Key Vault.

Read when a replacement is created, never cached: a key rotated in the vault is used by the next replacement.
Reads go through :func:`orchestrator.adapters.arm.read` (a 5xx or a dropped connection is tried again at once, at
most twice; a 429 goes back with its Retry-After; azure-core's own retry is off). What a failure means:

- 403: respot's identity may not read the secret. With Azure RBAC it needs the 'Key Vault Secrets User' role on
  the vault or the secret (rbac-guide.md); a vault on access policies needs ``get`` on secrets. CONFIG.
- 404 ``SecretNotFound``: the profile names a secret the vault does not have. CONFIG.
- 401 after the challenge: the vault refused respot's token (another tenant?). CONFIG.

Locally (``RESPOT_VAULT_ENDPOINT``), ``https://<name>.vault.azure.net`` is served at ``<endpoint>/<name>`` by the
emulator, over TLS with its own CA (``RESPOT_VAULT_CA_FILE``). Its challenge still names
``resource="https://vault.azure.net"``, which a loopback host is not a subdomain of, so the SDK's check that they
match (``verify_challenge_resource``, https://aka.ms/azsdk/blog/vault-uri) is off there, and only there.
"""

from __future__ import annotations

import re
from typing import Any

from azure.core.credentials import TokenCredential
from azure.keyvault.secrets import SecretClient

from orchestrator.adapters import arm, credentials
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.fleet import is_ssh_public_key
from orchestrator.settings import Settings

VAULT_URL = re.compile(r"^https://(?P<name>[a-z0-9-]+)\.vault\.azure\.net/?$", re.IGNORECASE)
SECRETS_USER = "Key Vault Secrets User"


def route_vault_url(vault_url: str, endpoint: str) -> str:
    """Where a vault is served: ``vault_url`` itself in Azure (``endpoint`` empty), else ``<endpoint>/<name>``.

    Raises :class:`ArmFailure` (CONFIG) for a URL that is not a vault's ``https://<name>.vault.azure.net``.
    """
    match = VAULT_URL.match(vault_url)
    if match is None:
        raise ArmFailure(Failure.CONFIG, "InvalidVaultUrl", f"'{vault_url}' is not https://<name>.vault.azure.net")
    if not endpoint:
        return vault_url.rstrip("/")
    return f"{endpoint.rstrip('/')}/{match['name'].lower()}"


class KeyVaultSecrets:
    """:class:`orchestrator.ports.Secrets` over Key Vault; one SecretClient per vault, made on first use."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self._credential = credential or credentials.credential(settings)
        self._clients: dict[str, SecretClient] = {}

    def client(self, vault_url: str) -> SecretClient:
        url = route_vault_url(vault_url, self.settings.vault_endpoint)
        if url not in self._clients:
            local: dict[str, Any] = {}
            if self.settings.vault_endpoint:
                local = {"verify_challenge_resource": False, "connection_verify": self.settings.vault_ca_file}
            self._clients[url] = SecretClient(url, self._credential, retry_total=0, **local)
        return self._clients[url]

    def ssh_key(self, vault_url: str, secret_name: str) -> str:
        """The OpenSSH public key in the current version of ``secret_name``. Raises :class:`ArmFailure`."""
        client = self.client(vault_url)
        try:
            secret = arm.read(lambda: client.get_secret(secret_name))
        except ArmFailure as failure:
            raise _explained(failure, vault_url, secret_name) from failure
        value = (secret.value or "").strip()
        if not is_ssh_public_key(value):  # the value is never echoed: it may be anything, even a private key
            raise ArmFailure(
                Failure.CONFIG,
                "NotAnSshPublicKey",
                f"Key Vault secret '{secret_name}' in {vault_url} does not hold an OpenSSH public key "
                "(one line: ssh-ed25519 AAAA... comment)",
            )
        return value


def _explained(failure: ArmFailure, vault_url: str, secret_name: str) -> ArmFailure:
    """A refused read, said in terms of what an operator must change; throttling and transient trouble as they are."""
    where = f"Key Vault secret '{secret_name}' in {vault_url}"
    if failure.status == 404:
        message = f"{where} does not exist (SecretNotFound): create it, or fix the fleet profile's secret_name"
    elif failure.status == 403 and _inner_code(failure) == "SecretDisabled":
        message = f"{where} is disabled: enable its current version"
    elif failure.status == 403:
        message = (
            f"respot may not read {where}: give respot's identity the '{SECRETS_USER}' role on the vault "
            f"(or 'get' on secrets in its access policy){_denied(failure.message)}"
        )
    elif failure.status == 401:
        message = f"{where}: Key Vault refused respot's token (is the vault in another tenant?): {failure.message}"
    else:
        return failure
    return ArmFailure(Failure.CONFIG, failure.code, message, failure.status, failure.retry_after)


def _inner_code(failure: ArmFailure) -> str | None:
    """Key Vault's ``error.innererror.code`` (ForbiddenByRbac, SecretDisabled ...) of the SDK error behind ``failure``."""
    inner = getattr(getattr(failure.__cause__, "error", None), "innererror", None)
    return str(inner.get("code")) if isinstance(inner, dict) and inner.get("code") else None


def _denied(message: str) -> str:
    """Who was refused what, from Key Vault's RBAC text (``Caller: ...``, ``Action: '...'``), if it says."""
    parts = [m[1].strip() for m in (re.search(rf"{k}: ([^\r\n]+)", message) for k in ("Caller", "Action")) if m]
    return f"; Key Vault refused {' for '.join(parts)}" if parts else ""
