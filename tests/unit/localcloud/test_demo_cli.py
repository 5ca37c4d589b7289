"""``python -m localcloud.demo`` with bad input: an argparse error naming the flag, exit 2, before the demo empties
its hub or starts anything (Demo is replaced by a stub that fails the test if built)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localcloud import demo


@pytest.fixture(autouse=True)
def _no_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "Demo", lambda *a: pytest.fail("the demo started"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        demo.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert all(w in err for w in words) and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--speed", "-1"),
        ("--speed", "0"),
        ("--speed", "nan"),
        ("--timeout", "0"),
        ("--timeout", "-1"),
        ("--timeout", "inf"),
        ("--inspect-port", "-1"),
        ("--inspect-port", "0"),
        ("--inspect-port", "99999"),
    ],
)
def test_a_bad_number_is_an_argument_error(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fails(["--hub-dir", str(tmp_path), flag, value], capsys, flag)


def test_a_hub_dir_that_is_or_is_under_a_file_is_an_argument_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "file"
    file.write_text("")
    for hub in (file, file / "demo"):
        _fails(["--hub-dir", str(hub), "--inspect-port", str(_free_port())], capsys, "--hub-dir", str(file))


def test_a_hub_still_served_on_the_printed_port_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = tmp_path / "taskhub.sqlite"
    hub.write_text("the earlier run's history")
    with socket.socket() as serving:  # the `respot serve --port N` the last demo printed, still running
        serving.bind(("127.0.0.1", 0))
        serving.listen()
        port = str(serving.getsockname()[1])
        _fails(["--hub-dir", str(tmp_path), "--inspect-port", port], capsys, port, "in use", "--inspect-port")
    assert hub.read_text() == "the earlier run's history"


def test_a_hub_a_host_still_has_open_on_another_port_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from localcloud.functions.store import Store

    held = Store(tmp_path / "taskhub.sqlite")  # a `respot serve --db` on any port: it holds the hub's lock
    try:
        code = demo.main(["--hub-dir", str(tmp_path), "--inspect-port", str(_free_port())])
        err = capsys.readouterr().err
        assert code == 2 and "in use by another host" in err and "Traceback" not in err, err
        assert (tmp_path / "taskhub.sqlite").exists() and (tmp_path / "taskhub.sqlite.lock").exists()
    finally:
        held.close()
    demo._fresh(tmp_path)  # once it is closed, the hub is emptied and its lock file kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taskhub.sqlite.lock"]
