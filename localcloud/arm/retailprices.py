"""The Azure Retail Prices API (prices.azure.com): ``GET /api/retail/prices``, anonymous, OData ``$filter``.

Pages of 100 items with ``NextPageLink`` and ``$skip``, as the service pages; ``api-version=2023-01-01-preview``
makes filters case-sensitive (azure-retail-prices doc). Errors use the service's own ``{"Error": {...}}`` shape.
"""

from __future__ import annotations

from urllib.parse import urlencode

from localcloud.arm import odata, spotdata
from localcloud.arm.pipeline import Ctx
from localcloud.httpserver import Response

PRICES_PAGE = 100


def retail_prices(ctx: Ctx) -> Response:
    """GET /api/retail/prices (prices.azure.com): anonymous, OData $filter, pages of 100 with NextPageLink."""
    items = spotdata.retail_items(ctx.backend)
    flt = ctx.req.query_ci("$filter")
    if flt:
        try:
            pred = odata.parse(flt, case_sensitive=ctx.api_version == "2023-01-01-preview")
        except odata.ODataError as exc:
            return Response.json(400, {"Error": {"Code": "BadRequest", "Message": str(exc)}})
        # The API filters on `priceType`, which items spell `type` (azure-retail-prices: "API filters").
        items = [i for i in items if pred({**i, "priceType": i.get("type")})]
    try:
        skip = int(ctx.req.query_ci("$skip") or 0)
    except ValueError:
        return Response.json(400, {"Error": {"Code": "BadRequest", "Message": "$skip must be an integer."}})
    page = items[skip : skip + PRICES_PAGE]
    next_link = None
    if skip + PRICES_PAGE < len(items):
        query = {k: v for k, v in ctx.req.query.items() if k.lower() != "$skip"}
        query["$skip"] = str(skip + PRICES_PAGE)
        next_link = f"{ctx.base_url}/api/retail/prices?{urlencode(query)}"
    return Response.json(
        200,
        {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "NextPageLink": next_link,
            "Count": len(page),
        },
    )
