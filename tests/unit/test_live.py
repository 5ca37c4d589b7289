"""The azure_live plugin (tests/live.py): what it needs to reach real Azure, and the skip it prints when it cannot.

The suite is run in a subprocess with RESPOT_AZURE_LIVE=1 and no Azure settings or credentials in its
environment, as a developer without a subscription would run it: the marked test is skipped and the reason names
what is missing, never an error, never a run against the emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.live import LIVE_FLAG, SETTINGS, LiveSettings, live_requested, live_settings

REPO = Path(__file__).resolve().parents[2]
ONE_LIVE_TEST = "tests/integration/test_vms.py::test_delete_removes_the_vm_and_deleting_again_is_harmless"


def test_live_needs_the_flag_and_all_three_settings() -> None:
    assert not live_requested({}) and not live_requested({LIVE_FLAG: "0"}) and live_requested({LIVE_FLAG: "1"})
    full = dict(zip(SETTINGS, ("sub", "rg", "westeurope"), strict=True))
    assert live_settings(full) == LiveSettings("sub", "rg", "westeurope")
    reason = live_settings({k: v for k, v in full.items() if k != "RESPOT_LIVE_REGION"})
    assert reason == f"{LIVE_FLAG}=1 but RESPOT_LIVE_REGION is not set (docs/live-azure.md)"


def _run_live(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_", "RESPOT_LIVE_", "PYTEST_"))
    }
    env.update({LIVE_FLAG: "1", "HOME": str(tmp_path), **settings})  # HOME: no az CLI or token cache of ours
    argv = [sys.executable, "-m", "pytest", "-m", "azure_live", "-rs", "-p", "no:cacheprovider", ONE_LIVE_TEST]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_without_settings_a_live_test_is_skipped_and_the_reason_names_them(tmp_path: Path) -> None:
    done = _run_live(tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 skipped" in done.stdout
    assert "SKIPPED" in done.stdout and f"{LIVE_FLAG}=1 but {', '.join(SETTINGS)} are not set" in done.stdout
    assert "azure_live:" in done.stdout  # the header says where marked tests go


@pytest.mark.timeout(150)
def test_without_credentials_a_live_test_is_skipped_and_the_reason_says_so(tmp_path: Path) -> None:
    settings = dict(zip(SETTINGS, ("00000000-0000-0000-0000-000000000000", "respot-live", "eastus"), strict=True))
    done = _run_live(tmp_path, **settings)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 skipped" in done.stdout
    assert f"{LIVE_FLAG}=1 but no Azure credentials" in done.stdout
    assert "REAL AZURE, subscription 00000000-0000-0000-0000-000000000000" in done.stdout


class _Item:
    """What the collection hook reads of a test item."""

    def __init__(self, fixtures: tuple[str, ...], marked: bool = True) -> None:
        self.nodeid, self.fixturenames, self.marked = "t.py::test", fixtures, marked

    def get_closest_marker(self, name: str) -> object:
        return object() if self.marked and name == "azure_live" else None


def test_a_marked_test_that_asks_for_the_emulator_is_refused_at_collection() -> None:
    from tests.live import pytest_collection_modifyitems

    config: Any = None
    pytest_collection_modifyitems(config, [_Item(("cloud",)), _Item(("arm",), marked=False)])  # type: ignore[list-item]
    for fixtures in (("cloud", "arm"), ("compute",), ()):
        with pytest.raises(pytest.UsageError, match="marked azure_live"):
            pytest_collection_modifyitems(config, [_Item(fixtures)])  # type: ignore[list-item]
