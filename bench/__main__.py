"""``python -m bench``: run every benchmark and print its figures.

``python -m bench`` (no arguments) runs arm, functions and latency; ``python -m bench arm latency`` runs those;
``python -m bench policies [--traces DIR ...] [--json] ...`` replays availability traces through respot's placement
policy and the baselines (bench.policies; ``--help`` lists its options); ``python -m bench mass [--vms N] [--json]``
evicts a fleet at once against ARM's throttling budgets (bench.mass).
"""

from __future__ import annotations

import sys

from bench import arm, functions, latency, mass, policies


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["policies"]:
        return policies.main(argv[1:])
    if argv[:1] == ["mass"]:
        return mass.main(argv[1:])
    which = argv or ["arm", "functions", "latency"]
    for name, module in (("arm", arm), ("functions", functions), ("latency", latency)):
        if name in which:
            for line in module.main():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
