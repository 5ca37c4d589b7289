"""``quiescent()`` and ``next_due()``: what a discrete-event driver needs to step a stopped clock."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from localcloud.arm import ArmEmulator, evictions
from localcloud.httpserver import LocalHTTPServer, Request, Response, parse_request
from tests.integration.helpers import control, raw, vm_body, wait_until

pytestmark = pytest.mark.integration

API = "api-version=2026-04-01"


def vm_path(arm: ArmEmulator, name: str) -> str:
    return f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/{name}?{API}"


def test_next_due_follows_the_schedule_and_quiescent_waits_for_what_is_due() -> None:
    arm = ArmEmulator(speed=0, seed=1)  # not started: no ticker, so each tick is the test's
    assert arm.quiescent() and arm.next_due() is None  # the built-in world schedules nothing
    created = arm.pipeline(_put(arm, "vm1"))
    assert created.status == 201
    assert arm.next_due() == arm.clock.now() + timedelta(seconds=40)  # a create takes 40 s
    assert arm.quiescent()  # ... and nothing is due before then
    arm.clock.advance(40)
    assert not arm.quiescent()  # the create's end is due and has not run
    assert arm.backend.tick() == 1
    assert arm.quiescent() and arm.next_due() is None
    [vm] = arm.backend.world.vms.values()
    evictions.schedule_eviction(arm.backend, vm, reason="capacity", notice=30)
    assert arm.next_due() == arm.clock.now() + timedelta(seconds=30)  # the Preempt notice runs out
    arm.clock.advance(30)
    assert not arm.quiescent()
    arm.backend.tick()
    assert arm.quiescent() and not vm.allocated and arm.next_due() is None


def test_a_request_being_served_is_not_quiescent(arm: ArmEmulator) -> None:
    control(arm, "/clock", {"speed": 0})
    answered = threading.Event()
    with arm.backend.lock:  # the request will wait for the backend inside the pipeline
        worker = threading.Thread(target=lambda: (raw(arm, "GET", vm_path(arm, "nope")), answered.set()))
        worker.start()
        wait_until(lambda: arm.pipeline.in_flight == 1, what="the request to arrive")
        assert not arm.quiescent()
    worker.join(10)
    assert answered.is_set() and arm.quiescent()


def test_a_webhook_delivery_is_in_flight_until_it_has_an_outcome(arm: ArmEmulator) -> None:
    release = threading.Event()

    def slow(req: Request) -> Response:
        release.wait(10)
        return Response.empty(200)

    receiver = LocalHTTPServer("127.0.0.1", 0, slow)
    receiver.start()
    try:
        url = f"{receiver.url}/hook"
        control(arm, "/action-groups", {"name": "ag", "url": url, "kind": "activityLogAlert", "delay_seconds": 120})
        raw(arm, "PUT", vm_path(arm, "vm1"), vm_body(arm))
        wait_until(lambda: bool(arm.backend.world.vms) and arm.next_due() is None, what="the create")
        control(arm, "/clock", {"speed": 0})
        vm_id = next(iter(arm.backend.world.vms.values())).id
        control(arm, "/evict", {"id": vm_id})
        assert arm.next_due() == arm.clock.now() + timedelta(seconds=120)  # the alert, after its delay
        assert arm.quiescent()
        arm.clock.advance(120)
        wait_until(lambda: arm.notifier.in_flight == 1, what="the delivery to start")
        assert not arm.quiescent()  # posting: a stepper must not move time now
        release.set()
        wait_until(arm.quiescent, what="the delivery to finish")
        assert [d["status"] for d in control(arm, "/deliveries")["value"]] == [200]
    finally:
        release.set()
        receiver.stop()


def _put(arm: ArmEmulator, name: str) -> Request:
    """A PUT handed to the pipeline in-process, as the HTTP server would."""
    return parse_request(
        "PUT",
        vm_path(arm, name),
        {"Authorization": "Bearer localcloud:test", "Host": "127.0.0.1"},
        json.dumps(vm_body(arm)).encode(),
        "127.0.0.1",
    )
