"""The benchmark report (bench.report): figures against their bounds, the summary, and the whole report end to end
on a tiny input (every part in its own process, as ``make bench`` runs them)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.policies import POLICIES, SHARED

TINY = replace(
    report.QUICK,
    arm_gets=20,
    arm_creates=1,
    latency_evictions=3,
    functions_orchestrations=5,
    entity_orchestrations=2,
    entity_signals=20,
    replay_calls=1,
    mass_vms=6,
)


def test_a_figure_says_what_its_median_is_over_and_whether_its_bound_holds() -> None:
    f = report.figure(4.2, "ms", median_of=10, over="creates", against=report.bound("<=", 5, "issue #2"))
    assert f == {
        "value": 4.2,
        "unit": "ms",
        "median_of": 10,
        "over": "creates",
        "bound": {"op": "<=", "value": 5, "source": "issue #2", "met": True},
    }
    assert report.figure(600, "req/s", median_of=3, over="runs", against=report.bound(">=", 500, "x"))["bound"]["met"]
    assert (
        report.figure(None, "s", median_of=1, over="a wave", against=report.bound("<=", 1.2, "x"))["bound"]["met"]
        is None
    )
    assert report.figure(1.0, "x", median_of=1, over="a wave")["bound"] is None


def test_the_summary_names_the_machine_the_load_and_every_figure() -> None:
    doc: dict[str, Any] = {
        "quick": True,
        "seconds": 12.0,
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "machine": {
            "cpu": "CPU X",
            "cores": 2,
            "python": "3.11.7",
            "platform": "Linux",
            "load_before": [1.0, 0.5, 0.2],
            "load_after": [2.0, 1.0, 0.4],
        },
        "benchmarks": {
            "arm": {
                "seconds": 3.0,
                "load": [1.0, 1.5],
                "figures": {
                    "lro_overhead_ms": report.figure(
                        6.0, "ms", median_of=10, over="creates", against=report.bound("<=", 5, "issue #2")
                    )
                },
            },
            "mass": {"error": "exit status 1", "figures": {}},
        },
    }
    text = "\n".join(report.summary(doc))
    assert "CPU X, 2 cores, Python 3.11.7" in text and "before 1.00, 0.50, 0.20, after 2.00, 1.00, 0.40" in text
    assert "lro_overhead_ms" in text and "median of 10 (creates)" in text and "bound <= 5: MISS (issue #2)" in text
    assert "## mass: FAILED (exit status 1)" in text


def test_every_shared_trace_directory_is_a_set() -> None:
    root = SHARED / "spot-traces"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    names = [d.name for d in report.trace_dirs()]
    assert {"aws-10-26-2022", "aws-04-22-2023", "gcp-04-30-2023"} <= set(names)


@pytest.mark.timeout(180)
def test_the_report_end_to_end_on_a_tiny_input_writes_every_section_and_the_machine(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--sizes", json.dumps(asdict(TINY))]
    done = subprocess.run(argv, cwd=report.REPO, capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1 and doc["quick"] is True and doc["timestamp"]
    assert set(doc["git"]) == {"commit", "dirty"}
    machine = doc["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"]
    assert len(machine["load_before"]) == 3 and len(machine["load_after"]) == 3
    assert list(doc["benchmarks"]) == list(report.PARTS)
    for name, part in doc["benchmarks"].items():
        assert "error" not in part, name
        assert part["figures"], name
        for key, fig in part["figures"].items():
            assert set(fig) == {"value", "unit", "median_of", "over", "bound"}, (name, key)
            assert fig["median_of"] >= 1, (name, key)
    b = doc["benchmarks"]
    assert {"get_per_second_two_processes", "lro_overhead_ms"} <= set(b["arm"]["figures"])
    assert {"p50_ms", "p99_ms"} <= set(b["latency"]["figures"])
    assert {"orchestrations_per_second", "replay_us_per_event"} <= set(b["functions"]["figures"])
    mass = b["mass"]["figures"]
    assert {"ratio_to_bound", "writes_per_vm", "throttled", "duplicates", "peak_rss_mb"} <= set(mass)
    assert mass["ratio_to_bound"]["bound"]["value"] == 1.2
    (one_set,) = b["policies"]["detail"]["sets"].values()
    assert set(one_set["policies"]) == set(POLICIES)
    assert "# bench report (--quick)" in done.stdout
    assert "written:" in done.stdout


def test_without_the_shared_traces_the_policies_part_replays_the_synthetic_sets() -> None:
    # A bare clone has no ../shared beside it (CI may not): the part still runs, on the seeded synthetic sets.
    out = report.part_policies(TINY, dirs=[])
    assert out["figures"] and all(name.startswith("synthetic-") for name in out["detail"]["sets"])
