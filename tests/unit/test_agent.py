"""The in-VM agent's start-up checks and its failure log, without a network."""

from __future__ import annotations

import pytest

from agent import respot_agent

VM_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/worker"
GOOD = ["--respot-url", "http://127.0.0.1:7071/api/alerts?code=k", "--resource-id", VM_ID]


def rejected(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The agent refuses to start: exit 2, and the last stderr line is argparse's error."""
    with pytest.raises(SystemExit) as exited:
        respot_agent.parse_args([*GOOD, *argv])
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("value", ["0", "-1", "0.01", "nan", "inf", "26", "abc"])
def test_interval_out_of_range_is_refused(capsys: pytest.CaptureFixture[str], value: str) -> None:
    error = rejected(capsys, "--interval", value)
    assert "error: argument --interval:" in error


@pytest.mark.parametrize(("value", "seconds"), [("1", 1.0), ("2.5", 2.5), ("25", 25.0)])
def test_interval_in_range_is_taken(value: str, seconds: float) -> None:
    assert respot_agent.parse_args([*GOOD, "--interval", value]).interval == seconds


def test_interval_error_names_the_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert "between 1 and 25 seconds" in rejected(capsys, "--interval", "0")
