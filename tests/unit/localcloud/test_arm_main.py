"""``python -m localcloud.arm`` with bad input: one line naming the flag (and file), exit 2, no traceback, before
the emulator serves (main() in-process: each case stops before arm.start())."""

from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path

import pytest

from localcloud.arm import persistence
from localcloud.arm.__main__ import main
from localcloud.arm.server import ArmEmulator


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    """argparse errors exit 2 through SystemExit; main()'s own return 2: both print one line to stderr."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert all(w in err for w in words), err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["-1", "99999", "65536"])
def test_a_port_out_of_range_is_an_argument_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["--port", value], capsys, "--port", value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_a_speed_that_is_not_finite_and_positive_is_an_argument_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _fails(["--speed", value], capsys, "--speed")


def test_a_port_in_use_names_the_port_and_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        _fails(["--port", port], capsys, port, "--port", "in use")


@pytest.mark.parametrize("text", ["", "{\n", "[1]"])
def test_a_scenario_that_is_not_a_json_object_names_the_file(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "empty.json"
    bad.write_text(text)
    _fails(["--port", "0", "--scenario", str(bad)], capsys, "--scenario", str(bad))


def test_a_bad_scenario_names_the_file_and_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"timeline": [{"at": 1, "capacity": {"region": "eastus", "size": "x"}}]}))
    _fails(["--port", "0", "--scenario", str(bad)], capsys, str(bad), "timeline[0].capacity")


def test_a_state_that_is_a_directory_or_under_a_file_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fails(["--port", "0", "--state", str(tmp_path)], capsys, "--state", str(tmp_path), "directory")
    (tmp_path / "file").write_text("")
    under = tmp_path / "file" / "sub" / "arm.state"
    _fails(["--port", "0", "--state", str(under)], capsys, "--state", str(under), "is a file")


@pytest.mark.parametrize("content", [b"", b'{"vms": []}', b"localcloud-arm-state 1\n\x80\x05junk"])
def test_a_state_file_that_is_not_one_is_refused_naming_it(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "arm.state"
    state.write_bytes(content)
    _fails(["--port", "0", "--state", str(state)], capsys, "--state", str(state), "not a")


def test_a_state_file_saved_before_the_marker_still_loads(tmp_path: Path) -> None:
    old, new = tmp_path / "old.state", tmp_path / "new.state"
    arm = ArmEmulator()
    arm.backend.world.quotas[("s", "eastus", "lowPriorityCores")] = 12
    old.write_bytes(pickle.dumps(arm.backend.world))  # what save() wrote before MAGIC
    persistence.save(arm, new)
    assert new.read_bytes().startswith(persistence.MAGIC)
    for path in (old, new):
        fresh = ArmEmulator()
        assert persistence.load_if_present(fresh, path)
        assert fresh.backend.world.quotas[("s", "eastus", "lowPriorityCores")] == 12
