"""``python -m localcloud.arm``: run the ARM emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from localcloud.arm import persistence
from localcloud.arm.server import ArmEmulator, load_scenario


def main(argv: list[str] | None = None, prog: str = "python -m localcloud.arm") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Local Azure Resource Manager emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7070)
    parser.add_argument("--scenario", type=Path, help="scenario JSON file (see localcloud/arm/scenario.py)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (0 stops time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", type=Path, help="load state from this file at start, save it at exit")
    parser.add_argument("--no-throttling", action="store_true", help="turn ARM/Compute throttling off")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.speed < 0:
        parser.error("--speed must be >= 0")
    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
        arm = ArmEmulator(
            host=args.host,
            port=args.port,
            speed=args.speed,
            seed=args.seed,
            scenario=scenario,
            throttling=not args.no_throttling,
            base_dir=args.scenario.parent if args.scenario else None,
        )
    except (OSError, ValueError, TypeError) as exc:
        print(f"localcloud.arm: {exc}", file=sys.stderr)
        return 2
    if args.state is not None:
        persistence.load_if_present(arm, args.state)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    arm.start()
    print(
        f"ARM emulator on {arm.url}  subscription {arm.subscription}  resource group {arm.resource_group}\n"
        f"Key Vault: https://<vault>.vault.azure.net at {arm.vault_endpoint}/<vault>  (CA: {arm.ca_file})",
        flush=True,
    )
    done.wait()
    if args.state is not None:
        persistence.save(arm, args.state)
    arm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
