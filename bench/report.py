"""``python -m bench [--quick] [--out PATH]``: every benchmark, one report, one JSON document.

Each benchmark runs in a process of its own (``python -m bench.report --part NAME``): its peak RSS is its own, the
product's per-process caches (settings, clients) meet one world, and one that crashes does not take the others with
it. A part prints its module's own lines on stderr as it goes and one JSON object on stdout; this module collects
them, prints a summary of every figure (its median and how many repetitions it is over, the bound it is compared
with, and whether it holds), and writes ``.respot/bench.json``:

    {"schema": 1, "timestamp", "git": {"commit", "dirty"}, "quick", "seconds",
     "machine": {"cpu", "cores", "python", "platform", "load_before", "load_after"},
     "benchmarks": {"arm" | "latency" | "functions" | "mass" | "policies":
                    {"seconds", "load": [before, after], "sizes", "figures": {NAME: FIGURE}, "detail": {...}}}}

A FIGURE is ``{"value", "unit", "median_of", "over", "bound"}``: ``median_of`` counts the samples the median is
taken over and ``over`` says what they are; ``bound`` is ``{"op", "value", "source", "met"}`` or None. The
``--quick`` form (CI) is smaller everywhere: see :data:`QUICK`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO, median, pct

OUT = REPO / ".respot" / "bench.json"
PARTS = ("arm", "latency", "functions", "mass", "policies")


@dataclass(frozen=True)
class Sizes:
    """How large each benchmark runs."""

    arm_runs: int = 3  # GET runs (each: one client, then two client processes)
    arm_gets: int = 2000  # GETs per client per run
    arm_creates: int = 10  # create LROs, one after another
    latency_runs: int = 3
    latency_evictions: int = 60
    functions_runs: int = 3
    functions_orchestrations: int = 300
    entity_orchestrations: int = 20
    entity_signals: int = 2000
    replay_calls: int = 15
    mass_vms: int = 1000
    mass_speed: float = 1.0  # simulated seconds per real second; 0: stepped (bench.mass)
    policy_sets: int | None = None  # None: every trace directory; n: the first n


FULL = Sizes()
QUICK = Sizes(
    arm_runs=1,
    arm_gets=500,
    arm_creates=3,
    latency_runs=1,
    latency_evictions=20,
    functions_runs=1,
    functions_orchestrations=100,
    entity_orchestrations=10,
    entity_signals=500,
    replay_calls=5,
    mass_vms=100,
    mass_speed=0.0,  # stepped: cannot be host-bound, and 100 VMs take seconds instead of the wave's 90 s
    policy_sets=1,
)


# --- figures and bounds ------------------------------------------------------------------------------------------


def bound(op: str, value: float, source: str) -> dict[str, Any]:
    return {"op": op, "value": value, "source": source}


def figure(
    value: float | None, unit: str, *, median_of: int, over: str, against: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One figure: ``value`` is the median of ``median_of`` samples (``over`` says what they are)."""
    checked = None
    if against is not None:
        checked = {**against, "met": holds(value, against["op"], against["value"])}
    return {"value": value, "unit": unit, "median_of": median_of, "over": over, "bound": checked}


