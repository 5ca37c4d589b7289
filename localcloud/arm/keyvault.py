"""Azure Key Vault's secrets data plane (``https://<vault>.vault.azure.net``): GetSecret and SetSecret.

Addressing: a vault is served at ``https://127.0.0.1:<port>/keyvault/<vault>`` on the emulator's own port, over TLS
(localcloud.tls says why); that URL is a client's ``vault_url``. Secret ids keep Azure's spelling,
``https://<vault>.vault.azure.net/secrets/<name>/<version>``: the vault's identity, not where it is served.

Wire format (Key Vault REST reference, secrets/get-secret and secrets/set-secret): a SecretBundle ``{"value",
"id", "contentType"?, "attributes": {"enabled", "created", "updated", "recoveryLevel", "recoverableDays"},
"tags"?}``, times in Unix seconds (simulated); errors ``{"error": {"code", "message", "innererror"?}}``.

Checks, in order:
1. no such vault: the connection closes unanswered (in Azure the vault's name does not resolve);
2. no bearer token: 401 ``Unauthorized`` with the challenge ``WWW-Authenticate: Bearer authorization=
   "https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"``. The SDK's first request
   to a vault is always this one, sent bodiless and without a token; it then asks its credential for
   ``https://vault.azure.net/.default`` in that tenant and sends the request again (authentication-requests-
   and-responses.md; azure-keyvault-secrets ``_shared/challenge_auth_policy.py``);
3. api-version missing or unknown: 400 ``BadParameter``;
4. injected faults (control API ``faults``, matched by path): a 429 is Key Vault's ``Throttled``;
5. Azure RBAC: a caller whose role lacks the data action: 403 ``Forbidden``, innererror ``ForbiddenByRbac``;
6. the secret: 404 ``SecretNotFound``; a disabled version: 403 ``Forbidden``, innererror ``SecretDisabled``.

Not modelled: Key Vault's own throttling (4,000 GETs per 10 s per vault, service-limits.md: inject 429s instead),
access policies, soft delete, expiry and not-before, and every other operation.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.faults import Faults
from localcloud.arm.models import Json, Secret, SecretVersion, Vault
from localcloud.arm.pipeline import Ctx, Route
from localcloud.httpserver import Request, Response

DEFAULT_TENANT = "a1c0c10d-0000-4000-8000-00000000a11c"  # the emulator's Entra tenant (made up)
RESOURCE = "https://vault.azure.net"
# The versions azure-keyvault-secrets 4.8-4.12 can send (its ApiVersion enum); the newest is named in errors.
API_VERSIONS = ("2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01")
# Azure built-in roles -> the secrets data actions they allow (rbac-guide.md, "Azure built-in roles").
ROLES: dict[str, frozenset[str]] = {
    "Key Vault Administrator": frozenset({"getSecret", "setSecret"}),
    "Key Vault Secrets Officer": frozenset({"getSecret", "setSecret"}),
    "Key Vault Secrets User": frozenset({"getSecret"}),
    "Key Vault Reader": frozenset(),
}
_VAULT_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]$", re.IGNORECASE)  # 3-24, no "--"
_SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")

VAULT = r"/keyvault/(?P<vault>[^/]+)"
SECRET = VAULT + r"/secrets/(?P<secret>[^/]+)"

Action = Callable[[Ctx, Vault], Response]


class SpecError(ValueError):
    """A vault or secret given to SetSecret, a scenario or the control API is malformed; the message says how."""


@dataclass
class VaultError(Exception):
    """A Key Vault error answer; rendered by :meth:`response` (Key Vault's envelope, with its innererror)."""

    status: int
    code: str
    message: str
    inner: str | None = None
    headers: dict[str, str] | None = None

    def response(self) -> Response:
        error: Json = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return Response.json(self.status, {"error": error}, self.headers)


# --- routes --------------------------------------------------------------------------------------------------


def routes(faults: Faults) -> list[Route]:
    def route(method: str, pattern: str, op_id: str, data_action: str, action: Action) -> Route:
        def handler(ctx: Ctx) -> Response:
            return _serve(ctx, faults, data_action, action)

        # The pipeline's ARM bearer check and api-version rule are ARM's: Key Vault answers both in its own way.
        return Route(method, pattern, op_id, handler, auth=False, api_version=False)

    return [
        route("GET", SECRET, "GetSecret", "getSecret", _get_secret),
        route("GET", SECRET + r"/(?P<version>[^/]*)", "GetSecret", "getSecret", _get_secret),
        route("PUT", SECRET, "SetSecret", "setSecret", _set_secret),
    ]


def _serve(ctx: Ctx, faults: Faults, data_action: str, action: Action) -> Response:
    vault = ctx.backend.world.vaults.get(ctx.params["vault"].lower())
    if vault is None:
        return Response(0, drop=True)
    fault: ArmError | str | None = None
    try:
        caller = _authenticate(ctx.req, vault)
        _check_api_version(ctx.api_version)
        fault = faults.decide(ctx.req.method, ctx.req.path)
        if fault == "drop":
            return Response(0, drop=True)
        if isinstance(fault, ArmError):
            raise _in_vault_words(fault)
        _authorize(vault, caller, data_action, ctx.params["secret"])
        resp = action(ctx, vault)
    except VaultError as err:
        resp = err.response()
    if fault == "dropAfter":
        resp.headers["x-localcloud-drop-after"] = "1"  # served; the pipeline hangs up before the answer
    return resp


# --- the checks ----------------------------------------------------------------------------------------------


def _authenticate(req: Request, vault: Vault) -> str:
    """The caller's principal (``localcloud:<principal>`` tokens, as on the ARM side); else the 401 challenge."""
    auth = req.header("authorization")
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        challenge = f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant}", resource="{RESOURCE}"'
        raise VaultError(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            headers={"WWW-Authenticate": challenge},
        )
    token = auth[7:].strip()
    return token.split(":", 1)[1] if token.startswith("localcloud:") and ":" in token else "unknown"


