"""``python -m bench`` with bad input: an unknown subcommand or flag is an argparse error (exit 2) naming it, not a
silent exit 0 or a benchmark run that ignored it; --help lists every subcommand. Each case stops before any
benchmark runs (main() in-process, the benchmarks replaced by a stub that fails the test if called)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import mass, report


@pytest.fixture(autouse=True)
def _no_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []
    for name in bench_main.LINES:
        monkeypatch.setitem(bench_main.LINES, name, lambda name=name: ran.append(name) or [f"{name} ran"])
    return ran


def _exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(argv)
    return int(exit_.value.code or 0)


@pytest.mark.parametrize("argv", [["bogus"], ["policy"], ["arm", "bogus"], ["arm", "--bogus"], ["latency", "-x"]])
def test_an_unknown_subcommand_or_flag_is_an_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(argv) == 2
    err = capsys.readouterr().err
    assert argv[-1] in err and "Traceback" not in err


def test_help_after_a_subcommand_prints_help_and_runs_nothing(
    _no_benchmark_runs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit(["arm", "--help"]) == 0
    assert "usage: python -m bench" in capsys.readouterr().out
    assert _no_benchmark_runs == []


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in ("policies", "mass", "arm", "latency", "functions"))


def test_known_names_still_run_each_once(_no_benchmark_runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["latency", "arm", "latency"]) == 0
    assert _no_benchmark_runs == ["latency", "arm"]
    assert capsys.readouterr().out == "latency ran\narm ran\n"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--vms", "0"], "--vms"),
        (["--vms", "-5"], "--vms"),
        (["--vms", "3"], "--vms"),
        (["--max-seconds", "0"], "--max-seconds"),
        (["--max-seconds", "-1"], "--max-seconds"),
        (["--max-seconds", "nan"], "--max-seconds"),
        (["--max-seconds", "10"], "--max-seconds"),  # before the wave's last eviction: no figures to report
        (["--speed", "-1"], "--speed"),
        (["--speed", "nan"], "--speed"),
        (["--speed", "inf"], "--speed"),
    ],
)
def test_bench_mass_refuses_bad_numbers_before_building_anything(
    argv: list[str], flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(mass, "run", lambda *a: pytest.fail("ran"))
    assert _exit(["mass", *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


def test_the_report_refuses_an_out_it_could_not_write_before_running_any_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(report, "build", lambda *a, **k: pytest.fail("ran"))
    (tmp_path / "file").write_text("")
    for out in (tmp_path, tmp_path / "file" / "bench.json", tmp_path / "file" / "deeper" / "bench.json"):
        assert _exit(["--only", "arm", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and str(out) in err and "Traceback" not in err
