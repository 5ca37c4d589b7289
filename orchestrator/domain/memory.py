"""What respot remembers between recoveries, as Durable Entities (state that survives a VM's deletion, a host
restart and every orchestration): the operations, pure. orchestrator.app.entities runs them.

- ``offerings`` (one entity, key ``shared``): offerings cooling down after a create failed there for capacity or
  a VM was evicted there, with the time they come back and how many times in a row they failed (``strikes``: each
  one doubles the cool-down, orchestrator.domain.placement.cool_until). Every recovery reads it before ranking, so
  a mass eviction does not pile into the place being reclaimed, and an offering in a long drought is asked less and
  less often. An entry is kept ``COOL_REMEMBER`` past its cool-down (a failure then is one more in a row), and a
  replacement that holds there clears it.
- ``placements`` (one entity, key ``shared``): where recent replacements went (the last ``PLACED_WINDOW``). Among
  the good offerings (placement.good_shares: within a point of the best, each with a weight) a recovery asks it to
  ``place`` the member: it deals the wave out in proportion to the weights (the offering furthest below its share
  gets the next member), and no offering takes more than ``MAX_SHARE`` of a wave while another is below it (one
  operation at a time: two recoveries asking together get different answers).
- ``member`` (key: the VM's hash): what respot last knew of a fleet member (orchestrator.domain.template.Member),
  recorded by the inventory sweep and by each replacement respot creates; read when the member is gone.

Where the state lives: in Azure, in the task hub's storage (the Durable Functions storage provider, instances
table ``@offerings@shared``, ``@member@<hash>``); locally, in the host's SQLite file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.models import InvalidInput, iso, parse_iso
from orchestrator.domain.placement import COOL_REMEMBER, Offering, cool_until
from orchestrator.domain.template import Member

OFFERINGS, SHARED = "offerings", "shared"
MEMBER = "member"
MAX_COOLED = 2000  # offerings on record at once (a fleet of 100 sizes x 20 regions); the oldest go first
PLACEMENTS = "placements"
PLACED_WINDOW = timedelta(minutes=30)
MAX_PLACED = 2000
MAX_SHARE = 2 / 3  # of a wave's recent placements, once it has a few, while another good offering is below it

State = Any
Result = Any


def offerings_op(state: State, operation: str, payload: Any) -> tuple[State, Result]:
    """``cool`` {key, at, why, by}: one more failure (or eviction) there at ``at``; the entity counts the strikes and
    keeps the later end (``until`` instead of ``at``: that end as given, no strike counted). ``held`` {key}: a
    replacement holds there, forget its failures. ``get`` {now}: every offering on record by key, the ones still
    cooling (``until`` after now) and the ones remembered for their strikes (within COOL_REMEMBER after it)."""
    cooled: dict[str, dict[str, Any]] = dict(state) if isinstance(state, dict) else {}
    if operation == "cool":
        key, at, until, why, by = _cooling(payload)
        cooled[key] = cooling(cooled.get(key), why=why, by=by, at=at, until=until)
        return _bounded(cooled), None
    if operation == "held":
        key = _key(payload)
        return {k: v for k, v in cooled.items() if k != key}, None
    if operation == "get":
        now = parse_iso(payload.get("now") if isinstance(payload, dict) else None, "now")
        kept = {k: v for k, v in cooled.items() if parse_iso(v["until"], "until") + COOL_REMEMBER > now}
        return kept, kept
    raise InvalidInput(f"offerings: no operation {operation!r} (cool, held, get)")


def cooling(
    held: dict[str, Any] | None, *, why: str, by: str, at: datetime | None, until: datetime | None = None
) -> dict[str, Any]:
    """An offering's entry after one more failure at ``at``: a strike more when it comes within COOL_REMEMBER of the
    previous cool-down's end (else the first strike), cooled for ``cool_until(at, why, strikes)``; the later of the
    two ends is kept. With ``until`` instead of ``at``: that end, no strike counted. The redeploy orchestration runs
    it too, to know what it just signalled (the entity's entry is the same unless another recovery cooled it too)."""
    before = parse_iso(held["until"], "until") if held else None
    strikes = int(held.get("strikes", 1)) if held else 1
    if at is not None:
        strikes = strikes + 1 if before is not None and at <= before + COOL_REMEMBER else 1
        until = cool_until(at, why, strikes)
    if until is None:
        raise InvalidInput("cool: at or until is required")
    if held and before is not None and before >= until:
        return {**held, "strikes": strikes}
    return {"until": iso(until), "why": why, "by": by, "strikes": strikes}


def _key(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise InvalidInput("the input must be an object")
    key = str(payload.get("key"))
    Offering.from_key(key)  # raises ValueError for anything that is not an offering key
    return key


def _cooling(payload: Any) -> tuple[str, datetime | None, datetime | None, str, str]:
    key = _key(payload)
    at = parse_iso(payload["at"], "at") if payload.get("at") is not None else None
    until = None if at is not None else parse_iso(payload.get("until"), "until")
    return key, at, until, str(payload.get("why"))[:40], str(payload.get("by"))[:120]


def _bounded(cooled: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if len(cooled) <= MAX_COOLED:
        return cooled
    keep = sorted(cooled.items(), key=lambda kv: kv[1]["until"])[-MAX_COOLED:]
    return dict(keep)


def placements_op(state: State, operation: str, payload: Any) -> tuple[State, Result]:
    """``place`` {keys (the good ones, in ranked order), weights?, by, at}: the key furthest below its weighted
    share of the other recent replacements, at most MAX_SHARE of them (the first of equals in the given order),
    recorded for ``by``. ``get`` {}: the record."""
    placed: list[dict[str, str]] = list(state) if isinstance(state, list) else []
    if operation == "get":
        return placed, placed
    if operation != "place":
        raise InvalidInput(f"placements: no operation {operation!r} (place, get)")
    if not isinstance(payload, dict) or not isinstance(payload.get("keys"), list) or not payload["keys"]:
        raise InvalidInput("place: keys must be a non-empty list of offering keys")
    keys = [_key({"key": k}) for k in payload["keys"][:50]]
    weights = _weights(payload.get("weights"), len(keys))
    by, at = str(payload.get("by"))[:120], parse_iso(payload.get("at"), "at")
    recent = [p for p in placed if parse_iso(p["at"], "at") + PLACED_WINDOW > at and p["by"] != by]
    counts = {k: sum(1 for p in recent if p["key"] == k) for k in keys}
    total = sum(counts.values()) + 1
    under = [k for k in keys if total < 4 or counts[k] + 1 <= MAX_SHARE * total] or keys
    chosen = min(under, key=lambda k: ((counts[k] + 1) / weights[keys.index(k)], keys.index(k)))
    return [*recent, {"key": chosen, "by": by, "at": iso(at)}][-MAX_PLACED:], chosen


def _weights(raw: Any, n: int) -> list[float]:
    """One positive weight per key (all 1 when none are given: an even spread)."""
    if raw is None:
        return [1.0] * n
    if not isinstance(raw, list) or len(raw) < n:
        raise InvalidInput("place: weights must give one number per key")
    weights = [float(w) for w in raw[:n] if isinstance(w, int | float) and not isinstance(w, bool)]
    if len(weights) < n or not all(0 < w <= 1 for w in weights):
        raise InvalidInput("place: each weight must be in (0, 1]")
    return weights


def member_op(state: State, operation: str, payload: Any) -> tuple[State, Result]:
    """``remember`` a Member (as to_dict writes it); ``get`` it (None when respot never saw it)."""
    if operation == "remember":
        return Member.from_dict(payload).to_dict(), None
    if operation == "get":
        return state, state
    raise InvalidInput(f"member: no operation {operation!r} (remember, get)")


def cooled_until(live: Any) -> dict[str, datetime]:
    """The ``get`` answer as a Market's ``cooled`` (offering key -> until; an end already past cools nothing)."""
    if not isinstance(live, dict):
        return {}
    out = {}
    for key, entry in live.items():
        try:
            out[str(key)] = parse_iso(entry["until"], "until")
        except (InvalidInput, KeyError, TypeError):
            continue
    return out
