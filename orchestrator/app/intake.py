"""POST /api/alerts: every eviction signal in, one recovery per eviction out; everything else answered with why.

- malformed, oversized, too deeply nested or non-JSON bodies: 400 with a JSON error naming the problem;
- Event Grid subscription validation: 200 with ``validationResponse``; CloudEvents webhook validation: OPTIONS;
- signals outside the configured subscriptions and resource groups: ignored as ``out_of_scope``, no call at all;
- each signal is admitted (app/admission.py): it starts the eviction's recovery, joins it, or is a duplicate or
  late for a recovery that already finished; the answer lists instance ids only (never a URL holding a key);
- 202 when a recovery was started or joined, else 200; 503 only when the durable backend did not take a signal
  (the sender then delivers again). Input never causes a 5xx.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrator.app.admission import BackendUnavailable, admit
from orchestrator.domain import signals
from orchestrator.domain.identity import Route
from orchestrator.domain.models import Ignored
from orchestrator.settings import Settings, get_settings

log = logging.getLogger("respot.intake")
bp = df.Blueprint()
_IGNORED = {
    Route.LATE: ("late_signal", "the recovery of this eviction, {id}, has finished; its record is not changed"),
    Route.DUPLICATE: ("duplicate", "already recorded by recovery {id}"),
    Route.SATURATED: ("too_many_signals", "recovery {id} has recorded as many signals as it keeps"),
}


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


def parse_body(body: bytes, settings: Settings) -> signals.Parsed:
    """Raises :class:`signals.Malformed` naming what is wrong with the body."""
    if len(body) > settings.max_body_bytes:
        raise signals.Malformed(f"the body is {len(body)} bytes; the limit is {settings.max_body_bytes}")
    signals.check_depth(body, settings.max_body_depth)
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise signals.Malformed(f"the body is not JSON: {exc}") from None
    return signals.parse(document)


async def handle(req: func.HttpRequest, client: df.DurableOrchestrationClient, settings: Settings) -> func.HttpResponse:
    try:
        parsed = parse_body(req.get_body(), settings)
    except signals.Malformed as exc:
        log.info(json.dumps({"intake": "rejected", "error": str(exc)[:300]}))
        return _json(400, {"error": str(exc)})
    ignored, accepted = list(parsed.ignored), []
    scope = settings.scope
    try:
        for signal in parsed.signals:
            if not scope.allows(signal.vm):
                detail = f"{signal.vm.id} is outside the configured subscriptions and resource groups"
                ignored.append(Ignored("out_of_scope", detail, signal.source.value))
                continue
            admitted = await admit(client, signal)
            if admitted.route in _IGNORED:
                reason, detail = _IGNORED[admitted.route]
                ignored.append(Ignored(reason, detail.format(id=admitted.instance_id), signal.source.value))
            else:
                accepted.append(admitted.to_dict(signal))
    except BackendUnavailable as exc:
        log.warning(json.dumps({"intake": "backend-unavailable", "error": str(exc)[:300]}))
        return _json(503, {"error": f"{exc}; deliver again", "accepted": accepted})
    _log(accepted, ignored)
    if parsed.validation_response is not None:  # Event Grid's handshake wants exactly this body back
        log.info(json.dumps({"intake": "event-grid-validation"}))
        return _json(200, parsed.validation_response)
    return _json(202 if accepted else 200, {"accepted": accepted, "ignored": [asdict(i) for i in ignored]})


def _log(accepted: list[dict[str, Any]], ignored: list[Ignored]) -> None:
    log.info(
        json.dumps(
            {
                "intake": "alerts",
                "accepted": [(a["instanceId"], a["route"], a["source"]) for a in accepted],
                "ignored": [(i.reason, i.source) for i in ignored],
            }
        )
    )


def _json(status: int, body: Any) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
