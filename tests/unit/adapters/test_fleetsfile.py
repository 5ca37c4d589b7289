"""The fleets file: found beside the app, and every problem named with the file, the profile and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.adapters.fleetsfile import load_fleets
from orchestrator.domain.fleet import FleetError

SUBNET = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
GOOD = f"""
fleets:
  - name: web
    desired: 2
    template:
      image: {{publisher: Canonical, offer: ubuntu-24_04-lts, sku: server}}
      admin: {{username: azureuser, ssh_public_key: "ssh-ed25519 AAAAC3Nza key"}}
    placements:
      - {{region: eastus, zones: ["1"], subnet: "{SUBNET}"}}
"""


def test_a_relative_path_is_read_from_the_apps_root(tmp_path: Path) -> None:
    (tmp_path / "fleets.yaml").write_text(GOOD)
    fleets = load_fleets("fleets.yaml", root=str(tmp_path))
    assert [p.name for p in fleets.fleets] == ["web"]
    assert load_fleets("").fleets == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fleets: [", "not YAML"),
        ("- just a list", "must be a mapping"),
        (GOOD.replace("desired: 2", "desired: -1"), "fleet 'web': desired"),
    ],
)
def test_every_problem_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "fleets.yaml").write_text(text)
    with pytest.raises(FleetError) as err:
        load_fleets(str(tmp_path / "fleets.yaml"))
    assert "fleets.yaml" in str(err.value) and problem in str(err.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="cannot be read"):
        load_fleets(str(tmp_path / "nope.yaml"))
