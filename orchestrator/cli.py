"""The ``respot`` command: the composition root for local runs (the one module allowed to import localcloud)."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable


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

        if {"-h", "--help"} & set(rest):
            return _help_as("respot arm", "python -m localcloud.arm", lambda: arm_main(rest))
        return arm_main(rest)
    if args.command == "serve":
        from localcloud.functions.__main__ import main as serve_main

        return serve_main(rest, prog="respot serve")
    parser.error(f"unknown command {args.command}")


def _help_as(prog: str, own_name: str, show_help: Callable[[], int]) -> int:
    """A tool's --help under the name the user typed: the emulator's parser names itself ``own_name``."""
    text = io.StringIO()
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(text):
            show_help()
    except SystemExit as exc:  # argparse exits after printing the help
        code = exc.code
    usage_indent = "\n" + " " * len(f"usage: {own_name} ")  # argparse aligns wrapped usage lines under the name
    shown = text.getvalue().replace(usage_indent, "\n" + " " * len(f"usage: {prog} ")).replace(own_name, prog)
    print(shown, end="")
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
