"""Key Vault with the real azure-keyvault-secrets client against the emulator: respot's Secrets adapter (the 401
challenge, then the token for https://vault.azure.net/.default; 403, 404, 429 and 5xx as respot's failures) and
the emulator's wire format."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets._shared import http_challenge_cache

from localcloud.arm import ArmEmulator, persistence
from localcloud.arm.keyvault import DEFAULT_TENANT
from localcloud.arm.scenario import ScenarioError
from orchestrator.adapters.credentials import LocalcloudCredential
from orchestrator.adapters.secrets import KeyVaultSecrets
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.settings import Settings
from tests.integration.helpers import control

pytestmark = pytest.mark.integration

VAULT = "respot-kv"
VAULT_URL = f"https://{VAULT}.vault.azure.net"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl respot@example"
ROLES = {"respot": "Key Vault Secrets User", "admin": "Key Vault Secrets Officer"}


class RecordingCredential(LocalcloudCredential):
    """The emulator's token, noting what the SDK asked for (scope and tenant come from the vault's challenge)."""

    def __init__(self) -> None:
        self.asked: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked.append((scopes, kwargs.get("tenant_id")))
        return super().get_token(*scopes)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.asked.append((scopes, (options or {}).get("tenant_id")))
        return super().get_token_info(*scopes)


@pytest.fixture(autouse=True)
def fresh_challenges() -> Iterator[None]:
    # The SDK caches a vault's challenge per host:port for the process; a port can come round again.
    http_challenge_cache.clear()
    yield
    http_challenge_cache.clear()


@pytest.fixture
def vault(arm: ArmEmulator) -> str:
    control(arm, "/keyvault/vaults", {"name": VAULT, "secrets": {"ssh-key": KEY}, "roleAssignments": ROLES})
    control(arm, "/requests", method="DELETE")
    return VAULT


def settings(arm: ArmEmulator) -> Settings:
    return Settings(
        subscriptions=arm.subscription,
        arm_endpoint=arm.url,
        credential="localcloud",
        vault_endpoint=arm.vault_endpoint,
        vault_ca_file=arm.ca_file,
    )


def vault_requests(arm: ArmEmulator) -> list[tuple[str, str, int]]:
    entries = control(arm, "/requests")["entries"]
    return [(e["method"], e["path"], e["status"]) for e in entries if e["path"].startswith("/keyvault/")]


def failure_of(arm: ArmEmulator, secret: str = "ssh-key") -> ArmFailure:
    with pytest.raises(ArmFailure) as err:
        KeyVaultSecrets(settings(arm)).ssh_key(VAULT_URL, secret)
    return err.value


def https(arm: ArmEmulator, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any, Any]:
    """A plain https request (what the SDK would never send), trusting the emulator's CA."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(arm.vault_endpoint.rsplit("/keyvault", 1)[0] + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=arm.ca_file)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read() or b"null")


# --- respot's adapter -----------------------------------------------------------------------------------------


def test_respot_reads_the_key_after_the_challenge_with_a_token_for_key_vault(arm: ArmEmulator, vault: str) -> None:
    credential = RecordingCredential()
    port = KeyVaultSecrets(settings(arm), credential)
    assert port.ssh_key(VAULT_URL, "ssh-key") == KEY
    path = f"/keyvault/{vault}/secrets/ssh-key/"
    assert vault_requests(arm) == [("GET", path, 401), ("GET", path, 200)]  # bodiless probe, then with the token
    assert credential.asked == [(("https://vault.azure.net/.default",), DEFAULT_TENANT)]
    assert port.ssh_key(VAULT_URL + "/", "SSH-KEY") == KEY  # names ignore case; the challenge is remembered
    assert vault_requests(arm)[2:] == [("GET", f"/keyvault/{vault}/secrets/SSH-KEY/", 200)]


def test_a_rotated_key_is_read_by_the_next_replacement(arm: ArmEmulator, vault: str) -> None:
    rotated = KEY.replace("respot@example", "rotated")
    arm.secret_client(vault, principal="admin", retry_total=0).set_secret("ssh-key", rotated)
    assert KeyVaultSecrets(settings(arm)).ssh_key(VAULT_URL, "ssh-key") == rotated


