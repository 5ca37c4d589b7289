"""``python -m localcloud.functions`` (and ``respot serve``): run function_app.py until Ctrl-C.

On a first run (no local.settings.json beside the app) the app's local.settings.sample.json gives the settings and
the ARM emulator starts where they point (see ``firstrun``). Every failure to start is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localcloud import argtypes
from localcloud.clock import Clock
from localcloud.functions import firstrun
from localcloud.functions.appmodel import AppLoadError
from localcloud.functions.host import FunctionsHost
from localcloud.functions.store import HubError, HubInUse

# Loggers that speak at INFO for every HTTP request the app's SDK clients make (azure-core's request and response
# lines) or every token they get: WARNING unless -v, so that the host's one line per invocation stays readable.
CHATTY = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity")


def main(argv: list[str] | None = None, *, prog: str = "python -m localcloud.functions") -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose)
    try:
        plan = firstrun.plan(args.app, arm_port=args.arm_port, no_arm=args.no_arm, environ=os.environ)
    except ValueError as exc:
        return _fail(prog, str(exc))
    if plan.notice:
        print(plan.notice, flush=True)
    os.environ.update(plan.env)
    clock = Clock(speed=args.speed, start=_start(args))
    try:
        host = FunctionsHost(
            args.app, host=args.host, port=args.port, clock=clock, db_path=args.db, settings_path=plan.settings
        )
    except socket.gaierror as exc:  # before the port: the address itself does not resolve
        return _fail(prog, f"--host {args.host}: cannot listen there: {exc.strerror or exc}")
    except OSError as exc:  # the port is taken, most often
        port = args.port if args.port is not None else "the settings' Host.LocalHttpPort (7071)"
        return _fail(prog, f"the Functions host cannot listen on port {port}: {exc.strerror or exc} (--port N)")
    except HubInUse as exc:
        return _fail(prog, str(exc))
    except HubError as exc:
        return _fail(prog, f"--db: {exc}")
    except (AppLoadError, ValueError) as exc:
        return _fail(prog, firstrun.explain(str(exc), plan))
    if plan.arm_port is not None and plan.arm_port == host.server.server_address[1]:
        host.server.server_close()
        host.store.close()
        return _fail(prog, f"--arm-port {plan.arm_port} is the Functions host's own port: give them different ports")
    try:
        arm = _start_arm(args.host, plan.arm_port, clock) if plan.arm_port is not None else None
    except OSError as exc:
        host.store.close()
        return _fail(prog, f"the ARM emulator cannot listen on port {plan.arm_port}: {exc} (--arm-port N or --no-arm)")
    _serve(host, args)
    if arm is not None:
        arm.stop()
    return 0


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Local Azure Functions host for function_app.py.")
    parser.add_argument(
        "--app", type=Path, default=Path("function_app.py"), help="the app module (default: ./function_app.py)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        type=argtypes.port(),
        default=None,
        help="default: Host.LocalHttpPort of local.settings.json, else 7071",
    )
    parser.add_argument("--db", type=Path, default=Path(".respot/taskhub.sqlite"), help="SQLite task hub")
    parser.add_argument(
        "--speed", type=argtypes.number(0), default=1.0, help="simulated seconds per real second for durable timers"
    )
    parser.add_argument(
        "--start",
        type=_utc,
        default=None,
        help="simulated time at start, ISO 8601 (default: now): a host restarted beside a running emulator "
        "takes up the emulator's time",
    )
    parser.add_argument(
        "--start-real",
        type=float,
        default=None,
        help="with --start: the real Unix time at which it was --start, so the time the host takes to boot "
        "passes at --speed too (the host's clock then agrees with the emulator's)",
    )
    parser.add_argument(
        "--arm-port",
        type=argtypes.port(),
        default=None,
        help="also run the ARM emulator on this port, on the same clock (on a first run: the sample's port)",
    )
    parser.add_argument(
        "--no-arm", action="store_true", help="on a first run, do not start the ARM emulator the sample points at"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs, the Azure SDK's HTTP lines too")
    return parser


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def _start(args: argparse.Namespace) -> datetime | None:
    start: datetime | None = args.start
    if start is None or args.start_real is None:
        return start
    return start + timedelta(seconds=args.speed * max(0.0, time.time() - float(args.start_real)))


def _utc(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _start_arm(host: str, port: int, clock: Clock) -> Any:
    from localcloud.arm import ArmEmulator

    try:
        arm = ArmEmulator(host=host, port=port, clock=clock).start()
    except OSError:
        if not _emulator_answers(host, port):
            raise
        print(f"ARM emulator already running on http://{host}:{port}: using it (on its own clock)", flush=True)
        return None
    print(f"ARM emulator on {arm.url}", flush=True)
    return arm


def _emulator_answers(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_localcloud/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _serve(host: FunctionsHost, args: argparse.Namespace) -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    host.start()
    print(f"Functions host on {host.url} (task hub {args.db}, clock {args.speed}x)", flush=True)
    print("\n".join(host.describe()), flush=True)
    if host.new_keys:
        print(
            f"Generated keys (kept in {args.db.parent / 'keys.json'}): function {host.keys.function}  master {host.keys.master}  system {host.keys.system}",
            flush=True,
        )
    done.wait()
    host.stop()


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
