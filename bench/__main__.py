"""``python -m bench``: run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench import arm


def main() -> int:
    for line in arm.main():
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
