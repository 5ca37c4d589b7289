"""GET /api/dashboard: the recovery view, a page served by the app itself (function auth, like /api/alerts).

One function serves the page and its JSON (route ``dashboard/{view?}/{instance?}``), so that one function key
opens all of it:

- ``dashboard``: one HTML file with its script and styles inline (app/static/dashboard.html); a Content-Security-
  Policy lets it reach nothing but this app (``connect-src 'self'``), and its script runs by a per-response nonce;
- ``dashboard/recoveries``: the recoveries the durable backend lists (a page per first digit of the VM hash: the
  Python client never asks for a next page), newest first, as orchestrator.domain.recoveryview.summary says them;
- ``dashboard/recoveries/{instance}``: one recovery's timeline; while it runs, its strategy's status and history
  too (each try and each timer), so the page shows the recovery as it goes;
- ``dashboard/fleets``: the fleet profiles and the VMs in scope with their state, from one list per subscription
  (kept up to RESPOT_QUOTA_TTL_SECONDS, shared with the rankings: a page that polls costs ARM almost nothing).

The page's key comes in ``?code=``: the host checks it (a bad or missing one is a 401 before any of this runs) and
the page's script passes it on to the JSON routes. Nothing here writes anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrator.app import compose
from orchestrator.domain import recoveryview

log = logging.getLogger("respot.dashboard")
bp = df.Blueprint()
PAGE = Path(__file__).parent / "static" / "dashboard.html"
NONCE = "{{nonce}}"


@bp.route(route="dashboard/{view?}/{instance?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def dashboard(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await serve(req.route_params, client)


async def serve(params: Mapping[str, str], client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The page, or one of its JSON views: one function, so one function key opens the whole view."""
    view, instance = params.get("view") or "", params.get("instance") or ""
    if not view:
        return page()
    if view == "recoveries":
        return await (recovery(client, instance) if instance else recoveries(client))
    if view == "fleets" and not instance:
        return await fleets()
    return _json(404, {"error": "the recovery view has /dashboard, /dashboard/recoveries[/<id>], /dashboard/fleets"})


@lru_cache(maxsize=1)
def _template() -> str:
    return PAGE.read_text(encoding="utf-8")


def page() -> func.HttpResponse:
    nonce = secrets.token_urlsafe(16)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    body = _template().replace(NONCE, nonce)
    return func.HttpResponse(body, status_code=200, mimetype="text/html", charset="utf-8", headers=headers)


async def recoveries(client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """One status query per first hex digit of the VM hash (recoveryview.LIST_PREFIXES), at once; ``truncated``
    when a query filled its page (older or more recoveries exist than are shown)."""
    try:
        pages = await asyncio.gather(*(client.get_status_by(instance_id_prefix=p) for p in recoveryview.LIST_PREFIXES))
    except Exception as exc:  # noqa: BLE001 - the client raises bare Exception for any answer it did not expect
        return _json(503, {"error": f"the durable backend did not answer: {str(exc)[:300]}"})
    rows = [recoveryview.summary(_plain(s)) for page in pages for s in page if recoveryview.is_recovery(s.instance_id)]
    rows.sort(key=lambda r: r["createdTime"], reverse=True)
    return _json(200, {"recoveries": rows, "truncated": any(len(page) >= recoveryview.PAGE for page in pages)})


async def recovery(client: df.DurableOrchestrationClient, instance_id: str) -> func.HttpResponse:
    if not recoveryview.is_recovery(instance_id):
        return _json(400, {"error": "not a recovery's instance id (respot-<vm hash>-<n>)"})
    try:
        status = await client.get_status(instance_id, show_input=True)
        if not status:
            return _json(404, {"error": f"no recovery {instance_id}"})
        plain = _plain(status)
        strategy = await _strategy(client, plain) if plain.get("runtimeStatus") in recoveryview.RUNNING else None
    except Exception as exc:  # noqa: BLE001 - as above
        return _json(503, {"error": f"the durable backend did not answer: {str(exc)[:300]}"})
    return _json(200, recoveryview.timeline(plain, strategy))


async def _strategy(client: df.DurableOrchestrationClient, status: dict[str, Any]) -> dict[str, Any] | None:
    """The running strategy's status with its history (one execution: continue-as-new keeps it short)."""
    custom = status.get("customStatus")
    named = str(custom.get("strategy") or "") if isinstance(custom, dict) else ""
    if not named.startswith(str(status.get("instanceId")) + ":") or len(named) > 120:
        return None
    got = await client.get_status(named, show_history=True, show_history_output=True)
    return _plain(got) if got else None


async def fleets() -> func.HttpResponse:
    settings, profiles = compose.settings(), compose.fleets()
    compute, age = compose.compute(), float(settings.quota_ttl_seconds)
    listed, errors = [], []
    for subscription in sorted(settings.scope.subscriptions):
        try:
            got = await asyncio.to_thread(compute.list_vms, subscription, status=True, max_age=age)
        except Exception as exc:  # noqa: BLE001 - ARM's error: the page says so and shows the other subscriptions
            log.warning(json.dumps({"dashboard": "list-failed", "subscription": subscription, "error": str(exc)[:300]}))
            errors.append(f"{subscription}: {str(exc)[:200]}")
            continue
        listed += [(ref, facts) for ref, facts in got if settings.scope.allows(ref)]
    return _json(200, recoveryview.fleet_view(profiles, listed) | {"errors": errors})


def _plain(status: Any) -> dict[str, Any]:
    plain = dict(status.to_json())
    history = getattr(status, "historyEvents", None)
    if history is not None:
        plain["historyEvents"] = history
    return plain


def _json(status: int, body: Any) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers={"Cache-Control": "no-store"}
    )
