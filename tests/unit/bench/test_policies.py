"""The policy benchmark's simulator on tiny hand-made traces: accounting, evictions, failed creates, the oracle's
bound, past-only signals, the copy of the scoring, the mapping, and determinism."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import policies
from bench.sim import baselines, experiments, oracle, respot, synth
from bench.sim.prices import Prices, load_csv, prices
from bench.sim.signals import SignalConfig, eviction_rates, fetch_due, market_at, placement_scores
from bench.sim.traces import SizeMap, Trace, TraceSet, load
from bench.sim.world import World, create
from orchestrator.domain.placement import Candidate, Offering, cool_until, rank

START = datetime(2024, 1, 1, tzinfo=UTC)
A = Offering("Standard_D4s_v5", "eastus", "1")
B = Offering("Standard_D4s_v5", "eastus", "2")
C = Offering("Standard_D4s_v5", "westus2", "1")


def trace_set(gap: float, lanes: dict[Offering, str], price: dict[Offering, float] | None = None) -> TraceSet:
    """``lanes``: one character per tick, "1" = spot could NOT be had (as the trace files say)."""
    out = []
    for o, ticks in lanes.items():
        p = (price or {}).get(o, 1.0)
        down = tuple(ch == "1" for ch in ticks)
        out.append(Trace(o.key, o, down, tuple(p for _ in ticks), SizeMap(o.size, o.size)))
    return TraceSet("hand-made", gap, START, tuple(out))


def world(gap: float, lanes: dict[Offering, str], price: dict[Offering, float] | None = None) -> World:
    traces = trace_set(gap, lanes, price)
    return World(traces, prices(traces, None, 0), warmup=0)


def test_availability_is_running_time_over_the_scored_window() -> None:
    w = world(600, {A: "0" * 10})
    tally = respot.run(w, respot.Knobs())
    assert tally.running == w.end - w.provision  # the first create takes the provisioning delay
    assert (tally.writes, tally.evictions, tally.failed) == (1, 0, 0)
    assert policies.figures(tally, w.end - w.start, w.days).availability == pytest.approx(1 - 150 / 6000)


def test_a_running_member_is_evicted_when_its_tick_turns_1_and_restart_in_place_tries_every_5_minutes() -> None:
    w = world(600, {A: "0000010000"})
    tally = baselines.restart_in_place(w, A.key)
    # runs 150 -> 3000; heard at 3030; creates at 3030 (alloc 3180, down), 3330 (3480, down), 3630 (3780, up)
    assert [(req, c.at, c.ok) for req, c in tally.log] == [
        (0, 150, True),
        (3030, 3180, False),
        (3330, 3480, False),
        (3630, 3780, True),
    ]
    assert tally.evictions == 1
    assert tally.writes == 1 + 2 + 2 + 1  # each failed create leaves a Failed VM to delete
    assert tally.running == (3000 - 150) + (6000 - 3780)


def test_a_failed_create_is_the_walks_cool_path_and_the_next_candidate_is_tried() -> None:
    # A is cheaper and up at the decision (tick 0), down when its create would be allocated (tick 2, 150 s later)
    w = world(60, {A: "0011" + "0" * 56, B: "0" * 60}, price={A: 0.5, B: 1.0})
    sim = respot.RespotSim(w, respot.Knobs())
    assert [c.offering for c in sim.ranked(0, None)[0]] == [A, B]
    tally = sim.run()
    assert [(req, c.ok) for req, c in tally.log] == [(0, False), (150, True)]
    assert sim.cooled[A.key] == cool_until(w.when(150), "capacity")
    assert (tally.failed, tally.writes, tally.placed[B.key]) == (1, 3, 1)
    assert tally.running == w.end - 300


def test_the_evicted_offering_cools_down_for_ten_minutes_then_the_next_round_is_due_and_takes_it() -> None:
    w = world(60, {A: "0" * 10 + "1" + "0" * 120, B: "1" * 131}, price={A: 0.5})
    sim = respot.RespotSim(w, respot.Knobs())
    tally = sim.run()
    heard = 10 * 60 + w.detect  # A is evicted at tick 10 and respot hears of it 30 s later
    requests = [(req, c.ok) for req, c in tally.log]
    # A cools down (evicted); B, which is down, scores Low and waits: no create is wasted on it. The next rounds
    # (the restart schedule, the scores renewed at 900 s) find the same; the next is due when A's cool-down ends
    assert requests == [(0, True), (heard + 600, True)] and tally.placed[A.key] == 2
    assert tally.waits["cooling"] == pytest.approx(heard + 600 - 11 * 60)  # A was up from tick 11, cooling
    assert B.key not in sim.entity and A.key not in sim.entity  # B never failed; held on A: its record is cleared
    walked = respot.run(w, respot.Knobs(low_probe=experiments.always, one_probe=False))  # every candidate walked
    assert [(req, c.ok) for req, c in walked.log][:3] == [(0, True), (heard, False), (heard + 600, True)]


def test_a_low_offering_is_tried_when_its_renewed_score_is_better_and_probed_once_an_hour_before() -> None:
    # A is down for 40 minutes from the start, B always down: both score Low at 0 s
    w = world(60, {A: "1" * 40 + "0" * 200, B: "1" * 240})
    tally = respot.run(w, respot.Knobs())
    # at 0 s nothing is worth a create; the scores are renewed every 900 s: at 2700 s A scores High (up since 2400 s),
    # and the round comes within RENEWAL_SPREAD (30 s) after the renewal
    [(request, outcome)] = tally.log
    assert 2700 <= request <= 2730 and outcome.ok
    drought = world(60, {A: "1" * 200, B: "1" * 200})
    probes = respot.run(drought, respot.Knobs()).log
    asked = [req for req, _ in probes]  # one probe an hour (at the first renewal once it is due), the best Low one
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    # A renewal is 15 minutes after the last fetch (the adapter's cache), and a failed probe's cool-down moves the
    # round that fetches: the probe comes at most one renewal period after its hour.
    assert len(asked) >= 2 and 3570 <= asked[0] < 3630 and all(3570 <= g <= 3600 + 900 + 60 for g in gaps)


def test_the_bench_drives_the_offerings_entity_with_the_products_operation() -> None:
    w = world(60, {A: "1" * 200, B: "1" * 200})
    sim = respot.RespotSim(w, respot.Knobs(low_probe=experiments.always, one_probe=False))  # Low ones walked too
    sim.run()
    assert sim.entity[A.key]["strikes"] >= 4  # 10, 20, 40, 60 minutes: fewer creates in a long drought
    cools = [req for req, c in sim.tally.log if not c.ok]
    assert len(cools) <= 2 * (1 + 2 + 3)  # 200 minutes: each offering tried at most ~6 times, not every minute


def test_signals_only_see_ticks_that_have_begun() -> None:
    lanes = {A: "0101" * 30, B: "0" * 120}
    changed = {A: "0101" * 15 + "1" * 60, B: "0" * 60 + "1" * 60}
    past, future = world(60, lanes), world(60, changed)
    for t in (0, 59, 600, 3599):  # every tick up to 59 is identical in both
        assert eviction_rates(past, t, 28 * 86400) == eviction_rates(future, t, 28 * 86400)
        assert placement_scores(past, t, SignalConfig()) == placement_scores(future, t, SignalConfig())
    assert placement_scores(past, 5400, SignalConfig()) != placement_scores(future, 5400, SignalConfig())


def test_eviction_rate_buckets_are_per_size_and_region_and_placement_per_zone() -> None:
    w = world(60, {A: "01" * 30, B: "0" * 60, C: "0" * 60})
    rates = eviction_rates(w, 59 * 60, 28 * 86400)
    # eastus: 30 drops in (30 + 60) available minutes = 2000 % per hour; westus2: none
    assert rates == {("standard_d4s_v5", "eastus"): "20+", ("standard_d4s_v5", "westus2"): "0-5"}
    hourly = SignalConfig(placement_window=3600, placement_refresh=0)
    scores = placement_scores(w, 59 * 60, hourly)
    assert scores == {A.key: "Medium", B.key: "High", C.key: "High"}  # A: up half of the last hour
    now = placement_scores(w, 45 * 60, SignalConfig())  # by default: the latest tick of the fetch
    assert now == {A.key: "Low", B.key: "High", C.key: "High"}  # A was down at tick 45
    kept = market_at(w, 59 * 60, skus={}, cooled={}, config=SignalConfig(), fetched=45 * 60)
    assert kept.placement == now and kept.placement_until == START + timedelta(hours=1)  # fetched at 45 min
    assert (
        fetch_due(45 * 60, 59 * 60, SignalConfig()) == 45 * 60 and fetch_due(45 * 60, 60 * 60, SignalConfig()) == 3600
    )
    market = market_at(w, 0, skus={}, cooled={A.key: START}, config=SignalConfig())
    assert market.spot_prices[("standard_d4s_v5", "eastus")] == 1.0 and market.cooled == {A.key: START}


def random_world(rng: random.Random) -> World:
    lanes = {}
    for o in (A, B, C)[: rng.randint(1, 3)]:
        p_flip = rng.choice((0.02, 0.1, 0.3))
        down, ticks = rng.random() < 0.3, []
        for _ in range(240):
            down = down != (rng.random() < p_flip)
            ticks.append("1" if down else "0")
        lanes[o] = "".join(ticks)
    return world(rng.choice((30.0, 60.0, 600.0)), lanes, price={A: 0.5, B: 0.8, C: 0.6})


@pytest.mark.parametrize("seed", range(40))
def test_the_oracle_is_never_worse_than_any_policy(seed: int) -> None:
    w = random_world(random.Random(seed))
    best = oracle.oracle(w)
    others = [
        respot.run(w, respot.Knobs()),
        respot.run(w, respot.Knobs(strategy="cheapest_first")),
        baselines.eager_next_region(w),
        baselines.restart_in_place(w, min(w.lanes)),
        oracle.perfect_create(w),
        *(respot.run(w, knobs) for knobs in experiments.variants().values()),
    ]
    assert best.failed == 0
    for tally in others:
        assert best.running >= tally.running - 1e-6


def test_create_past_the_trace_is_not_counted() -> None:
    w = world(60, {A: "0" * 10})
    assert create(w, respot.Tally(), A.key, w.end - 100) is None


def test_eager_tries_every_other_offering_then_backs_off_doubling() -> None:
    w = world(60, {A: "0" * 5 + "1" * 115, B: "1" * 120, C: "1" * 120}, price={A: 0.5, B: 0.6, C: 0.7})
    tally = baselines.eager_next_region(w)
    requests = [req for req, _ in tally.log]
    # A runs 150 -> 300; heard at 330: B (330), C (480), then passes of A, B, C after 60 s, 120 s, 240 s ...
    assert requests[:6] == [0, 330, 480, 690, 840, 990]
    assert requests[6] == 990 + 150 + 120


def test_the_copy_of_the_scoring_orders_exactly_as_the_product() -> None:
    rng = random.Random(7)
    scores, buckets = ["High", "Medium", "Low", None, "DataNotFoundOrStale"], ["0-5", "5-10", "10-15", "20+", None]
    for _ in range(200):
        found = [
            Candidate(
                Offering(f"Standard_D{rng.randint(2, 9)}s_v5", rng.choice(["eastus", "westus2"]), rng.choice("123")),
                price=rng.choice([None, 0.01, 0.02, 0.05, 0.4]),
                eviction_rate=rng.choice(buckets),
                placement_score=rng.choice(scores),
                excluded=rng.choice(["", "", "", "cooling down"]),
            )
            for _ in range(rng.randint(0, 8))
        ]
        for strategy in ("ranked", "cheapest_first", "same_region_first"):
            product = rank(found, strategy=strategy, home_region="eastus")
            copy = experiments.rank_copy(experiments.Weights())(found, strategy, "eastus")
            assert [(c.offering, c.score) for c in copy] == [(c.offering, c.score) for c in product]


def test_cloud_file_names_map_to_azure_offerings(tmp_path: Path) -> None:
    doc = {"metadata": {"gap_seconds": 600}, "data": [0, 1, 0]}
    for name in ("us-west-2a_v100_1", "us-west-2c_v100_8", "us-east-1f_k80_1", "eastus2-3_Standard_E4s_v5"):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    got = {t.source: t.offering for t in load(tmp_path).traces}
    assert got == {
        "us-west-2a_v100_1.json": Offering("Standard_NC6s_v3", "westus2", "1"),
        "us-west-2c_v100_8.json": Offering("Standard_ND40rs_v2", "westus2", "2"),  # the region's 2nd zone in the set
        "us-east-1f_k80_1.json": Offering("Standard_NC4as_T4_v3", "eastus", "1"),
        "eastus2-3_Standard_E4s_v5.json": Offering("Standard_E4s_v5", "eastus2", "3"),
    }


def test_prices_come_from_the_csv_as_of_each_tick_and_regular_from_the_dearest_region(tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text(
        "observed_at,arm_sku_name,arm_region_name,spot_price_usd_per_hour\n"
        "2023-12-01T00:00:00+00:00,Standard_D4s_v5,eastus,0.02\n"
        "2024-01-01T00:30:00+00:00,Standard_D4s_v5,eastus,0.03\n"
        "2023-12-01T00:00:00+00:00,Standard_D4s_v5,westus2,0.01\n"
    )
    traces = trace_set(600, {A: "0" * 6, C: "0" * 6})
    got: Prices = prices(traces, load_csv(csv), 0)
    assert got.spot[A.key] == [0.02, 0.02, 0.02, 0.03, 0.03, 0.03]
    assert got.spot[C.key] == [0.01] * 6 and got.source == {A.key: "csv", C.key: "csv"}
    assert got.regular == {"standard_d4s_v5": pytest.approx(0.02 / 0.4)}


def test_the_same_seed_gives_the_same_traces_and_figures(tmp_path: Path) -> None:
    first, again, other = (synth.write(tmp_path / name, seed) for name, seed in (("a", 5), ("b", 5), ("c", 6)))
    for x, y, z in zip(first, again, other, strict=True):
        files = sorted(p.name for p in x.iterdir())
        assert [(x / f).read_bytes() for f in files] == [(y / f).read_bytes() for f in files]
        assert [(x / f).read_bytes() for f in files] != [(z / f).read_bytes() for f in files]
    a = policies.run_set(load(first[3]), None, {}, extra=True)
    b = policies.run_set(load(again[3]), None, {}, extra=True)
    assert a["figures"] == b["figures"] and a["experiments"] == b["experiments"]


def test_json_has_every_policy_with_its_four_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "set").mkdir()
    w = random_world(random.Random(3))
    for tr in w.traces.traces:
        doc = {"metadata": {"gap_seconds": w.gap}, "data": [int(d) for d in tr.down]}
        (tmp_path / "set" / f"{tr.offering.region}-{tr.offering.zone}_{tr.offering.size}.json").write_text(
            json.dumps(doc)
        )
    assert policies.main(["--traces", str(tmp_path / "set"), "--no-prices", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("respot", "eager_next_region", "restart_in_place_5min", "cheapest_first", "oracle"):
        f = out["policies"][name]
        assert 0 <= f["availability"] <= 1 and f["writes_per_day"] >= 0 and f["evictions"] >= 0
        assert "cost_vs_ondemand" in f
    assert out["policies"] == out["sets"]["set"]["policies"]


def test_a_recovery_that_passes_its_deadline_is_picked_up_by_the_sweep() -> None:
    w = world(3600, {A: "1" * 30 + "0" * 10})  # nothing for 30 hours: the 24 h deadline passes first
    tally = respot.run(w, respot.Knobs())
    assert tally.events["gave_up"] == 1 and tally.placed[A.key] == 1
    assert w.when(tally.log[-1][0]) - START >= timedelta(hours=24)


_PRICE_HEADER = "observed_at,arm_sku_name,arm_region_name,spot_price_usd_per_hour\n"


@pytest.mark.parametrize(
    ("files", "argv", "message"),
    [
        ({}, ["--traces", "{d}/missing"], "--traces {d}/missing: no such directory"),
        ({}, ["--traces", "{d}"], "{d}: no *.json trace files"),
        ({"a_b.json": "{}"}, ["--traces", "{d}"], "{d}/a_b.json: not a trace file (KeyError: 'data')"),
        ({}, ["--synthetic", "--prices", "{d}/none.csv"], "--prices {d}/none.csv: no such file"),
        ({"p.csv": "a,b\n1,2\n"}, ["--synthetic", "--prices", "{d}/p.csv"], "{d}/p.csv:2: expected the columns"),
        (
            {"p.csv": "observed_at,arm_sku_name,arm_region_name,spot_price_usd_per_hour\nsoon,D2,eastus,1\n"},
            ["--synthetic", "--prices", "{d}/p.csv"],
            "{d}/p.csv:2: Invalid isoformat string: 'soon'",
        ),
        ({"f": ""}, ["--synthetic", "--synthetic-dir", "{d}/f/sets"], "--synthetic-dir {d}/f/sets: {d}/f is a file"),
        ({"p.csv": ""}, ["--synthetic", "--prices", "{d}/p.csv"], "no prices in {d}/p.csv"),
        ({"p.csv": _PRICE_HEADER}, ["--synthetic", "--prices", "{d}/p.csv"], "no prices in {d}/p.csv"),
        (
            {"p.csv": _PRICE_HEADER + "2024-01-01T00:00:00,Standard_D2s_v5,eastus,0.02\n", "vm_skus.csv": "a,b\n1,2\n"},
            ["--synthetic", "--prices", "{d}/p.csv"],
            "{d}/vm_skus.csv:2: expected the columns Name, vCPUs, MemoryGB",
        ),
    ],
)
def test_bad_sets_and_price_files_are_named_in_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], argv: list[str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    try:
        code = policies.main([a.format(d=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse's own error: usage, the message, exit 2
        code = int(str(exc.code))
    assert code == 2
    err = capsys.readouterr()
    assert message.format(d=tmp_path) in err.err and "Traceback" not in err.err and err.out == ""


def test_without_the_shared_traces_a_run_with_no_sets_named_says_it_replays_only_the_synthetic_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(policies, "SHARED_TRACES", (tmp_path / "missing",))
    args = policies.parse([])
    assert args.traces == [] and args.synthetic
    assert "synthetic sets only" in capsys.readouterr().err