def _check_api_version(version: str) -> None:
    if not version:  # NOT CONFIRMED: no public record shows Key Vault's text for a missing api-version
        raise VaultError(400, "BadParameter", "The api-version query parameter is required.")
    if version not in API_VERSIONS:
        raise VaultError(
            400,
            "BadParameter",
            f"The specified version ({version}) is not recognized. "
            f"Consider using the latest supported version ({API_VERSIONS[-1]}).",
        )


def _in_vault_words(fault: ArmError) -> VaultError:
    """An injected fault as Key Vault says it: its 429 is ``Throttled`` (the body a throttled GetSecret returns)."""
    if fault.status == 429:
        message = (
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
        )
        return VaultError(429, "Throttled", message, headers=dict(fault.headers))
    return VaultError(fault.status, fault.code, fault.message, headers=dict(fault.headers))


def _authorize(vault: Vault, caller: str, data_action: str, secret: str) -> None:
    if vault.roles is None:
        return
    role = vault.roles.get(caller)
    if role is not None and data_action in ROLES[role]:
        return
    resource = (
        f"/subscriptions/{vault.subscription}/resourcegroups/{vault.resource_group.lower()}"
        f"/providers/microsoft.keyvault/vaults/{vault.name}/secrets/{secret.lower()}"
    )
    message = (
        "Caller is not authorized to perform action on resource.\r\n"
        "If role assignments, deny assignments or role definitions were changed recently, please observe "
        "propagation time.\r\n"
        f"Caller: oid={caller};iss=https://sts.windows.net/{vault.tenant}/\r\n"
        f"Action: 'Microsoft.KeyVault/vaults/secrets/{data_action}/action'\r\n"
        f"Resource: '{resource}'\r\n"
        "Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\n"
        f"Vault: {vault.name};location={vault.location}\r\n"
    )
    raise VaultError(403, "Forbidden", message, inner="ForbiddenByRbac")


# --- the operations ------------------------------------------------------------------------------------------


def _get_secret(ctx: Ctx, vault: Vault) -> Response:
    name, version = ctx.params["secret"], ctx.params.get("version") or ""
    secret = vault.secrets.get(name.lower())
    found = _version(secret, version) if secret is not None else None
    if secret is None or found is None:
        raise VaultError(404, "SecretNotFound", _not_found(f"{name}/{version}" if version else name))
    if not found.enabled:
        raise VaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled")
    return Response.json(200, bundle(vault, secret, found))


def _set_secret(ctx: Ctx, vault: Vault) -> Response:
    name = ctx.params["secret"]
    if not _SECRET_NAME.match(name):
        raise VaultError(400, "BadParameter", f"The request URI contains an invalid name: {name}")
    body = _body(ctx.req.body)
    try:
        secret, version = put_secret(ctx.backend, vault, name, body)
    except SpecError as exc:  # NOT CONFIRMED: Key Vault's wording for a malformed SetSecret body
        raise VaultError(400, "BadParameter", str(exc)) from None
    return Response.json(200, bundle(vault, secret, version))


