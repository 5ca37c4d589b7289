"""Microsoft.Compute resource SKUs and usages (quota): what sizes exist where, and how much quota is left.

``GET .../providers/Microsoft.Compute/skus`` (``$filter=location eq '<region>'`` only, as azure-mgmt-compute
sends it) and ``GET .../locations/{region}/usages``; the data comes from ``spotdata``.
"""

from __future__ import annotations

import re

from localcloud.arm import compute, errors, spotdata
from localcloud.arm.errors import ArmError
from localcloud.arm.pipeline import Ctx
from localcloud.httpserver import Response


def skus(ctx: Ctx) -> Response:
    compute.check_scope(ctx.backend, ctx.params["sub"])
    flt = ctx.req.query_ci("$filter")
    location = None
    if flt:
        m = re.fullmatch(r"\s*location\s+eq\s+'([^']+)'\s*", flt, re.IGNORECASE)
        if m is None:
            raise errors.invalid_parameter(
                "$filter", f"Unsupported $filter '{flt}': only \"location eq '<region>'\" is supported."
            )
        location = m.group(1).lower()
    return Response.json(200, {"value": spotdata.resource_skus(ctx.backend, location)})


def usages(ctx: Ctx) -> Response:
    sub, region = ctx.params["sub"], ctx.params["loc"].lower()
    compute.check_scope(ctx.backend, sub)
    if region not in ctx.backend.world.regions:
        raise ArmError(
            404,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{region}'.",
        )
    return Response.json(200, {"value": spotdata.usages(ctx.backend, sub, region)})
