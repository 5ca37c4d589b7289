"""The ``respot`` command: the composition root for local runs (the one module allowed to import localcloud)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="respot", description="respot: keep Azure Spot VM capacity alive.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "arm",
        help="run the local ARM emulator",
        description="Run the local ARM emulator (see `respot arm --help`).",
        add_help=False,
    )
    sub.add_parser(
        "serve",
        help="run function_app.py on the local Functions host",
        description="Run the app locally (see `respot serve --help`; --arm-port adds the ARM emulator).",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "arm":
        from localcloud.arm.__main__ import main as arm_main

        return arm_main(rest, prog="respot arm")
    if args.command == "serve":
        from localcloud.functions.__main__ import main as serve_main

        return serve_main(rest, prog="respot serve")
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