def _version(secret: Secret, version: str) -> SecretVersion | None:
    if not version:
        return secret.versions[-1] if secret.versions else None
    return next((v for v in secret.versions if v.version == version.lower()), None)


def _not_found(what: str) -> str:
    return (
        f"A secret with (name/id) {what} was not found in this key vault. If you recently deleted this secret you "
        "may be able to recover it using the correct recovery command. For help resolving this issue, please see "
        "https://go.microsoft.com/fwlink/?linkid=2125182"
    )


def _body(raw: bytes) -> Json:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise VaultError(400, "BadParameter", "The request body must be a JSON object.")  # NOT CONFIRMED wording
    return body


def bundle(vault: Vault, secret: Secret, version: SecretVersion) -> Json:
    """The SecretBundle of one version (get-secret's sample response, with recoverableDays of a 90-day vault)."""
    out: Json = {
        "value": version.value,
        "id": f"https://{vault.name}.vault.azure.net/secrets/{secret.name}/{version.version}",
        "attributes": {
            "enabled": version.enabled,
            "created": int(version.created.timestamp()),
            "updated": int(version.updated.timestamp()),
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
    }
    if version.content_type is not None:
        out["contentType"] = version.content_type
    if version.tags:
        out["tags"] = dict(version.tags)
    return out


# --- state: SetSecret, scenarios and the control API -----------------------------------------------------------


def put_secret(backend: Backend, vault: Vault, name: str, spec: Json) -> tuple[Secret, SecretVersion]:
    """A new current version of ``name`` from a SetSecret body ``{value, contentType?, attributes?: {enabled?},
    tags?}``. Raises :class:`SpecError` naming what is wrong."""
    if not _SECRET_NAME.match(name):
        raise SpecError(f"'{name}' is not a secret name (1-127 letters, digits and hyphens)")
    value, content_type, tags = spec.get("value"), spec.get("contentType"), spec.get("tags") or {}
    enabled = (spec.get("attributes") or {}).get("enabled", True)
    if not isinstance(value, str):
        raise SpecError("The request body is missing the required property 'value' (a string).")
    if content_type is not None and not isinstance(content_type, str):
        raise SpecError("contentType must be a string.")
    if not isinstance(enabled, bool) or not isinstance(tags, dict):
        raise SpecError("attributes.enabled must be a boolean and tags an object.")
    now = backend.now()
    secret = vault.secrets.setdefault(name.lower(), Secret(name))
    version = SecretVersion(uuid.uuid4().hex, value, now, now, enabled, content_type, {**tags})
    secret.versions.append(version)
    return secret, version


def put_vault(backend: Backend, spec: Any, *, subscription: str, resource_group: str) -> Vault:
    """Create or update a vault from ``{name, tenant?, location?, subscription?, resourceGroup?,
    roleAssignments?: {principal: role} | null, secrets?: {name: value | SetSecret body}}``. Raises :class:`SpecError`.

    Without ``roleAssignments`` a new vault is open to every caller; ``subscription`` and ``resource_group`` (the
    defaults) only appear in a 403's text."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not _VAULT_NAME.match(spec["name"]):
        raise SpecError("a vault needs a name: 3-24 letters, digits and hyphens, starting with a letter")
    name = spec["name"].lower()
    vault = backend.world.vaults.get(name) or Vault(
        name,
        str(spec.get("tenant") or DEFAULT_TENANT),
        str(spec.get("location") or "eastus").lower(),
        str(spec.get("subscription") or subscription),
        str(spec.get("resourceGroup") or resource_group),
    )
    if "roleAssignments" in spec:
        vault.roles = _roles(spec["roleAssignments"])
    backend.world.vaults[name] = vault
    secrets = spec.get("secrets") or {}
    if not isinstance(secrets, dict):
        raise SpecError("secrets: expected an object of secret name -> value")
    for secret, value in secrets.items():
        put_secret(backend, vault, str(secret), value if isinstance(value, dict) else {"value": value})
    return vault


def _roles(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or any(role not in ROLES for role in value.values()):
        raise SpecError(f"roleAssignments: principal -> one of {', '.join(ROLES)} (or null: open to all)")
    return {str(principal): str(role) for principal, role in value.items()}


def describe(backend: Backend) -> list[Json]:
    """Every vault, its access and its secrets' versions (values left out: read them through the vault)."""
    return [
        {
            "name": v.name,
            "tenant": v.tenant,
            "roleAssignments": v.roles,
            "secrets": {
                s.name: [{"version": x.version, "enabled": x.enabled} for x in s.versions] for s in v.secrets.values()
            },
        }
        for v in backend.world.vaults.values()
    ]
