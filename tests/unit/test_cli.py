"""orchestrator.cli without a stack: which app and key (orchestrator.cli.target), and ``respot status``'s data
(orchestrator.cli.reads) from a fake management API and a VM list."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import reads, target
from orchestrator.cli.management import TargetError
from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.models import VmFacts, VmStatus
from orchestrator.domain.scope import parse_vm_id

SUB = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(autouse=True)
def _no_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RESPOT_APP_URL", "RESPOT_SYSTEM_KEY", "AZURE_ENV_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_the_local_host_with_the_key_beside_its_task_hub(tmp_path: Path) -> None:
    (tmp_path / ".respot").mkdir()
    (tmp_path / ".respot" / "keys.json").write_text(json.dumps({"system": "s3"}))
    found = target.resolve(None, None, root=tmp_path)
    assert (found.url, found.key, found.local) == ("http://127.0.0.1:7071", "s3", True)
    hub = tmp_path / "demo"
    hub.mkdir()
    (hub / "keys.json").write_text(json.dumps({"system": "demo-key"}))
    assert target.resolve(None, None, hub=hub / "taskhub.sqlite", root=tmp_path).key == "demo-key"


def test_local_settings_give_the_port_and_the_key(tmp_path: Path) -> None:
    settings = {"Host": {"LocalHttpPort": 7171}, "LocalcloudKeys": {"system": "fixed"}}
    (tmp_path / "local.settings.json").write_text(json.dumps(settings))
    found = target.resolve(None, None, root=tmp_path)
    assert (found.url, found.key) == ("http://127.0.0.1:7171", "fixed")


def test_the_azd_environment_names_the_app_and_a_remote_app_needs_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".azure" / "prod").mkdir(parents=True)
    (tmp_path / ".azure" / "config.json").write_text(json.dumps({"defaultEnvironment": "prod"}))
    (tmp_path / ".azure" / "prod" / ".env").write_text(
        'AZURE_LOCATION="eastus"\nRESPOT_APP_URL="https://app-x.azurewebsites.net"\n'
    )
    with pytest.raises(TargetError, match=r"no system key for https://app-x.azurewebsites.net \(the azd environment\)"):
        target.resolve(None, None, root=tmp_path)
    monkeypatch.setenv("RESPOT_SYSTEM_KEY", "k")
    found = target.resolve(None, None, root=tmp_path)
    assert (found.url, found.key, found.local) == ("https://app-x.azurewebsites.net", "k", False)
    assert target.resolve("https://other.example", "k2", root=tmp_path).url == "https://other.example"
    with pytest.raises(TargetError, match="not an app URL"):
        target.resolve("app-x", "k", root=tmp_path)


def test_a_hub_that_is_not_there_or_holds_no_key_is_named(tmp_path: Path) -> None:
    cases = {
        "missing": (None, "no such file or folder"),
        "empty": ("", "not readable JSON"),
        "array": ("[]", "has no system key"),
        "no-system": ('{"function": "f"}', "has no system key"),
    }
    for name, (text, message) in cases.items():
        hub = tmp_path / name
        if text is not None:
            hub.mkdir()
            (hub / "keys.json").write_text(text)
        with pytest.raises(TargetError, match=f"--hub {re.escape(str(hub))}: .*{message}"):
            target.resolve("http://127.0.0.1:7072", None, hub=hub, root=tmp_path)
    (tmp_path / "bare").mkdir()
    with pytest.raises(TargetError, match=r"no keys\.json there"):
        target.resolve(None, None, hub=tmp_path / "bare", root=tmp_path)


def test_no_local_host_says_so_and_a_url_must_be_http_with_a_real_port(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"no local host key: .*keys.json is not there. Is `respot serve` running"):
        target.resolve(None, None, root=tmp_path)
    for url, message in (("ftp://x", "not an app URL"), ("http://127.0.0.1:99999", "port must be 0 to 65535")):
        with pytest.raises(TargetError, match=message):
            target.resolve(url, "k", root=tmp_path)


class FakeApi:
    """The management API's answer to a listing: what the durable backend holds."""

    base_url = "http://fake"

    def __init__(self, instances: list[dict[str, Any]]) -> None:
        self.listed = instances

    def instances(self, *, prefix: str | None = None, **_: Any) -> list[dict[str, Any]]:
        return [i for i in self.listed if str(i["instanceId"]).startswith(prefix or "")]


