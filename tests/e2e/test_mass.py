"""A mass eviction on localcloud, stepped: 200 Spot VMs in three regions (100 Stop/Deallocate, 100 Delete-policy
members of one fleet profile) lose their capacity at the same moment, under ARM's real throttling. Every one runs
again (restarted in place, or replaced), no member gets two replacements, no recovery fails (by throttling or
otherwise), and the replacements land on more than one candidate. The world is bench.mass's (``python -m bench
mass --vms 200 --speed 0`` is the same run with figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import mass

pytestmark = pytest.mark.e2e
VMS = 200


@pytest.mark.timeout(600)
def test_200_vms_evicted_at_once_are_all_recovered_once_over_several_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = mass.Plan.of(VMS)
    stack = mass.build(tmp_path, plan, setenv=monkeypatch.setenv)
    try:
        mass.start_wave(stack, spacing=0)
        stack.wait(mass.all_recovered(stack), "every VM running again", within=3600)
        assert stack.wave_start is not None
        out = mass.outcome(stack.arm, plan, stack.wave_start)
        stack.wait(lambda: mass.concluded(stack.host), "every recovery concluded", within=3600)
        after = mass.outcome(stack.arm, plan, stack.wave_start)
        outcomes = mass.recoveries(stack.host)
        requests = mass.request_figures(stack.arm)
    finally:
        mass.stop(stack)
    assert out.evicted == VMS and out.last_eviction == out.first_eviction  # at once
    assert len(out.recovered_at) == VMS
    assert after.duplicates == 0 and after.extra_vms == 0, (after.duplicates, after.extra_vms)
    assert len(after.offerings) >= 2, after.offerings  # over several candidates
    assert sum(after.offerings.values()) == plan.member_count
    # Every recovery concluded recovered: none failed, by throttling or otherwise.
    assert set(outcomes) <= {"recovered/evicted", "recovered/replaced"}, outcomes
    assert sum(outcomes.values()) == VMS, outcomes
    assert requests["writes"] >= VMS  # one write per VM at least, through the real buckets