def median_figure(
    samples: list[float], unit: str, *, over: str, against: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The median of ``samples`` as a figure (None when there are none)."""
    return figure(median(samples) if samples else None, unit, median_of=len(samples), over=over, against=against)


def holds(value: float | None, op: str, limit: float) -> bool | None:
    if value is None:
        return None
    return {"<=": value <= limit, "<": value < limit, ">=": value >= limit, ">": value > limit, "==": value == limit}[
        op
    ]


# --- the parts (each in its own process) -------------------------------------------------------------------------


def part_arm(sizes: Sizes) -> dict[str, Any]:
    from bench import arm

    got = arm.measure(runs=sizes.arm_runs, gets=sizes.arm_gets, creates=sizes.arm_creates)
    runs, lro = got["get_runs"], got["lro"]
    for run in runs:
        _say(arm.get_lines(run))
    _say(arm.lro_lines(lro))
    per_run = f"runs of {sizes.arm_gets} GETs per client"
    target = bound(">=", 500, "issue #2: at least 500 GET/s")
    return {
        "figures": {
            "get_per_second_one_client": median_figure(
                [r["one_client"]["per_second"] for r in runs], "req/s", over=per_run
            ),
            "get_per_second_two_processes": median_figure(
                [r["two_processes"]["per_second"] for r in runs], "req/s", over=per_run, against=target
            ),
            "get_handler_p50_ms": median_figure([r["handler_p50_ms"] for r in runs], "ms", over=per_run),
            "lro_overhead_ms": figure(
                median(lro["overhead_ms"]),
                "ms",
                median_of=lro["creates"],
                over="creates with 2 s of simulated provisioning",
                against=bound("<=", 5, "issue #2: at most 5 ms of emulator overhead per create"),
            ),
            "lro_client_beyond_provisioning_ms": figure(
                median(lro["client_beyond_provisioning_ms"]), "ms", median_of=lro["creates"], over="creates"
            ),
        },
        "detail": got,
    }


def part_latency(sizes: Sizes) -> dict[str, Any]:
    from bench import latency

    runs = []
    for _ in range(sizes.latency_runs):
        samples = latency.samples(sizes.latency_evictions)
        _say(latency.report_lines(samples, sizes.latency_evictions, 0.4))
        runs.append(samples)
    over = f"runs of {sizes.latency_evictions} evictions 0.4 s apart"
    p50s = [median(r) for r in runs if r]
    p99s = [pct(r, 99) for r in runs if r]
    ratios = [b / a for a, b in zip(p50s, p99s, strict=True) if a > 0]
    return {
        "figures": {
            "p50_ms": median_figure(p50s, "ms", over=over),
            "p99_ms": median_figure(p99s, "ms", over=over, against=bound("<=", 100, "issue #7: p99 at most 100 ms")),
            "p99_over_p50": median_figure(
                ratios, "x", over=over, against=bound("<=", 3, "issue #7: p99 within 3x of p50")
            ),
            "answered": figure(
                min(len(r) for r in runs) / sizes.latency_evictions,
                "share",
                median_of=len(runs),
                over="runs: the worst of them, not the median",
                against=bound("==", 1, "every eviction acted on"),
            ),
        },
        "detail": {"samples_ms": runs},
    }


def part_functions(sizes: Sizes) -> dict[str, Any]:
    import logging

    from bench import functions

    logging.getLogger().setLevel(logging.ERROR)  # as functions.main: azure-functions warns about auth levels
    runs = [functions.throughput_figures(sizes.functions_orchestrations) for _ in range(sizes.functions_runs)]
    for run in runs:
        _say(functions.throughput_lines(run))
    calls = functions.entity_call_figures(sizes.entity_orchestrations)
    signals = functions.entity_signal_figures(sizes.entity_signals)
    replays = functions.replay_figures(sizes.replay_calls)
    over = f"runs of {sizes.functions_orchestrations} orchestrations x 5 activities"
    figs = {
        "orchestrations_per_second": median_figure(
            [r["per_second"] for r in runs],
            "/s",
            over=over,
            against=bound(">=", 50, "issue #3: at least 50 orchestrations/s"),
        ),
        "episode_median_ms": median_figure([r["episode_median_ms"] for r in runs], "ms", over=over),
        "episodes_in_flight": median_figure([r["in_flight"] for r in runs], "episodes", over=over),
    }
    for c in calls:
        key = "entity_calls_per_second_" + ("shared" if "shared" in c["shape"] else "each")
        figs[key] = figure(c["per_second"], "/s", median_of=1, over=f"one run of {c['calls']} calls, {c['shape']}")
    figs["entity_operations_per_second_one_key"] = figure(
        signals["per_second"], "/s", median_of=1, over=f"one run of {signals['signals']} signals"
    )
    for r in replays:
        figs[f"replay_ms_{r['events']}_events"] = figure(
            r["median_ms"], "ms", median_of=r["calls"], over="calls of the orchestrator handle"
        )
    figs["replay_us_per_event"] = figure(
        replays[-1]["us_per_event"],
        "us",
        median_of=replays[-1]["calls"],
        over=f"calls on {replays[-1]['events']} events",
    )
    _say(
        [
            f"entity calls, {c['shape']}: {c['per_second']:.1f} /s ({c['batches']} batches, max {c['batch_max']})"
            for c in calls
        ]
        + [f"entity operations, one key: {signals['per_second']:.0f} /s"]
        + [
            f"replay, {r['events']} events: median {r['median_ms']:.2f} ms ({r['us_per_event']:.0f} us per event)"
            for r in replays
        ]
    )
    return {
        "figures": figs,
        "detail": {"throughput_runs": runs, "entity_calls": calls, "entity_signals": signals, "replay": replays},
    }


def part_mass(sizes: Sizes) -> dict[str, Any]:
    import logging

    from bench import mass

    logging.getLogger().setLevel(logging.ERROR)
    fig = mass.run(sizes.mass_vms, sizes.mass_speed)
    _say(mass.report(fig))
    clock = f"at {sizes.mass_speed:g}x" if sizes.mass_speed > 0 else "on a stepped clock"
    one = f"one wave of {fig['vms']} VMs {clock}"

    def wave(value: float | None, unit: str, against: dict[str, Any] | None = None) -> dict[str, Any]:
        return figure(value, unit, median_of=1, over=one, against=against)

    return {
        "figures": {
            "recovered_share": wave(fig["recovered"] / fig["vms"], "share", bound("==", 1, "every VM")),
            "seconds": wave(fig["seconds"], "s"),
            "bound_seconds": wave(fig["bound_seconds"], "s"),
            "ratio_to_bound": wave(fig["ratio"], "x", bound("<=", 1.2, "issue #9: within 1.2x of the ARM bound")),
            "writes_per_vm": wave(fig["writes_per_vm"], "writes", bound("<=", 1.05, "one write per VM, 5% slack")),
            "reads_per_vm": wave(fig["reads_per_vm"], "reads"),
            "throttled": wave(fig["throttled"], "429s"),
            "throttled_write_share": wave(
                fig["throttled_write_share"], "share", bound("<", 0.01, "issue #9: < 1% of writes")
            ),
            "duplicates": wave(fig["duplicates"] + fig["extra_vms"], "VMs", bound("==", 0, "issue #9: none")),
            "peak_rss_mb": wave(fig["peak_rss_mb"], "MB", bound("<", 500, "issue #9: < 500 MB")),
            "cpu_cores": wave(fig["cpu_cores"], "cores"),
        },
        "detail": fig,
    }


def trace_dirs(root: Path | None = None) -> list[Path]:
    """Every directory under ../shared/data/spot-traces that holds trace files (one set each), in name order."""
    from bench.policies import SHARED

    base = root or SHARED / "spot-traces"
    return sorted({p.parent for p in base.rglob("*.json")})


def part_policies(sizes: Sizes, dirs: list[Path] | None = None) -> dict[str, Any]:
    from bench import policies
    from bench.sim import synth
    from bench.sim.prices import load_csv
    from bench.sim.signals import load_vm_skus
    from bench.sim.traces import load

    found = dirs if dirs is not None else trace_dirs()
    book = load_csv(policies.DEFAULT_PRICES) if policies.DEFAULT_PRICES.exists() else None
    vm_sizes = load_vm_skus(policies.DEFAULT_PRICES.with_name("vm_skus.csv"))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="respot-traces-") as tmp:
        if not found:  # ../shared/data is not beside this checkout (a bare clone): the seeded synthetic sets
            _say([f"no trace sets under {policies.SHARED / 'spot-traces'}: the synthetic sets instead (seed 1)"])
            found = synth.write(Path(tmp), 1)
        chosen = found if sizes.policy_sets is None else found[: sizes.policy_sets]
        for d in chosen:
            traces = load(d)
            name = traces.name if traces.name not in results else str(d)
            results[name] = policies.run_set(traces, book, vm_sizes, False)
            _say(policies.report(name, results[name], False))
    doc = policies.as_json(results)
    figs: dict[str, Any] = {}
    for name, entry in doc["sets"].items():
        targets = entry["targets"]
        over = "one replay; deterministic: a repetition gives the same figures"
        respot = entry["policies"]["respot"]
        oracle = entry["policies"]["oracle"]
        figs[f"{name}.respot_behind_oracle"] = figure(
            targets["availability_behind_oracle"],
            "availability",
            median_of=1,
            over=over,
            against=bound("<=", 0.01, f"the issue: within 0.01 of the oracle ({oracle['availability']:.4f})"),
        )
        figs[f"{name}.respot_writes_vs_eager"] = figure(
            targets["writes_vs_eager"],
            "x",
            median_of=1,
            over=over,
            against=bound("<=", 0.5, "the issue: half of eager_next_region's"),
        )
        eager = entry["policies"]["eager_next_region"]["evictions"]
        figs[f"{name}.respot_evictions"] = figure(
            respot["evictions"],
            "evictions",
            median_of=1,
            over=over,
            against=bound("<", eager, "the issue: fewer than eager_next_region's"),
        )
        figs[f"{name}.respot_cost_vs_ondemand"] = figure(
            respot["cost_vs_ondemand"], "x", median_of=1, over=over, against=bound("<", 1, "all on-demand")
        )
    for n, d in zip(results, chosen, strict=True):
        doc["sets"][n]["dir"] = str(d.relative_to(d.parents[3]) if len(d.parents) > 3 else d)
    return {"figures": figs, "detail": doc}


PART_FUNCTIONS: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "arm": part_arm,
    "latency": part_latency,
    "functions": part_functions,
    "mass": part_mass,
    "policies": part_policies,
}


def _say(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def run_part(name: str, sizes: Sizes) -> dict[str, Any]:
    """One part in this process (``--part``), with its wall time and the load before and after."""
    load0, began = os.getloadavg()[0], time.monotonic()
    out = PART_FUNCTIONS[name](sizes)
    return {
        "seconds": round(time.monotonic() - began, 1),
        "load": [load0, os.getloadavg()[0]],
        "sizes": asdict(sizes),
        **out,
    }


# --- the report --------------------------------------------------------------------------------------------------


def machine_block() -> dict[str, Any]:
    from bench.common import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()}",
    }


def git_block() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            argv = ["git", *args]  # git from PATH, as a developer runs it
            done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD") or None
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def spawn_part(name: str, sizes: Sizes) -> dict[str, Any]:
    """``python -m bench.report --part NAME``: its lines go to our stderr, its JSON comes back."""
    argv = [sys.executable, "-m", "bench.report", "--part", name, "--sizes", json.dumps(asdict(sizes))]
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}", "figures": {}}
    lines = done.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": "no output", "figures": {}}
    return result


def build(
    sizes: Sizes,
    *,
    quick: bool,
    parts: tuple[str, ...] = PARTS,
    runner: Callable[[str, Sizes], dict[str, Any]] = spawn_part,
) -> dict[str, Any]:
    """Every part, in order, between two readings of the machine's load."""
    began = time.monotonic()
    doc: dict[str, Any] = {
        "schema": 1,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_block(),
        "quick": quick,
        "machine": {**machine_block(), "load_before": list(os.getloadavg())},
        "benchmarks": {},
    }
    m = doc["machine"]
    _say([f"# bench: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load {_loads(m['load_before'])}"])
    for name in parts:
        print(f"\n## {name}", file=sys.stderr, flush=True)
        doc["benchmarks"][name] = runner(name, sizes)
    doc["machine"]["load_after"] = list(os.getloadavg())
    doc["seconds"] = round(time.monotonic() - began, 1)
    return doc


def _value(v: float | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.4g}"


def summary(doc: dict[str, Any]) -> list[str]:
    m = doc["machine"]
    lines = [
        f"# bench report{' (--quick)' if doc['quick'] else ''}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}",
        (
            f"  load average (1, 5, 15 min) before {_loads(m['load_before'])}, after {_loads(m['load_after'])}; "
            f"git {(doc['git']['commit'] or '?')[:10]}{' (dirty)' if doc['git']['dirty'] else ''}; {doc['seconds']:.0f} s"
        ),
    ]
    for name, part in doc["benchmarks"].items():
        head = f"## {name}"
        if "error" in part:
            lines.append(f"{head}: FAILED ({part['error']})")
            continue
        lines.append(f"{head} ({part['seconds']:.0f} s, load {part['load'][0]:.2f} -> {part['load'][1]:.2f})")
        for key, f in part["figures"].items():
            b = f["bound"]
            verdict = ""
            if b is not None:
                mark = {True: "ok", False: "MISS", None: "-"}[b["met"]]
                verdict = f"  bound {b['op']} {_value(b['value'])}: {mark} ({b['source']})"
            lines.append(
                f"  {key:<40} {_value(f['value']):>9} {f['unit']:<12} median of {f['median_of']} ({f['over']}){verdict}"
            )
        if name == "policies":
            lines += policy_tables(part)
    return lines


def policy_tables(part: dict[str, Any]) -> list[str]:
    """respot and each baseline side by side, per trace set."""
    from bench.policies import Figures, table

    lines = []
    for name, entry in part["detail"]["sets"].items():
        if "policies" not in entry:
            continue
        lines.append(f"  {name}:")
        lines += ["  " + row for row in table({k: Figures(**v) for k, v in entry["policies"].items()})]
    return lines


def _loads(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def write(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def parse(argv: list[str], epilog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=epilog,  # python -m bench's subcommands (bench.__main__), listed under --help
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="the CI form: smaller runs, one repetition, one trace set")
    p.add_argument("--out", type=Path, default=OUT, help=f"where the JSON goes (default {OUT.relative_to(REPO)})")
    p.add_argument("--only", action="append", choices=PARTS, help="only these parts (repeatable)")
    p.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # one part in this process, JSON on stdout
    p.add_argument("--sizes", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    problem = None if args.part else unwritable(args.out)
    if problem:
        p.error(f"--out {args.out}: {problem}")  # now, not after the whole run, when write() would fail
    return args


def unwritable(path: Path) -> str | None:
    """Why ``write(doc, path)`` would fail, or None: a directory, an ancestor that is a file, a folder not ours."""
    if path.is_dir():
        return "is a directory"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write in {parent}"
    return None


def main(argv: list[str], epilog: str | None = None) -> int:
    args = parse(argv, epilog)
    sizes = QUICK if args.quick else FULL
    if args.sizes:
        sizes = replace(FULL, **json.loads(args.sizes))
    if args.part:
        print(json.dumps(run_part(args.part, sizes)))
        return 0
    doc = build(sizes, quick=args.quick, parts=tuple(args.only or PARTS))
    write(doc, args.out)
    print()
    for line in summary(doc):
        print(line, flush=True)
    print(f"\nwritten: {args.out}")
    return 1 if any("error" in p for p in doc["benchmarks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