def _vm(name: str, *, spot: bool = True, status: VmStatus = VmStatus.RUNNING, **tags: str) -> Any:
    ref = parse_vm_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}")
    return ref, VmFacts(exists=True, status=status, priority="Spot" if spot else "Regular", tags=dict(tags))


def test_status_counts_each_fleet_and_each_protected_vm() -> None:
    template = {
        "image": {"publisher": "p", "offer": "o", "sku": "s"},
        "admin": {"username": "u", "ssh_public_key": "ssh-ed25519 AAAA x"},
    }
    subnet = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    fleets = parse_fleets(
        {
            "fleets": [
                {
                    "name": "api",
                    "desired": 3,
                    "template": template,
                    "placements": [{"region": "eastus", "subnet": subnet}],
                }
            ]
        }
    )
    listed = [
        _vm("api-1", **{"respot-fleet": "api"}),
        _vm("api-2", spot=False, **{"respot-fleet": "api", "respot:fallback": "regular"}),
        _vm("web-1", status=VmStatus.DEALLOCATED),
        _vm("plain", spot=False),
    ]
    web = listed[2][0]
    recovery = {
        "instanceId": f"respot-{'0' * 24}-0001",
        "runtimeStatus": "Running",
        "createdTime": "2026-12-01T12:00:00Z",
        "customStatus": {"phase": "recovering", "vm": web.id, "seq": 1, "signals": ["event-grid:e"]},
    }
    gone = {
        "instanceId": f"respot-{'1' * 24}-0002",
        "runtimeStatus": "Completed",
        "createdTime": "2026-12-01T11:00:00Z",
        "output": {"vm": web.id.replace("web-1", "api-0"), "seq": 2, "outcome": "recovered", "reason": "replaced"},
    }
    data = reads.status(FakeApi([recovery, gone, {"instanceId": "respot-sweep-202612011200"}]), lambda: listed, fleets)  # type: ignore[arg-type]
    assert data["fleets"] == [
        {
            "name": "api",
            "desired": 3,
            "members": 2,
            "running": 2,
            "spot": 1,
            "regularFallback": 1,
            "recoveriesRunning": 0,
        }
    ]
    vms = {v["name"]: v for v in data["vms"]}
    assert set(vms) == {"api-0", "api-1", "api-2", "web-1"}  # a Regular VM outside every fleet is not respot's
    assert vms["api-2"]["fallback"] and vms["api-1"]["fleet"] == "api"
    assert (vms["web-1"]["recoveriesRunning"], vms["web-1"]["lastEviction"]) == (1, "2026-12-01T12:00:00Z")
    assert vms["api-0"]["status"] == "not listed" and vms["api-0"]["lastOutcome"] == "recovered/replaced"
    assert (data["recoveries"], data["recoveriesRunning"], data["armRead"]) == (2, 1, True)


def test_status_without_arm_still_shows_the_recoveries() -> None:
    def refused() -> list[Any]:
        raise RuntimeError("no credential")

    data = reads.status(FakeApi([]), refused, None)  # type: ignore[arg-type]
    assert data["armError"] == "RuntimeError: no credential" and not data["armRead"] and data["vms"] == []


def test_keys_from_local_settings_come_before_the_hubs_file(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"LocalcloudKeys": {"system": "fixed"}}))
    (tmp_path / "hub").mkdir()  # a host whose keys are settings writes no keys.json
    assert target.resolve(None, None, hub=tmp_path / "hub", root=tmp_path).key == "fixed"
