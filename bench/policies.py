"""``python -m bench policies``: respot's placement policy replayed on availability traces, against baselines.

Each ``--traces DIR`` is one trace set (../shared/data/spot-traces/FORMAT.md; each file one offering), replayed on a
simulated clock (bench.sim.world) through respot's real ``candidates`` + ``rank`` + ``Walk`` + restart ``Backoff``
(bench.sim.respot) and, in the same run, through ``restart_in_place_5min``, ``eager_next_region`` (SkyPilot's
EAGER_NEXT_REGION), ``cheapest_first`` (respot's walk with that strategy) and the ``oracle`` (bench.sim.oracle).
``--synthetic`` adds seeded synthetic sets (bench.sim.synth); ``--experiments`` adds labelled variants of respot's
scoring (bench.sim.experiments), which are proposals and never the product. With no sets named it replays the
shared traces and the synthetic ones. The model and every assumption: docs/benchmarks.md.

Targets (the issue): respot within 0.01 of the oracle's availability, at most half of eager_next_region's writes
per day, and fewer evictions than it. The figures are printed whether or not they hold; nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, machine
from bench.sim import baselines, experiments, oracle, respot, synth
from bench.sim.analysis import Capacity, Losses, losses
from bench.sim.prices import PriceBook, PriceError, load_csv, prices
from bench.sim.signals import load_vm_skus
from bench.sim.traces import TraceError, TraceSet, load
from bench.sim.world import Tally, World, first_tick

SHARED = REPO.parent / "shared" / "data"
SHARED_TRACES = (
    SHARED / "spot-traces/availability/1-node/aws-10-26-2022",
    SHARED / "spot-traces/preemption/1-node/aws-04-22-2023",
    SHARED / "spot-traces/preemption/1-node/gcp-04-30-2023",
)
DEFAULT_PRICES = SHARED / "azure-spot-prices/spot_price_history.csv"
POLICIES = ("respot", "cheapest_first", "eager_next_region", "restart_in_place_5min", "oracle", "perfect_create")


@dataclass(frozen=True)
class Figures:
    availability: float
    writes_per_day: float
    evictions: int
    cost_vs_ondemand: float | None
    creates: int
    failed_creates: int


def figures(tally: Tally, span: float, days: float) -> Figures:
    cost = tally.spend / tally.regular if tally.regular else None
    return Figures(tally.running / span, tally.writes / days, tally.evictions, cost, tally.creates, tally.failed)


def pooled(results: list[tuple[World, dict[str, Tally]]], name: str) -> Figures:
    """One policy over several sets: time-weighted availability, writes over all days, evictions summed."""
    span = sum(w.end - w.start for w, _ in results)
    ts = [tallies[name] for _, tallies in results]
    total = Tally(
        running=sum(t.running for t in ts),
        writes=sum(t.writes for t in ts),
        creates=sum(t.creates for t in ts),
        failed=sum(t.failed for t in ts),
        evictions=sum(t.evictions for t in ts),
        spend=sum(t.spend for t in ts),
        regular=sum(t.regular for t in ts),
    )
    return figures(total, span, span / 86400.0)


def world_of(traces: TraceSet, book: PriceBook | None) -> World:
    return World(traces, prices(traces, book, first_tick(traces)))


def policies(vm_sizes: dict[str, tuple[int, float]]) -> dict[str, Callable[[World], Tally]]:
    def home(world: World) -> str:
        first = respot.Knobs(low_probe=lambda last, now: True, one_probe=False)  # respot's first pick, any score
        return respot.RespotSim(world, first, vm_sizes).ranked(world.start, None)[0][0].offering.key

    return {
        "respot": lambda w: respot.run(w, respot.Knobs(), vm_sizes),
        "cheapest_first": lambda w: respot.run(w, respot.Knobs(strategy="cheapest_first"), vm_sizes),
        "eager_next_region": baselines.eager_next_region,
        "restart_in_place_5min": lambda w: baselines.restart_in_place(w, home(w)),
        "oracle": oracle.oracle,
        "perfect_create": oracle.perfect_create,  # a reference: knows only whether a create would succeed
    }


def targets(figs: dict[str, Figures]) -> dict[str, Any]:
    r, e, o = figs["respot"], figs["eager_next_region"], figs["oracle"]
    ratio = r.writes_per_day / e.writes_per_day if e.writes_per_day else None
    return {
        "availability_behind_oracle": round(o.availability - r.availability, 4),
        "availability_within_0.01": o.availability - r.availability <= 0.01,
        "writes_vs_eager": round(ratio, 3) if ratio is not None else None,
        "writes_at_most_half": ratio is not None and ratio <= 0.5,
        "evictions_fewer_than_eager": r.evictions < e.evictions,
    }


def run_set(
    traces: TraceSet, book: PriceBook | None, vm_sizes: dict[str, tuple[int, float]], extra: bool
) -> dict[str, Any]:
    started = time.monotonic()
    world = world_of(traces, book)
    span = world.end - world.start
    tallies = {name: run(world) for name, run in policies(vm_sizes).items()}
    figs = {name: figures(t, span, world.days) for name, t in tallies.items()}
    capacity = Capacity(world)
    out: dict[str, Any] = {"world": world, "tallies": tallies, "figures": figs, "targets": targets(figs)}
    out["losses"] = {name: losses(world, t, capacity) for name, t in tallies.items()}
    if extra:
        out["experiments"] = {
            name: figures(respot.run(world, knobs, vm_sizes), span, world.days)
            for name, knobs in experiments.variants().items()
        }
    out["seconds"] = time.monotonic() - started
    return out


def describe(world: World) -> str:
    t = world.traces
    regions = sorted({o.region for o in world.offerings.values()})
    sizes = sorted({o.size for o in world.offerings.values()})
    return (
        f"{t.name}: {len(world.offerings)} offerings ({len(sizes)} sizes x {', '.join(regions)}), "
        f"{t.gap:g} s ticks from {t.start:%Y-%m-%d}, {world.days:.1f} days scored after "
        f"{world.start / 86400:.2f} days of warm-up"
    )


def mapping(world: World) -> list[dict[str, Any]]:
    return [
        {
            "file": tr.source,
            "size": tr.offering.size,
            "region": tr.offering.region,
            "zone": tr.offering.zone or None,
            "price": world.prices.source[tr.offering.key],
            "price_of": f"{tr.price.price_size} x{tr.price.factor:g}",
            "available": round(1 - sum(tr.down) / len(tr.down), 3),
        }
        for tr in world.traces.traces
    ]


def table(rows: dict[str, Figures], ref: dict[str, Figures] | None = None) -> list[str]:
    head = f"  {'policy':<28} {'avail':>7} {'writes/d':>9} {'evictions':>9} {'cost/od':>8} {'creates':>8} {'failed':>7}"
    lines = [head]
    for name, f in rows.items():
        cost = f"{f.cost_vs_ondemand:.3f}" if f.cost_vs_ondemand is not None else "-"
        line = f"  {name:<28} {f.availability:>7.4f} {f.writes_per_day:>9.1f} {f.evictions:>9d} {cost:>8} {f.creates:>8d} {f.failed_creates:>7d}"
        if ref is not None:
            t = targets({"respot": f, **{k: ref[k] for k in ("eager_next_region", "oracle")}})
            line += f"  {_verdict(t)}"
        lines.append(line)
    return lines


def downtime(rows: dict[str, Losses]) -> list[str]:
    lines = [
        f"  {'downtime (hours)':<28} {'down':>7} {'detect':>7} {'provis':>7} {'fail:pick':>9} {'fail:none':>9} {'wait:cap':>8} {'wait:none':>9}"
    ]
    for name, x in rows.items():
        lines.append(
            f"  {name:<28} {x.down:>7.2f} {x.detection:>7.2f} {x.provisioning:>7.2f} {x.failed_wrong_pick:>9.2f} "
            f"{x.failed_nothing_up:>9.2f} {x.waiting_capacity:>8.2f} {x.waiting_nothing_up:>9.2f}"
        )
    return lines


def _verdict(t: dict[str, Any]) -> str:
    marks = [
        f"{'ok' if t['availability_within_0.01'] else 'MISS'} -{t['availability_behind_oracle']:.4f} vs oracle",
        f"{'ok' if t['writes_at_most_half'] else 'MISS'} {t['writes_vs_eager']}x eager writes",
        f"{'ok' if t['evictions_fewer_than_eager'] else 'MISS'} evictions",
    ]
    return "; ".join(marks)


def report(name: str, result: dict[str, Any], show_mapping: bool) -> list[str]:
    world: World = result["world"]
    lines = [describe(world)]
    if show_mapping:
        lines += [
            f"    {m['file']} -> {m['size']} {m['region']} zone {m['zone'] or '-'} (price: {m['price']} {m['price_of']}, available {m['available']})"
            for m in mapping(world)
        ]
    lines += table(result["figures"])
    lines.append(f"  targets for respot: {_verdict(result['targets'])}  ({result['seconds']:.1f} s)")
    lines += downtime(result["losses"])
    waits = result["tallies"]["respot"].waits
    if waits:
        causes = {
            "cooling": "every available offering cooling down",
            "backoff": "the restart schedule's timer (an offering was free)",
            "score": "the placement score (every free one scored Low)",
        }
        lines.append(
            "  respot's wait:cap by cause: "
            + "; ".join(f"{waits[k] / 3600:.2f} h {v}" for k, v in causes.items() if k in waits)
        )
    if "experiments" in result:
        lines.append("  EXPERIMENTS (copies of respot's scoring inside the benchmark; proposals, not the product):")
        lines += table(result["experiments"], ref=result["figures"])
    return lines


def as_json(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    worlds = [(r["world"], r["tallies"]) for r in results.values()]
    out: dict[str, Any] = {"policies": {name: asdict(pooled(worlds, name)) for name in POLICIES}, "sets": {}}
    for name, r in results.items():
        entry = {
            "policies": {k: asdict(v) for k, v in r["figures"].items()},
            "targets": r["targets"],
            "downtime_hours": {k: asdict(v) for k, v in r["losses"].items()},
            "respot_waiting_with_capacity_hours": {
                k: round(v / 3600, 2) for k, v in r["tallies"]["respot"].waits.items()
            },
            "offerings": mapping(r["world"]),
        }
        if "experiments" in r:
            entry["experiments"] = {k: asdict(v) for k, v in r["experiments"].items()}
        out["sets"][name] = entry
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench policies", description=__doc__.split("\n\n")[0])
    p.add_argument("--traces", action="append", type=Path, default=[], metavar="DIR", help="a trace set (repeatable)")
    p.add_argument("--prices", type=Path, metavar="CSV", help="spot price history (default: the shared CSV, if there)")
    p.add_argument("--no-prices", action="store_true", help="ignore the CSV: the trace's own prices, else the default")
    p.add_argument("--synthetic", action="store_true", help="add the seeded synthetic sets")
    p.add_argument("--seed", type=int, default=1, help="the synthetic sets' seed")
    p.add_argument("--synthetic-dir", type=Path, help="write the synthetic sets here (default: a temporary directory)")
    p.add_argument("--experiments", action="store_true", help="also run the labelled variants of respot's scoring")
    p.add_argument("--mapping", action="store_true", help="print each file's Azure offering and price source")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = p.parse_args(argv)
    if args.prices is not None and not args.prices.is_file():
        p.error(f"--prices {args.prices}: no such file")
    args.prices = args.prices or DEFAULT_PRICES
    for d in args.traces:
        if not d.is_dir():
            p.error(f"--traces {d}: no such directory")
    problem = args.synthetic_dir and _not_a_folder(args.synthetic_dir)
    if problem:
        p.error(f"--synthetic-dir {args.synthetic_dir}: {problem}")
    if not args.traces and not args.synthetic:
        args.traces, args.synthetic = [d for d in SHARED_TRACES if d.is_dir()], True
        if not args.traces:  # a clone not beside ../shared: say so, as the full report does, not skip them silently
            print(f"note: no trace sets under {SHARED / 'spot-traces'}: the synthetic sets only", file=sys.stderr)
    return args


def _not_a_folder(path: Path) -> str | None:
    """Why synth.write could not make ``path`` a folder (it would raise a traceback), or None."""
    while not path.exists():
        path = path.parent
    return None if path.is_dir() else f"{path} is a file, not a directory"


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        book = None if args.no_prices or not args.prices.exists() else load_csv(args.prices)
        if book is not None and not book.rows:  # else the summary names it as the price source, having read none
            raise PriceError(f"no prices in {args.prices}")
        vm_sizes = load_vm_skus(args.prices.with_name("vm_skus.csv"))
        with tempfile.TemporaryDirectory() as tmp:
            dirs = list(args.traces) + (
                synth.write(args.synthetic_dir or Path(tmp), args.seed) if args.synthetic else []
            )
            sets = [(d, load(d)) for d in dirs]  # every set read before any runs: a bad one is named at once
    except (TraceError, PriceError) as exc:
        print(f"python -m bench policies: error: {exc}", file=sys.stderr)
        return 2
    results = {}
    for d, traces in sets:
        name = traces.name if traces.name not in results else str(d)
        results[name] = run_set(traces, book, vm_sizes, args.experiments)
        if not args.json:
            print("\n".join(report(name, results[name], args.mapping)), flush=True)
    if args.json:
        print(json.dumps(as_json(results), indent=2))
    else:
        print(f"\n{machine()}; prices: {args.prices if book else 'trace or default'}")
    return 0
