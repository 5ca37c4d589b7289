"""``respot serve`` refuses what it cannot run with one line on stderr naming the flag, field or file (exit 2),
and never a traceback. ``_serve`` is replaced so that a start that wrongly succeeds returns instead of serving."""

from __future__ import annotations

import argparse
import json
import os
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


def run(app: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line main() printed on stderr; fails the test when it started or printed more."""
    args = ["--app", str(app), "--no-arm", "--db", str(app.parent / "hub.sqlite"), "--port", "0", *argv]
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
