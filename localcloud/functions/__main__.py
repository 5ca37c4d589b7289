"""``python -m localcloud.functions`` (and ``respot serve``): run function_app.py until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from localcloud.clock import Clock
from localcloud.functions.appmodel import AppLoadError
from localcloud.functions.host import FunctionsHost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.functions", description="Local Azure Functions host for function_app.py."
    )
    parser.add_argument(
        "--app", type=Path, default=Path("function_app.py"), help="the app module (default: ./function_app.py)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=None, help="default: Host.LocalHttpPort of local.settings.json, else 7071"
    )
    parser.add_argument("--db", type=Path, default=Path(".respot/taskhub.sqlite"), help="SQLite task hub")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second for durable timers")
    parser.add_argument(
        "--arm-port", type=int, default=None, help="also run the ARM emulator on this port, on the same clock"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.speed < 0:
        parser.error("--speed must be >= 0")
    clock = Clock(speed=args.speed)
    try:
        host = FunctionsHost(args.app, host=args.host, port=args.port, clock=clock, db_path=args.db)
    except (AppLoadError, OSError, ValueError) as exc:
        print(f"localcloud.functions: {exc}", file=sys.stderr)
        return 2
    arm = None
    if args.arm_port is not None:
        from localcloud.arm import ArmEmulator

        arm = ArmEmulator(host=args.host, port=args.arm_port, clock=clock).start()
        print(f"ARM emulator on {arm.url}", flush=True)
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
    if arm is not None:
        arm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
