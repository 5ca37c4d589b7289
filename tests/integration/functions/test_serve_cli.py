"""``respot serve`` refuses what it cannot run with one line on stderr naming the flag, field or file (exit 2),
and never a traceback. ``_serve`` is replaced so that a start that wrongly succeeds returns instead of serving."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from localcloud.functions import __main__ as serve
from localcloud.functions.host import FunctionsHost
from localcloud.functions.store import Store

APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    def started(host: FunctionsHost, args: argparse.Namespace) -> None:  # no serving: close what __init__ opened
        host.server.server_close()
        host.store.close()

    monkeypatch.setattr(serve, "_serve", started)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # main() puts local.settings Values in the environment
    path = tmp_path / "function_app.py"
    path.write_text(APP)
    return path


def run(app: Path, capsys: pytest.CaptureFixture[str], *argv: str, no_arm: bool = True) -> str:
    """The last line main() printed on stderr (argparse prints its usage line first); fails the test when it
    started, or printed a traceback."""
    args = ["--app", str(app), "--db", str(app.parent / "hub.sqlite"), "--port", "0", *argv]
    args += ["--no-arm"] if no_arm else []
    try:
        code: Any = serve.main(args, prog="respot serve")
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr {err}"
    assert len(err) >= 1 and "Traceback" not in "\n".join(err), err
    return err[-1]


def test_a_hub_a_live_host_holds_is_refused(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = Store(app.parent / "hub.sqlite")
    try:
        line = run(app, capsys)
    finally:
        live.close()
    assert line == f"respot serve: task hub {app.parent / 'hub.sqlite'} is in use by another host (pid {os.getpid()})"


@pytest.mark.parametrize("kind", ["directory", "text file"])
def test_a_db_that_is_no_sqlite_file_names_db(app: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    db = app.parent / "not-a-hub"
    if kind == "directory":
        db.mkdir()
    else:
        db.write_text(json.dumps({"hello": "world"}) * 200)
    line = run(app, capsys, "--db", str(db))
    assert line.startswith(f"respot serve: --db: {db}") and "SQLite" in line


@pytest.mark.parametrize("flag", ["--port", "--arm-port"])
@pytest.mark.parametrize("value", ["-1", "70000", "abc"])
def test_a_port_out_of_range_names_the_flag(
    app: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    line = run(app, capsys, flag, value)
    assert f"argument {flag}:" in line and value in line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "fast"])
def test_a_speed_that_is_no_finite_number_is_refused_at_parse_time(
    app: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    line = run(app, capsys, f"--speed={value}")
    assert "argument --speed:" in line and value in line


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ([1, 2], "expected a JSON object"),
        ({"Values": [1, 2]}, "Values must be an object"),
        ({"Host": "7071"}, "Host must be an object"),
        ({"Host": {"LocalHttpPort": "abc"}}, "Host.LocalHttpPort 'abc' is not a port"),
        ({"Host": {"LocalHttpPort": -3}}, "Host.LocalHttpPort -3 is not a port"),
        ({"Host": {"LocalHttpPort": 70000}}, "Host.LocalHttpPort 70000 is not a port"),
    ],
)
def test_local_settings_of_the_wrong_shape_name_the_file_and_field(
    app: Path, capsys: pytest.CaptureFixture[str], settings: Any, named: str
) -> None:
    path = app.parent / "local.settings.json"
    path.write_text(json.dumps(settings))
    args = ["--app", str(app), "--db", str(app.parent / "hub.sqlite"), "--no-arm"]
    try:
        code: Any = serve.main(args, prog="respot serve")
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"respot serve: {path}: {named}"), err


def test_a_host_that_does_not_resolve_names_host(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run(app, capsys, "--host", "nosuch.invalid")
    assert line.startswith("respot serve: --host nosuch.invalid: ") and "port" not in line


def test_the_same_port_for_host_and_arm_says_so(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port free at the time of asking
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    line = run(app, capsys, "--port", port, "--arm-port", port, no_arm=False)
    assert line == f"respot serve: --arm-port {port} is the Functions host's own port: give them different ports"
