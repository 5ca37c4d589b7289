"""A fleet profile's SSH public key: inline, or a Key Vault secret reference; exactly one, and errors that say so."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.fleet import FleetError, SecretRef, parse_fleets

SUB = "11111111-2222-3333-4444-555555555555"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
KEY = "ssh-ed25519 AAAAC3Nza... me"
REF = {"vault_url": "https://respot-kv.vault.azure.net", "secret_name": "web-ssh-key"}


def fleets(admin: dict[str, Any]) -> Any:
    profile = {
        "name": "web",
        "desired": 1,
        "template": {"image": {"publisher": "Canonical", "offer": "o", "sku": "s"}, "admin": admin},
        "placements": [{"region": "eastus", "subnet": SUBNET}],
    }
    return parse_fleets({"fleets": [profile]})


def test_the_key_may_be_inline_or_a_key_vault_secret() -> None:
    inline = fleets({"username": "azureuser", "ssh_public_key": KEY}).fleets[0].template.admin
    assert (inline.ssh_public_key, inline.ssh_public_key_secret) == (KEY, None)
    stored = fleets({"username": "azureuser", "ssh_public_key_secret": REF}).fleets[0].template.admin
    assert stored.ssh_public_key is None
    assert stored.ssh_public_key_secret == SecretRef(vault_url=REF["vault_url"], secret_name="web-ssh-key")


@pytest.mark.parametrize(
    ("admin", "problem"),
    [
        (
            {"ssh_public_key": KEY, "ssh_public_key_secret": REF},
            "template.admin: Value error, give ssh_public_key or ssh_public_key_secret, not both",
        ),
        ({}, "template.admin: Value error, give ssh_public_key (the key itself) or ssh_public_key_secret"),
        ({"ssh_public_key": "AAAAC3Nza"}, "template.admin: Value error, ssh_public_key must be an OpenSSH public key"),
        (
            {"ssh_public_key_secret": {**REF, "vault_url": "https://respot-kv.vault.azure.net.evil.example"}},
            "ssh_public_key_secret.vault_url",
        ),
        (
            {"ssh_public_key_secret": {**REF, "vault_url": "http://respot-kv.vault.azure.net"}},
            "ssh_public_key_secret.vault_url",
        ),
        ({"ssh_public_key_secret": {**REF, "secret_name": "web_ssh_key"}}, "ssh_public_key_secret.secret_name"),
        ({"ssh_public_key_secret": {**REF, "secret_name": "k" * 128}}, "ssh_public_key_secret.secret_name"),
        (
            {"ssh_public_key_secret": {"vault_url": REF["vault_url"]}},
            "ssh_public_key_secret.secret_name: Field required",
        ),
        ({"ssh_public_key_secret": {**REF, "version": "1"}}, "ssh_public_key_secret.version: Extra inputs"),
    ],
)
def test_a_wrong_key_setting_is_named_with_its_profile_and_field(admin: dict[str, Any], problem: str) -> None:
    with pytest.raises(FleetError) as err:
        fleets({"username": "azureuser", **admin})
    assert "fleet 'web': template.admin" in str(err.value) and problem in str(err.value)
