"""POST /api/alerts: every eviction signal in, one recovery per VM out; everything else answered with why.

- malformed, oversized or non-JSON bodies: 400 with a JSON error naming the problem;
- Event Grid subscription validation: 200 with ``validationResponse``; CloudEvents webhook validation: OPTIONS;
- evictions outside the configured subscriptions and resource groups: ignored as ``out_of_scope``, no ARM call;
- each eviction: the VM's deterministic recovery instance is started, or joined if it is already running;
- 202 when at least one recovery was started or joined (with ids and status URLs), else 200; never a 5xx for input.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrator.app.compose import workflow_config
from orchestrator.domain import signals
from orchestrator.domain.resources import VmRef
from orchestrator.settings import Settings, get_settings
from orchestrator.workflows import names

log = logging.getLogger("respot.intake")
bp = df.Blueprint()
ACTIVE = {"Pending", "Running", "ContinuedAsNew"}


@bp.route(route="alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def alerts(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await handle(req, client, get_settings())


@bp.route(route="alerts", methods=["OPTIONS"])
def alerts_handshake(req: func.HttpRequest) -> func.HttpResponse:
    return handshake(req)


def handshake(req: func.HttpRequest) -> func.HttpResponse:
    """CloudEvents 1.0 webhook validation (Event Grid sends OPTIONS with WebHook-Request-Origin)."""
    origin = req.headers.get("WebHook-Request-Origin")
    if not origin:
        return _json(
            400, {"error": "OPTIONS is for the CloudEvents webhook handshake: WebHook-Request-Origin is missing"}
        )
    return func.HttpResponse(
        status_code=200,
        headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"},
    )


async def handle(req: func.HttpRequest, client: df.DurableOrchestrationClient, settings: Settings) -> func.HttpResponse:
    body = req.get_body()
    if len(body) > settings.max_body_bytes:
        return _reject(f"the body is {len(body)} bytes; the limit is {settings.max_body_bytes}")
    try:
        parsed = signals.parse(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(f"the body is not JSON: {exc}" if not isinstance(exc, signals.Malformed) else str(exc))
    if parsed.validation_response is not None:
        log.info(json.dumps({"intake": "event-grid-validation"}))
        return _json(200, parsed.validation_response)
    ignored = [asdict(i) for i in parsed.ignored]
    accepted: list[dict[str, Any]] = []
    seen: set[str] = set()
    for eviction in parsed.evictions:
        if not in_scope(eviction.vm, settings):
            ignored.append(
                asdict(
                    signals.Ignored(
                        "out_of_scope",
                        f"{eviction.vm.id} is outside the configured subscriptions and resource groups",
                        eviction.source,
                    )
                )
            )
        elif eviction.vm.instance_id_for_recovery not in seen:
            seen.add(eviction.vm.instance_id_for_recovery)
            accepted.append(await _start_or_join(client, req, eviction, settings))
    log.info(
        json.dumps(
            {
                "intake": "alerts",
                "accepted": [(a["vm"], a["joined"]) for a in accepted],
                "ignored": [(i["reason"], i["source"]) for i in ignored],
            }
        )
    )
    return _json(202 if accepted else 200, {"accepted": accepted, "ignored": ignored})


def in_scope(vm: VmRef, settings: Settings) -> bool:
    groups = settings.resource_group_set
    return vm.subscription in settings.subscription_set and (not groups or vm.resource_group in groups)


async def _start_or_join(
    client: df.DurableOrchestrationClient, req: func.HttpRequest, eviction: signals.Eviction, settings: Settings
) -> dict[str, Any]:
    instance_id = eviction.vm.instance_id_for_recovery
    status = await client.get_status(instance_id)
    joined = status.runtime_status is not None and status.runtime_status.value in ACTIVE
    if not joined:
        payload = {
            "vm": eviction.vm.to_dict(),
            "eviction": {
                "source": eviction.source.value,
                "event_id": eviction.event_id,
                "occurred_at": eviction.occurred_at,
            },
            "config": workflow_config(settings),
            # The new run replaces the VM's last one (same instance id): keep what that one concluded.
            "previous": _summary(status) if status.runtime_status is not None else None,
        }
        try:
            await client.start_new(names.RECOVER_VM, instance_id, payload)
        except Exception as exc:  # noqa: BLE001 - the extension refuses a second start of a running instance: join it
            log.info(json.dumps({"intake": "join-after-conflict", "instanceId": instance_id, "detail": str(exc)[:200]}))
            joined = True
    links = client.get_client_response_links(req, instance_id)
    return {
        "vm": eviction.vm.id,
        "instanceId": instance_id,
        "joined": joined,
        "source": eviction.source.value,
        "statusQueryGetUri": links["statusQueryGetUri"],
    }


def _summary(status: Any) -> dict[str, Any]:
    output = status.output if isinstance(status.output, dict) else {}
    return {
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "outcome": output.get("outcome"),
        "attempts": output.get("attempts"),
        "finishedAt": output.get("finishedAt"),
    }


def _reject(message: str) -> func.HttpResponse:
    log.info(json.dumps({"intake": "rejected", "error": message[:300]}))
    return _json(400, {"error": message})


def _json(status: int, body: Any) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
