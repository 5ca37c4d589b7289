"""/api/alerts against a small simulator of the durable client: routing, races, and failing loudly when the
durable backend does not take a signal (so Azure Monitor and Event Grid deliver it again)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import azure.functions as func

from orchestrator.app.intake import handle
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.scope import parse_vm_id
from tests.unit.fakes import settings

SUB = "11111111-2222-3333-4444-555555555555"
VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
FIRST = recovery_id(parse_vm_id(VM), 1)


class DurableError(Exception):
    """What the Python durable client raises for an answer it did not expect (a bare Exception in the SDK)."""


class Runtime(Enum):
    Pending = "Pending"
    Running = "Running"
    Completed = "Completed"


@dataclass
class Status:
    instance_id: str
    runtime_status: Runtime
    custom_status: Any = None
    output: Any = None
    last_updated_time: datetime | None = None


@dataclass
class FakeDurableClient:
    """Instances by id, with Durable Functions' rules: a running id refuses a second start, a finished one
    answers raise_event with 410. ``refuse_starts`` plays a backend that takes nothing."""

    instances: dict[str, Status] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    refuse_starts: bool = False
    starts: int = 0
    before_start: Any = None  # a hook: another delivery that wins the race

    async def get_status_by(self, instance_id_prefix: str) -> list[Status]:
        """The first page only, as the Python client reads the extension's list API (100 per page)."""
        found = sorted((i, s) for i, s in self.instances.items() if i.startswith(instance_id_prefix))
        return [s for _, s in found[:100]]

    async def get_status(self, instance_id: str) -> Status:
        return self.instances.get(instance_id) or Status(instance_id, None)  # type: ignore[arg-type]

    async def start_new(self, name: str, instance_id: str, payload: Any) -> str:
        if self.before_start is not None:
            hook, self.before_start = self.before_start, None
            hook()
        if self.refuse_starts:
            raise DurableError("the task hub is not available")
        existing = self.instances.get(instance_id)
        if existing is not None and existing.runtime_status != Runtime.Completed:
            raise DurableError(
                f"An Orchestration instance with the status {existing.runtime_status.value} already exists."
            )
        self.starts += 1
        self.instances[instance_id] = Status(instance_id, Runtime.Pending, {"signals": [], "seq": payload["seq"]})
        return instance_id

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        status = self.instances.get(instance_id)
        if status is None:
            raise DurableError(f"No instance with ID {instance_id} found.")
        if status.runtime_status == Runtime.Completed:
            raise DurableError(f"Instance with ID {instance_id} is gone: either completed or failed")
        self.events.append((instance_id, data))


def event_grid(event_id: str, when: str = "2026-03-01T12:00:00Z") -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": "t",
        "subject": VM,
        "eventType": "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
        "eventTime": when,
        "dataVersion": "1",
        "data": {"resourceInfo": {"properties": {"targetResourceId": VM, "annotationName": "VirtualMachinePreempted"}}},
    }


def post(client: FakeDurableClient, body: Any) -> tuple[int, Any]:
    req = func.HttpRequest(method="POST", url="http://localhost/api/alerts", body=json.dumps(body).encode())
    resp = asyncio.run(handle(req, client, settings()))  # type: ignore[arg-type]
    return resp.status_code, json.loads(resp.get_body())


def test_the_first_signal_starts_recovery_1_and_a_second_source_joins_it() -> None:
    client = FakeDurableClient()
    status, body = post(client, [event_grid("a")])
    assert (status, body["accepted"][0]["route"], body["accepted"][0]["instanceId"]) == (202, "start", FIRST)
    status, body = post(client, [event_grid("b")])
    assert (status, body["accepted"][0]["route"]) == (202, "join") and client.events[0][0] == FIRST


def test_a_start_lost_to_a_racing_delivery_joins_the_winner() -> None:
    client = FakeDurableClient()

    def other_delivery_wins() -> None:
        client.instances[FIRST] = Status(FIRST, Runtime.Running, {"signals": []})

    client.before_start = other_delivery_wins
    status, body = post(client, [event_grid("a")])
    assert (status, body["accepted"][0]["route"]) == (202, "join") and client.events == [(FIRST, client.events[0][1])]


def test_a_recovery_that_finishes_under_a_join_makes_the_signal_route_again() -> None:
    client = FakeDurableClient()
    output = {"concludedAt": "2026-03-01T12:05:00Z", "signals": [{"source": "event-grid", "eventId": "a"}]}
    client.instances[FIRST] = Status(
        FIRST, Runtime.Completed, output=output, last_updated_time=datetime(2026, 3, 1, tzinfo=UTC)
    )
    status, body = post(client, [event_grid("b", "2026-03-01T12:00:00Z")])
    assert status == 200 and body["ignored"][0]["reason"] == "late_signal" and client.starts == 0
    status, body = post(client, [event_grid("c", "2026-03-01T13:00:00Z")])
    assert (status, body["accepted"][0]["route"]) == (202, "start")
    assert body["accepted"][0]["instanceId"] == recovery_id(parse_vm_id(VM), 2)


def test_when_the_backend_refuses_a_start_the_sender_gets_a_503_to_deliver_again() -> None:
    client = FakeDurableClient(refuse_starts=True)
    status, body = post(client, [event_grid("a")])
    assert status == 503 and "deliver again" in body["error"]


def test_answers_hold_instance_ids_only() -> None:
    status, body = post(FakeDurableClient(), [event_grid("a")])
    assert status == 202 and "http" not in json.dumps(body) and "code=" not in json.dumps(body)


def test_bad_input_is_a_400_never_a_5xx() -> None:
    client = FakeDurableClient()
    for raw in (b"[" * 5000 + b"]" * 5000, b"{nope", b'{"schemaId": "azureMonitorCommonAlertSchema"}'):
        req = func.HttpRequest(method="POST", url="http://localhost/api/alerts", body=raw)
        resp = asyncio.run(handle(req, client, settings()))  # type: ignore[arg-type]
        assert resp.status_code == 400 and json.loads(resp.get_body())["error"]
    assert client.instances == {}


def test_a_lone_surrogate_in_an_event_id_is_answered_not_a_5xx() -> None:
    client = FakeDurableClient()
    raw = json.dumps([event_grid("\ud800")], ensure_ascii=False).encode("utf-8", "surrogatepass")
    for body in (raw, json.dumps([event_grid("\ud800")]).encode()):  # raw UTF-8 bytes, and the JSON escape
        req = func.HttpRequest(method="POST", url="http://localhost/api/alerts", body=body)
        resp = asyncio.run(handle(req, client, settings()))  # type: ignore[arg-type]
        assert resp.status_code in (200, 202)
    assert client.starts == 1


def test_a_vm_with_more_recoveries_than_one_page_still_routes_to_its_newest() -> None:
    client = FakeDurableClient()
    vm = parse_vm_id(VM)
    for seq in range(1, 251):  # 250 evictions of one VM still on record
        iid = recovery_id(vm, seq)
        concluded = f"2026-03-01T{seq // 60:02d}:{seq % 60:02d}:30Z"
        client.instances[iid] = Status(iid, Runtime.Completed, output={"concludedAt": concluded, "signals": []})
    status, body = post(client, [event_grid("new", "2026-03-02T00:00:00Z")])
    assert (status, body["accepted"][0]["route"]) == (202, "start")
    assert body["accepted"][0]["instanceId"] == recovery_id(vm, 251)  # never a completed record replaced
