"""A scenario's timeline steps and traces are checked when it loads, each mistake named by its path (the docs
promise this); before, a bad step loaded and failed when it fired, as a traceback in the log, path lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.arm import scenario
from localcloud.arm.backend import Backend
from localcloud.clock import Clock

SIZE = "Standard_D2s_v5"


def _backend() -> Backend:
    b = Backend(Clock(speed=0), seed=0)  # stopped time: nothing fires unless a test advances it
    scenario.apply(b, scenario.default_scenario())
    return b


def _rejects(doc: dict[str, Any], *words: str, base_dir: Path | None = None) -> None:
    b = _backend()
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.apply(b, doc, base_dir=base_dir)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert b.pending() == []  # nothing of a rejected document was scheduled


@pytest.mark.parametrize(
    ("capacity", "words"),
    [
        ({"region": "eastus", "size": SIZE, "slots": -1}, ("timeline[0].capacity", "slots")),
        ({"region": "eastus", "size": SIZE, "available": -1}, ("timeline[0].capacity.available",)),
        ({"region": "eastus", "size": SIZE, "available": 1, "zone": "9"}, ("timeline[0].capacity.zone",)),
        ({"region": "eastus", "size": SIZE, "available": 1, "code": "Nope"}, ("timeline[0].capacity.code",)),
    ],
)
def test_a_bad_timeline_capacity_step_is_rejected_at_load(capacity: dict[str, Any], words: tuple[str, ...]) -> None:
    _rejects({"timeline": [{"at": 1, "capacity": capacity}]}, *words)


def test_a_bad_timeline_price_step_is_rejected_at_load() -> None:
    _rejects({"timeline": [{"at": 1, "price": {"region": "eastus", "size": SIZE, "price": -2}}]}, "timeline[0].price")


def _trace_file(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"slots": -3}, ("traces[0].slots",)),
        ({"slots": "x"}, ("traces[0].slots", "'x'")),
        ({"gapSeconds": -1}, ("traces[0].gapSeconds",)),
        ({"startTick": 1.5}, ("traces[0].startTick",)),
        ({"zone": "9"}, ("traces[0].zone",)),
        ({"slot": 2}, ("traces[0]", "slot")),
    ],
)
def test_a_bad_trace_field_is_rejected_at_load(tmp_path: Path, extra: dict[str, Any], words: tuple[str, ...]) -> None:
    file = _trace_file(tmp_path, {"metadata": {"gap_seconds": 60}, "data": [0, 1, 0]})
    _rejects({"traces": [{"file": file, "region": "eastus", "size": SIZE, **extra}]}, *words)


@pytest.mark.parametrize(
    "doc",
    [
        [0, 1],
        {"metadata": {"gap_seconds": 60}, "data": [0, "x"]},
        {"metadata": {"gap_seconds": 0}, "data": [0]},
        {"metadata": {"gap_seconds": 60}, "data": [0], "prices": [0.1, -1]},
    ],
)
def test_a_bad_trace_file_is_rejected_at_load_naming_it(tmp_path: Path, doc: Any) -> None:
    file = _trace_file(tmp_path, doc)
    _rejects({"traces": [{"file": file, "region": "eastus", "size": SIZE, "usePrices": True}]}, "traces[0]")


def test_a_good_timeline_and_trace_still_load_and_fire(tmp_path: Path) -> None:
    b = _backend()
    file = _trace_file(tmp_path, {"metadata": {"gap_seconds": 60}, "data": [0, 1]})
    doc = {
        "timeline": [{"at": "PT1S", "capacity": {"region": "eastus", "size": SIZE, "zone": "1", "available": 4}}],
        "traces": [{"file": file, "region": "westus2", "zone": "1", "size": SIZE, "slots": 2}],
    }
    scenario.apply(b, doc)
    b.clock.advance(120)
    b.tick()
    assert b.world.capacity[("eastus", "1", SIZE.lower())] == 4
    assert b.world.capacity[("westus2", "1", SIZE.lower())] == 0  # the trace's second tick: no spot
