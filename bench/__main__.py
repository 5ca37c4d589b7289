"""``python -m bench``: every benchmark, one report (bench.report), written to .respot/bench.json.

``python -m bench [--quick] [--out PATH] [--only PART ...]`` is the report (``make bench``; ``--quick`` is the CI
form); ``python -m bench arm latency functions`` prints those benchmarks' lines and writes nothing;
``python -m bench policies [--traces DIR ...] [--json] ...`` replays availability traces through respot's placement
policy and the baselines (bench.policies; ``--help`` lists its options); ``python -m bench mass [--vms N] [--json]``
evicts a fleet at once against ARM's throttling budgets (bench.mass).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import arm, functions, latency, mass, policies, report

# The benchmarks that print their lines (any of them, in one run); policies and mass take options of their own.
LINES: dict[str, Callable[[], list[str]]] = {"arm": arm.main, "latency": latency.main, "functions": functions.main}
COMMANDS = {
    "policies": "replay availability traces through respot's placement policy and the baselines (policies --help)",
    "mass": "evict a fleet at once against ARM's throttling budgets (mass --help)",
    "arm": "the ARM emulator's throughput and latency; prints its lines, writes nothing",
    "latency": "eviction to respot's first ARM write; prints its lines, writes nothing",
    "functions": "the local Functions host's throughput and replay cost; prints its lines, writes nothing",
}
EPILOG = "subcommands (python -m bench NAME ...):\n" + "\n".join(f"  {k:<10} {v}" for k, v in COMMANDS.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["policies"]:
        return policies.main(argv[1:])
    if argv[:1] == ["mass"]:
        return mass.main(argv[1:])
    if not argv or argv[0].startswith("-"):
        return report.main(argv, epilog=EPILOG)
    for name in _line_benchmarks(argv):
        for line in LINES[name]():
            print(line, flush=True)
    return 0


def _line_benchmarks(argv: list[str]) -> list[str]:
    """The names in ``arm latency functions`` form; anything else is an argparse error (exit 2), not a silent 0."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        usage="python -m bench {arm,latency,functions} ...",
        description="Run these benchmarks and print their lines (nothing is written).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="arm, latency or functions (repeatable)")
    names: list[str] = parser.parse_args(argv).names
    for name in names:
        if name not in LINES:
            parser.error(f"unknown subcommand {name!r} (one of {', '.join(COMMANDS)}; --help lists them)")
    return list(dict.fromkeys(names))


if __name__ == "__main__":
    sys.exit(main())
