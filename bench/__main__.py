"""``python -m bench``: run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench import arm, functions


def main() -> int:
    which = sys.argv[1:] or ["arm", "functions"]
    for name, module in (("arm", arm), ("functions", functions)):
        if name in which:
            for line in module.main():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
