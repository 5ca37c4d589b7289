"""The Secrets adapter's pure parts: where a vault URL is served, and what counts as an SSH public key."""

from __future__ import annotations

import pytest

from orchestrator.adapters.secrets import route_vault_url
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.fleet import is_ssh_public_key

LOCAL = "https://127.0.0.1:7070/keyvault"


@pytest.mark.parametrize(
    ("vault_url", "endpoint", "served_at"),
    [
        ("https://respot-kv.vault.azure.net", "", "https://respot-kv.vault.azure.net"),
        ("https://respot-kv.vault.azure.net/", "", "https://respot-kv.vault.azure.net"),
        ("https://respot-kv.vault.azure.net", LOCAL, f"{LOCAL}/respot-kv"),
        ("https://Respot-KV.vault.azure.net/", LOCAL + "/", f"{LOCAL}/respot-kv"),
    ],
)
def test_a_vault_is_served_at_its_own_url_in_azure_and_under_the_endpoint_locally(
    vault_url: str, endpoint: str, served_at: str
) -> None:
    assert route_vault_url(vault_url, endpoint) == served_at


@pytest.mark.parametrize(
    "vault_url",
    [
        "http://respot-kv.vault.azure.net",
        "https://respot-kv.vault.azure.net.evil.example",
        "https://respot-kv.vault.azure.net/secrets/x",
        "https://respot_kv.vault.azure.net",
        "https://127.0.0.1:7070/keyvault/respot-kv",
    ],
)
def test_anything_but_a_vaults_own_url_is_a_config_failure(vault_url: str) -> None:
    with pytest.raises(ArmFailure) as err:
        route_vault_url(vault_url, LOCAL)
    assert err.value.kind == Failure.CONFIG and vault_url in err.value.message


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host", True),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7", True),
        ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=", True),
        ("ssh-ed25519", False),
        ("ssh-rsa AAAA first\nssh-rsa BBBB second", False),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", False),
        ("", False),
    ],
)
def test_only_one_line_of_an_openssh_public_key_passes(value: str, ok: bool) -> None:
    assert is_ssh_public_key(value) is ok
