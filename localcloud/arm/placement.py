"""Spot placement scores (Microsoft.Compute RecommenderRP, api-version 2025-06-05).

``POST .../locations/{region}/placementScores/spot/generate`` echoes the request and adds ``placementScores``
(GenerateSpotPlacementScores.json); ``GET .../placementScores/spot`` is the resource's metadata. At most 8
regions and 5 sizes per call (OBSERVED in community tools, azure-facts.md section 6).
"""

from __future__ import annotations

from localcloud.arm import compute, errors, spotdata
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import require_object
from localcloud.httpserver import Response

MAX_PLACEMENT_REGIONS = 8
MAX_PLACEMENT_SIZES = 5


def placement_scores(ctx: Ctx) -> Response:
    sub = ctx.params["sub"]
    compute.check_scope(ctx.backend, sub)
    body = require_object(ctx.body(), "spotPlacementScoresInput")
    locations, sizes = body.get("desiredLocations"), body.get("desiredSizes")
    if not isinstance(locations, list) or not locations:
        raise errors.missing_property("desiredLocations")
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, dict) and s.get("sku") for s in sizes):
        raise errors.missing_property("desiredSizes")
    if len(locations) > MAX_PLACEMENT_REGIONS or len(sizes) > MAX_PLACEMENT_SIZES:
        raise errors.invalid_parameter(
            "spotPlacementScoresInput",
            f"At most {MAX_PLACEMENT_REGIONS} desiredLocations and {MAX_PLACEMENT_SIZES} desiredSizes are allowed per request.",
        )
    count = body.get("desiredCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise errors.invalid_parameter("desiredCount", "desiredCount must be a positive integer.")
    return Response.json(200, {**body, "placementScores": spotdata.placement_scores(ctx.backend, sub, body)})


def placement_metadata(ctx: Ctx) -> Response:
    loc = ctx.params["loc"]
    return Response.json(
        200,
        {
            "id": f"/subscriptions/{ctx.params['sub']}/providers/Microsoft.Compute/locations/{loc}/placementScores/spot",
            "name": "spot",
            "type": "Microsoft.Compute/locations/placementScores",
            "location": loc,
        },
    )
