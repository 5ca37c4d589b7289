"""ARM trouble is waited out, never a failed recovery: long Retry-After, unknown operation codes, lost answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e


def evicted(stack: Stack, name: str) -> str:
    stack.alert_group("eventGrid", delay=0)
    [vm_id] = stack.fleet([name])
    return vm_id


def test_a_429_asking_for_1200_s_on_the_start_is_waited_out_then_the_vm_comes_back(stack: Stack) -> None:
    vm_id = evicted(stack, "patient")
    control(
        stack.arm, "/faults", {"error429": 1.0, "retryAfter": 1200, "path": "/start$", "method": "POST", "count": 1}
    )
    control(stack.arm, "/evict", {"id": vm_id})
    out = stack.finished(vm_id, timeout=90)
    assert out["outcome"] == "recovered" and out["lastError"] is None
    first = out["attempts"][0]
    assert (first["action"], first["result"], first["code"]) == ("start", "throttled", "TooManyRequests")
    waited = datetime.fromisoformat(first["nextTry"]) - datetime.fromisoformat(first["last"])
    assert waited.total_seconds() >= 1200
    starts = [e for e in control(stack.arm, "/requests")["entries"] if e["path"].endswith("/start")]
    later = datetime.fromisoformat(starts[1]["time"]) - datetime.fromisoformat(starts[0]["time"])
    assert [e["status"] for e in starts] == [429, 202] and later.total_seconds() >= 1200  # never earlier than asked


def test_an_operation_failing_with_a_code_nobody_knows_is_retried_and_recorded(stack: Stack) -> None:
    vm_id = evicted(stack, "puzzled")
    control(stack.arm, "/faults", {"allocation": {"code": "SomethingNew", "count": 2, "id": vm_id}})
    control(stack.arm, "/evict", {"id": vm_id})
    out = stack.finished(vm_id, timeout=90)
    assert out["outcome"] == "recovered"
    unknown = out["attempts"][0]
    assert (unknown["result"], unknown["code"], unknown["count"]) == ("unknown", "SomethingNew", 2)


def test_a_start_whose_answer_is_lost_is_not_sent_twice(stack: Stack) -> None:
    vm_id = evicted(stack, "unheard")
    control(stack.arm, "/faults", {"dropAfter": 1.0, "path": "/start$", "method": "POST", "count": 1})
    control(stack.arm, "/evict", {"id": vm_id})
    out = stack.finished(vm_id, timeout=90)
    assert out["outcome"] == "recovered" and out["attempts"][0]["result"] == "no_answer"
    starts = [e for e in control(stack.arm, "/requests")["entries"] if e["path"].endswith("/start")]
    assert len(starts) == 1 and stack.successful_starts() == 1


def test_reads_failing_with_5xx_and_dropped_connections_do_not_fail_the_recovery(stack: Stack) -> None:
    vm_id = evicted(stack, "bumpy")
    rules: list[dict[str, Any]] = [
        {"error500": 1.0, "path": "/virtualMachines/bumpy$", "method": "GET", "count": 4},
        {"drop": 1.0, "path": "/virtualMachines/bumpy$", "method": "GET", "count": 3},
    ]
    control(stack.arm, "/faults", {"rules": rules})
    control(stack.arm, "/evict", {"id": vm_id})
    out = stack.finished(vm_id, timeout=90)
    assert out["outcome"] == "recovered"
