"""What respot remembers between recoveries, as Durable Entities (state that survives a VM's deletion, a host
restart and every orchestration): the operations, pure. orchestrator.app.entities runs them.

- ``offerings`` (one entity, key ``shared``): offerings cooling down after a create failed there for capacity or
  a replacement was evicted there, with the time they come back. Every recovery reads it before ranking, so a mass
  eviction does not pile into the place being reclaimed.
- ``member`` (key: the VM's hash): what respot last knew of a fleet member (orchestrator.domain.template.Member),
  recorded by the inventory sweep and by each replacement respot creates; read when the member is gone.

Where the state lives: in Azure, in the task hub's storage (the Durable Functions storage provider, instances
table ``@offerings@shared``, ``@member@<hash>``); locally, in the host's SQLite file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.domain.models import InvalidInput, parse_iso
from orchestrator.domain.placement import Offering
from orchestrator.domain.template import Member

OFFERINGS, SHARED = "offerings", "shared"
MEMBER = "member"
MAX_COOLED = 2000  # offerings on record at once (a fleet of 100 sizes x 20 regions); the oldest go first

State = Any
Result = Any


def offerings_op(state: State, operation: str, payload: Any) -> tuple[State, Result]:
    """``cool`` {key, until, why, by}: keep the later of two times. ``get`` {now}: what is still cooling, by key."""
    cooled: dict[str, dict[str, str]] = dict(state) if isinstance(state, dict) else {}
    if operation == "cool":
        key, until, why, by = _cooling(payload)
        held = cooled.get(key)
        if held is None or parse_iso(held["until"], "until") < until:
            cooled[key] = {"until": until.isoformat(), "why": why, "by": by}
        return _bounded(cooled), None
    if operation == "get":
        now = parse_iso(payload.get("now") if isinstance(payload, dict) else None, "now")
        live = {k: v for k, v in cooled.items() if parse_iso(v["until"], "until") > now}
        return live, live
    raise InvalidInput(f"offerings: no operation {operation!r} (cool, get)")


def _cooling(payload: Any) -> tuple[str, datetime, str, str]:
    if not isinstance(payload, dict):
        raise InvalidInput("cool: the input must be an object")
    key = str(payload.get("key"))
    Offering.from_key(key)  # raises ValueError for anything that is not an offering key
    until = parse_iso(payload.get("until"), "until")
    return key, until, str(payload.get("why"))[:40], str(payload.get("by"))[:120]


def _bounded(cooled: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    if len(cooled) <= MAX_COOLED:
        return cooled
    keep = sorted(cooled.items(), key=lambda kv: kv[1]["until"])[-MAX_COOLED:]
    return dict(keep)


def member_op(state: State, operation: str, payload: Any) -> tuple[State, Result]:
    """``remember`` a Member (as to_dict writes it); ``get`` it (None when respot never saw it)."""
    if operation == "remember":
        return Member.from_dict(payload).to_dict(), None
    if operation == "get":
        return state, state
    raise InvalidInput(f"member: no operation {operation!r} (remember, get)")


def cooled_until(live: Any) -> dict[str, datetime]:
    """The ``get`` answer as a Market's ``cooled`` (offering key -> until)."""
    if not isinstance(live, dict):
        return {}
    out = {}
    for key, entry in live.items():
        try:
            out[str(key)] = parse_iso(entry["until"], "until")
        except (InvalidInput, KeyError, TypeError):
            continue
    return out