def test_a_missing_secret_is_config_and_names_the_secret_and_vault(arm: ArmEmulator, vault: str) -> None:
    failure = failure_of(arm, "no-such-key")
    assert (failure.kind, failure.status, failure.code) == (Failure.CONFIG, 404, "SecretNotFound")
    assert "'no-such-key'" in failure.message and VAULT_URL in failure.message


def test_without_the_secrets_user_role_respot_is_refused_and_told_which_role(arm: ArmEmulator, vault: str) -> None:
    control(arm, "/keyvault/vaults", {"name": vault, "roleAssignments": {"respot": "Key Vault Reader"}})
    failure = failure_of(arm)
    assert (failure.kind, failure.status, failure.code) == (Failure.CONFIG, 403, "Forbidden")
    assert "'Key Vault Secrets User' role" in failure.message and "getSecret/action" in failure.message
    error = failure.__cause__.__cause__  # the adapter's failure <- arm.read's <- the SDK's HttpResponseError
    assert isinstance(error, HttpResponseError) and error.error is not None
    assert error.error.innererror == {"code": "ForbiddenByRbac"}


def test_a_disabled_secret_is_config(arm: ArmEmulator, vault: str) -> None:
    control(
        arm, "/keyvault/secrets", {"vault": vault, "name": "ssh-key", "value": KEY, "attributes": {"enabled": False}}
    )
    failure = failure_of(arm)
    assert (failure.kind, failure.status) == (Failure.CONFIG, 403) and "is disabled" in failure.message


def test_a_secret_that_is_no_public_key_is_refused_without_repeating_it(arm: ArmEmulator, vault: str) -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    control(arm, "/keyvault/secrets", {"vault": vault, "name": "ssh-key", "value": private})
    failure = failure_of(arm)
    assert (failure.kind, failure.code) == (Failure.CONFIG, "NotAnSshPublicKey")
    assert "PRIVATE" not in failure.message and "b3Bl" not in failure.message


def test_a_throttled_read_carries_retry_after_and_is_not_retried_in_process(arm: ArmEmulator, vault: str) -> None:
    control(arm, "/faults", {"error429": 1.0, "path": "^/keyvault/", "retryAfter": 7, "count": 1})
    failure = failure_of(arm)
    assert (failure.kind, failure.status, failure.code, failure.retry_after) == (Failure.THROTTLED, 429, "Throttled", 7)
    assert [status for _, _, status in vault_requests(arm)] == [401, 429]  # the challenge is never faulted
    assert KeyVaultSecrets(settings(arm)).ssh_key(VAULT_URL, "ssh-key") == KEY  # the fault was for one request


def test_5xx_is_tried_three_times_then_transient(arm: ArmEmulator, vault: str) -> None:
    control(arm, "/faults", {"error503": 1.0, "path": "^/keyvault/"})
    failure = failure_of(arm)
    assert (failure.kind, failure.status) == (Failure.TRANSIENT, 503)
    assert [status for _, _, status in vault_requests(arm)] == [401, 503, 503, 503]


def test_a_vault_that_does_not_exist_is_a_connection_failure(arm: ArmEmulator) -> None:
    failure = failure_of(arm)  # in Azure the name does not resolve; here nothing answers
    assert (failure.kind, failure.code) == (Failure.TRANSIENT, "ConnectionError")


# --- the emulator's wire format ---------------------------------------------------------------------------------


def test_the_challenge_is_key_vaults_401(arm: ArmEmulator, vault: str) -> None:
    status, headers, body = https(arm, "GET", f"/keyvault/{vault}/secrets/ssh-key?api-version=7.5")
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{DEFAULT_TENANT}", resource="https://vault.azure.net"'
    )
    assert body == {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}


