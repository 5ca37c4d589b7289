"""``python -m localcloud.arm``: run the ARM emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from localcloud import argtypes
from localcloud.arm import persistence
from localcloud.arm.models import Json
from localcloud.arm.scenario import ScenarioError
from localcloud.arm.server import ArmEmulator


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Local Azure Resource Manager emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=argtypes.port(), default=7070)
    parser.add_argument("--scenario", type=Path, help="scenario JSON file (see localcloud/arm/scenario.py)")
    parser.add_argument(
        "--speed", type=argtypes.number(0), default=1.0, help="simulated seconds per real second (0 stops time)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--state",
        type=Path,
        help="load state from this file at start, save it at exit (a pickle: give it only a file this emulator wrote)",
    )
    parser.add_argument("--no-throttling", action="store_true", help="turn ARM/Compute throttling off")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _load_scenario(path: Path) -> Json:
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"--scenario {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ScenarioError(f"--scenario {path}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"--scenario {path}: a scenario is a JSON object")
    return doc


def _emulator(args: argparse.Namespace) -> ArmEmulator:
    """Build the emulator, or raise ValueError with a line that names the flag (and file) at fault."""
    scenario = _load_scenario(args.scenario) if args.scenario else None
    try:
        return ArmEmulator(
            host=args.host,
            port=args.port,
            speed=args.speed,
            seed=args.seed,
            scenario=scenario,
            throttling=not args.no_throttling,
            base_dir=args.scenario.parent if args.scenario else None,
        )
    except ScenarioError as exc:
        raise ScenarioError(f"--scenario {args.scenario}: {exc}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"port {args.port} on {args.host} is in use (choose another with --port)") from None
        raise ValueError(f"cannot listen on {args.host}:{args.port} (--host/--port): {exc.strerror or exc}") from None


def main(argv: list[str] | None = None, prog: str = "python -m localcloud.arm") -> int:
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.state is not None:
            persistence.check(args.state)
        arm = _emulator(args)
        if args.state is not None:
            persistence.load_if_present(arm, args.state)
    except persistence.StateError as exc:
        print(f"localcloud.arm: --state {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as exc:
        print(f"localcloud.arm: {exc}", file=sys.stderr)
        return 2
    return _serve(arm, args.state)


def _serve(arm: ArmEmulator, state: Path | None) -> int:
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
    if state is not None:
        persistence.save(arm, state)
    arm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
