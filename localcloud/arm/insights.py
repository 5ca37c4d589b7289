"""Microsoft.Insights handlers: autoscale settings over HTTP (autoscale_API.json 2022-10-01 status codes).

PUT 201 / 200 and PATCH 200 with the resource, synchronously (no LRO: the swagger declares none); GET 200;
DELETE 200, or 204 when there is nothing to delete; lists ``{"value": [...]}`` in one page (no ``nextLink``).
"""

from __future__ import annotations

from localcloud.arm import autoscale, compute
from localcloud.arm.models import AutoscaleSetting
from localcloud.arm.pipeline import Ctx
from localcloud.httpserver import Response


def _setting(ctx: Ctx) -> AutoscaleSetting:
    p = ctx.params
    return autoscale.find(ctx.backend, p["sub"], p["rg"], p["name"])


def autoscale_put(ctx: Ctx) -> Response:
    p = ctx.params
    status, setting = autoscale.put(ctx.backend, p["sub"], p["rg"], p["name"], ctx.body(), ctx.caller)
    return Response.json(status, autoscale.view(setting))


def autoscale_patch(ctx: Ctx) -> Response:
    setting = autoscale.patch(ctx.backend, _setting(ctx), ctx.body(), ctx.caller)
    return Response.json(200, autoscale.view(setting))


def autoscale_get(ctx: Ctx) -> Response:
    return Response.json(200, autoscale.view(_setting(ctx)))


def autoscale_delete(ctx: Ctx) -> Response:
    p = ctx.params
    deleted = autoscale.delete(ctx.backend, p["sub"], p["rg"], p["name"], ctx.caller)
    return Response.empty(200 if deleted else 204)


def autoscale_list(ctx: Ctx) -> Response:
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"], p["rg"])
    prefix = autoscale.setting_key(p["sub"], p["rg"], "")
    return _listed([s for k, s in ctx.backend.world.autoscale.items() if k.startswith(prefix)])


def autoscale_list_all(ctx: Ctx) -> Response:
    sub = ctx.params["sub"]
    compute.check_scope(ctx.backend, sub)
    return _listed([s for s in ctx.backend.world.autoscale.values() if s.subscription.lower() == sub.lower()])


def _listed(settings: list[AutoscaleSetting]) -> Response:
    return Response.json(200, {"value": [autoscale.view(s) for s in sorted(settings, key=lambda s: s.key)]})
