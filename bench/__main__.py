"""``python -m bench``: every benchmark, one report (bench.report), written to .respot/bench.json.

``python -m bench [--quick] [--out PATH] [--only PART ...]`` is the report (``make bench``; ``--quick`` is the CI
form); ``python -m bench arm latency functions`` prints those benchmarks' lines and writes nothing;
``python -m bench policies [--traces DIR ...] [--json] ...`` replays availability traces through respot's placement
policy and the baselines (bench.policies; ``--help`` lists its options); ``python -m bench mass [--vms N] [--json]``
evicts a fleet at once against ARM's throttling budgets (bench.mass).
"""

from __future__ import annotations

import sys

from bench import arm, functions, latency, mass, policies, report


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["policies"]:
        return policies.main(argv[1:])
    if argv[:1] == ["mass"]:
        return mass.main(argv[1:])
    if not argv or argv[0].startswith("-"):
        return report.main(argv)
    for name, module in (("arm", arm), ("functions", functions), ("latency", latency)):
        if name in argv:
            for line in module.main():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