def test_a_secret_bundle_has_key_vaults_shape_and_versions_stay_readable(arm: ArmEmulator, vault: str) -> None:
    client = arm.secret_client(vault, principal="admin", retry_total=0)
    first = client.get_secret("ssh-key")
    second = client.set_secret("ssh-key", "ssh-rsa AAAAB3 second", content_type="text/plain", tags={"k": "v"})
    assert second.properties.version != first.properties.version and len(second.properties.version or "") == 32
    assert second.id == f"{VAULT_URL}/secrets/ssh-key/{second.properties.version}"
    assert client.get_secret("ssh-key").value == "ssh-rsa AAAAB3 second"
    assert client.get_secret("ssh-key", first.properties.version).value == KEY
    status, _, body = https(arm, "GET", f"/keyvault/{vault}/secrets/ssh-key?api-version=7.6", token="localcloud:admin")
    assert status == 200 and set(body) == {"value", "id", "attributes", "contentType", "tags"}
    assert set(body["attributes"]) == {"enabled", "created", "updated", "recoveryLevel", "recoverableDays"}
    assert isinstance(body["attributes"]["created"], int)  # Unix seconds


def test_bad_requests_get_key_vaults_bad_parameter(arm: ArmEmulator, vault: str) -> None:
    token = "localcloud:admin"
    status, _, body = https(arm, "GET", f"/keyvault/{vault}/secrets/ssh-key?api-version=9.9", token=token)
    assert (
        status == 400
        and body["error"]["code"] == "BadParameter"
        and "(9.9) is not recognized" in body["error"]["message"]
    )
    status, _, body = https(arm, "PUT", f"/keyvault/{vault}/secrets/bad_name?api-version=7.5", {"value": "x"}, token)
    assert (status, body["error"]["message"]) == (400, "The request URI contains an invalid name: bad_name")
    status, _, body = https(arm, "PUT", f"/keyvault/{vault}/secrets/ok?api-version=7.5", {"nope": 1}, token)
    assert status == 400 and body["error"]["code"] == "BadParameter"
    status, _, body = https(arm, "GET", f"/keyvault/{vault}/secrets/ssh-key/{'0' * 32}?api-version=7.5", token=token)
    assert status == 404 and f"ssh-key/{'0' * 32} was not found" in body["error"]["message"]


def test_only_a_role_that_allows_set_secret_may_write(arm: ArmEmulator, vault: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        arm.secret_client(vault, principal="respot", retry_total=0).set_secret("ssh-key", "ssh-rsa AAAA x")
    assert err.value.status_code == 403 and "setSecret/action" in str(err.value.message)
    with pytest.raises(HttpResponseError) as err:
        arm.secret_client(vault, principal="stranger", retry_total=0).get_secret("ssh-key")
    assert err.value.status_code == 403 and "oid=stranger" in str(err.value.message)


def test_vaults_come_from_scenarios_and_survive_a_state_file(tmp_path: Path) -> None:
    doc = {"vaults": [{"name": VAULT, "secrets": {"ssh-key": KEY}}]}
    with ArmEmulator(speed=0, scenario=doc) as arm:
        assert arm.secret_client(VAULT, retry_total=0).get_secret("ssh-key").value == KEY  # open: no roles given
        persistence.save(arm, tmp_path / "arm.state")
    with ArmEmulator(speed=0) as arm:
        assert persistence.load_if_present(arm, tmp_path / "arm.state")
        http_challenge_cache.clear()
        assert arm.secret_client(VAULT, retry_total=0).get_secret("ssh-key").value == KEY
    with pytest.raises(ScenarioError, match=r"vaults\[0\]: roleAssignments"):
        ArmEmulator(scenario={"vaults": [{"name": VAULT, "roleAssignments": {"respot": "Owner"}}]})


def test_one_port_serves_plain_http_to_arm_clients_and_tls_to_key_vaults(arm: ArmEmulator, vault: str) -> None:
    assert control(arm, "/health")["status"] == "ok"  # http://127.0.0.1:<port>
    client = arm.secret_client(vault, principal="admin", retry_total=0)  # https://127.0.0.1:<port>/keyvault/<vault>
    assert [client.get_secret("ssh-key").value for _ in range(3)] == [KEY] * 3
