"""argparse types shared by the local tools (the ARM emulator, the Functions host, the demo, the benchmarks): a
bad number is a usage error naming the flag, never a traceback later. ``float`` takes nan and inf, which pass a
``< 0`` check and then stop a clock's thread or never end a wait; past 65535 ``socket.bind`` raises OverflowError."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def port(least: int = 0) -> Callable[[str], int]:
    """A port from ``least`` (0: any free port) to 65535."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
        if not least <= value <= 65535:
            raise argparse.ArgumentTypeError(f"a port is {least}-65535, not {value}")
        return value

    return parse


def number(least: float, *, inclusive: bool = True) -> Callable[[str], float]:
    """A finite float >= ``least`` (> when not ``inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < least or (value == least and not inclusive):
            raise argparse.ArgumentTypeError(f"a finite number {'>=' if inclusive else '>'} {least:g}, not {text}")
        return value

    return parse
