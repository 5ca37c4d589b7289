"""The in-VM agent against the emulator's Scheduled Events: notify respot, drain, acknowledge (then eviction)."""

from __future__ import annotations

import socket
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.respot_agent import Agent, seconds_left
from localcloud.arm import ArmEmulator
from orchestrator.domain import signals
from tests.conftest import Webhook
from tests.integration.helpers import control, power_state, vm_body

pytestmark = pytest.mark.integration


def test_preempt_is_notified_drained_and_acknowledged(
    arm: ArmEmulator, compute: Any, webhook: Webhook, tmp_path: Path
) -> None:
    vm = compute.virtual_machines.begin_create_or_update(arm.resource_group, "worker", vm_body(arm)).result()
    marker = tmp_path / "drained"
    agent = Agent(f"{arm.url}/_imds{vm.id}", webhook.url, vm.id, drain=f'echo "$RESPOT_EVENT_ID" > {marker}')
    assert agent.poll_once() == []  # nothing scheduled yet
    control(arm, "/clock", {"speed": 0})
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    [event_id] = agent.poll_once()
    notice = webhook.wait_for(1)[0]
    assert notice["eventId"] == event_id and notice["resourceId"] == vm.id
    [eviction] = signals.parse(notice).signals  # respot reads the agent's notice as an eviction signal
    assert eviction.source == signals.Source.AGENT and eviction.vm.name == "worker" and eviction.is_notice
    assert marker.read_text().strip() == event_id
    arm.backend.tick()
    assert power_state(compute, arm.resource_group, "worker") == "PowerState/deallocated"  # ack: no wait for NotBefore
    assert agent.poll_once() == []  # IMDS is gone with the VM; handled events are not handled twice


def test_notice_failures_do_not_block_the_acknowledgement(arm: ArmEmulator, compute: Any) -> None:
    vm = compute.virtual_machines.begin_create_or_update(arm.resource_group, "worker", vm_body(arm)).result()
    agent = Agent(f"{arm.url}/_imds{vm.id}", "http://127.0.0.1:9/unreachable", vm.id, timeout=1)
    control(arm, "/clock", {"speed": 0})
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    assert len(agent.poll_once()) == 1
    arm.backend.tick()
    assert power_state(compute, arm.resource_group, "worker") == "PowerState/deallocated"


def test_imds_is_reached_without_the_environments_proxy(
    arm: ArmEmulator, compute: Any, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = compute.virtual_machines.begin_create_or_update(arm.resource_group, "worker", vm_body(arm)).result()
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    # urlopen caches its opener, with the proxies of the environment it first saw: start afresh, as a VM's agent does.
    monkeypatch.setattr(urllib.request, "_opener", None)
    agent = Agent(f"{arm.url}/_imds{vm.id}", webhook.url, vm.id, timeout=1)
    assert agent.poll_once() == []
    assert agent.failures.streak == 0


def test_an_imds_that_is_not_http_is_a_failed_poll(webhook: Webhook) -> None:
    """--imds at the wrong port (here an SSH banner): http.client raises its own error, not an OSError."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def banner() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        thread = threading.Thread(target=banner)
        thread.start()
        agent = Agent(f"http://127.0.0.1:{server.getsockname()[1]}", webhook.url, "vm-id")
        assert agent.poll_once() == []
        thread.join()


def test_seconds_left() -> None:
    now = datetime(2021, 3, 16, 0, 58, 16, tzinfo=UTC)
    assert seconds_left("Tue, 16 Mar 2021 00:58:46 GMT", now) == 30
    assert seconds_left("", now) == 0 and seconds_left("garbage", now) == 0
