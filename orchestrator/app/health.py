"""GET /api/health: liveness of the Function App (anonymous; reveals nothing but the version)."""

from __future__ import annotations

import json

import azure.functions as func

from orchestrator import __version__

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves __init__ unannotated


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return health_response()


def health_response() -> func.HttpResponse:
    body = {"status": "ok", "service": "respot", "version": __version__}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
