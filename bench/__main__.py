"""``python -m bench``: run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench import arm, functions, latency


def main() -> int:
    which = sys.argv[1:] or ["arm", "functions", "latency"]
    for name, module in (("arm", arm), ("functions", functions), ("latency", latency)):
        if name in which:
            for line in module.main():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
