"""The task hub file: one live host at a time (an flock beside it), a crashed host's hub opens again, and a --db
that is no SQLite file is one error naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.functions.store import HubError, HubInUse, Store

HOLD = "import sys; from localcloud.functions.store import Store; s = Store(sys.argv[1]); print('open', flush=True); sys.stdin.read()"


def test_a_second_store_on_a_live_hub_is_refused_naming_the_holder(tmp_path: Path) -> None:
    hub = tmp_path / "hub.sqlite"
    first = Store(hub)
    try:
        with pytest.raises(HubInUse) as err:
            Store(hub)
        assert str(err.value) == f"task hub {hub} is in use by another host (pid {os.getpid()})"
    finally:
        first.close()
    Store(hub).close()  # closed: free again


def test_the_hub_of_a_host_killed_with_sigkill_opens_again(tmp_path: Path) -> None:
    hub = tmp_path / "hub.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(hub)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        with pytest.raises(HubInUse, match=f"pid {proc.pid}"):
            Store(hub)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    Store(hub).close()


@pytest.mark.parametrize("kind", ["directory", "text file"])
def test_a_db_that_is_not_sqlite_is_a_hub_error_naming_it(tmp_path: Path, kind: str) -> None:
    hub = tmp_path / "hub"
    if kind == "directory":
        hub.mkdir()
    else:
        hub.write_text("not a database, just some text long enough to fill a sqlite header page\n" * 20)
    with pytest.raises(HubError, match=str(hub)):
        Store(hub)
