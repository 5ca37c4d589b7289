"""The returns timer over the fake Compute and a fake durable client: a return starts for each fallback with its
deterministic id, none while one runs, none within the dwell after a swap that did not hold."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from orchestrator.app.returns import look
from orchestrator.domain.revert import return_id
from tests.unit.fakes import T0
from tests.unit.workflows.test_revert_replay import FALLBACK, world


class Runtime(Enum):
    RUNNING = "Running"
    COMPLETED = "Completed"


@dataclass
class Status:
    runtime_status: Runtime | None = None
    output: Any = None
    last_updated_time: datetime | None = None


@dataclass
class FakeClient:
    """The durable client's get_status and start_new, as the timer uses them (a running id refuses a start)."""

    statuses: dict[str, Status] = field(default_factory=dict)
    started: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> Status:
        return self.statuses.get(instance_id, Status())

    async def start_new(self, name: str, instance_id: str, payload: Any) -> str:
        if self.statuses.get(instance_id, Status()).runtime_status == Runtime.RUNNING:
            raise Exception("An Orchestration instance with the status Running already exists.")  # noqa: TRY002 - the SDK client raises bare Exception
        self.started.append((name, instance_id, payload))
        self.statuses[instance_id] = Status(Runtime.RUNNING)
        return instance_id


def run(client: FakeClient, w: Any, now: datetime) -> None:
    asyncio.run(look(client, now, w.compute, w.fleets, w.config.scope))  # type: ignore[arg-type]


def test_a_return_starts_once_per_fallback_with_its_deterministic_id() -> None:
    w, client = world(), FakeClient()
    run(client, w, T0)
    [(name, instance_id, payload)] = client.started
    assert (name, instance_id) == ("return_to_spot", return_id(FALLBACK))
    assert payload["vm"]["name"] == FALLBACK.name and payload["member"]["priority"] == "Regular"
    run(client, w, T0 + timedelta(minutes=5))
    assert len(client.started) == 1  # one in flight: no second start


def test_the_dwell_after_a_swap_that_did_not_hold_and_none_after_no_good_candidate() -> None:
    w, client = world(), FakeClient()
    lost = {"reason": "lost_in_warm_up", "concludedAt": "2026-03-01T12:00:00Z"}
    client.statuses[return_id(FALLBACK)] = Status(Runtime.COMPLETED, lost)
    run(client, w, T0 + timedelta(minutes=59))
    assert client.started == []  # dwell_minutes 60
    run(client, w, T0 + timedelta(minutes=60))
    assert len(client.started) == 1
    waited = {"reason": "no_good_candidate", "concludedAt": "2026-03-01T12:00:00Z"}
    client.statuses[return_id(FALLBACK)] = Status(Runtime.COMPLETED, waited)
    run(client, w, T0 + timedelta(minutes=1))
    assert len(client.started) == 2


def test_at_most_one_move_per_fleet_starts_and_none_while_one_is_in_flight() -> None:
    from orchestrator.domain.fleet import parse_fleets
    from orchestrator.domain.models import VmStatus
    from orchestrator.domain.template import RECOVERY_TAG
    from tests.unit.fakes import vm_ref
    from tests.unit.workflows.test_redeploy_replay import profile
    from tests.unit.workflows.test_revert_replay import REVERT

    w = world(others=0)
    w.fleets = parse_fleets({"fleets": [profile(desired=3, revert={**REVERT, "better_by": 1.0})]})
    own = {"respot-fleet": "web", RECOVERY_TAG: "respot-0123456789abcdef-0002"}
    for name, created in (("web-b", "2026-03-01T09:00:00Z"), ("web-a", "2026-03-01T10:00:00Z")):
        w.compute.add(vm_ref(name), status=VmStatus.RUNNING, tags=dict(own), created_at=created)
    client = FakeClient()
    run(client, w, T0 + timedelta(hours=2))
    started = [payload["vm"]["name"] for _, _, payload in client.started]
    assert started == [FALLBACK.name, "web-b"]  # the fallback, and the oldest Spot member only
    run(client, w, T0 + timedelta(hours=2, minutes=5))
    assert len(client.started) == 2  # web-b's move is in flight: no move of web-a beside it
