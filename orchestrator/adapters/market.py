"""What ranking reads, over the Azure SDKs: resource SKUs and usages (azure-mgmt-compute), spot prices (the Retail
Prices API, anonymous), eviction-rate buckets (Resource Graph SpotResources, azure-mgmt-resourcegraph) and spot
placement scores (Microsoft.Compute placementScores/spot/generate, not in azure-mgmt-compute 39: sent through the
compute client's pipeline). Sources: ../shared/reference/azure-facts.md section 6.

Signal lifetimes (per Function instance, in memory): prices and eviction rates ``market_ttl_seconds`` (an hour:
Azure refreshes them about that often); placement scores ``placement_ttl_seconds`` (15 minutes) per (sizes, regions)
set, asked at most 8 regions x 5 sizes per call: a score "is only valid at the time when it's requested", and Azure
suggests caching it 15 to 30 minutes (learn.microsoft.com/azure/virtual-machine-scale-sets/spot-placement-score);
the answer says when the scores are renewed, so a recovery waiting for a better score looks again then. A 429 keeps
the last scores and marks them stale (it never blocks a recovery). Resource SKUs (sizes,
zones, restrictions: they change on the scale of days) are kept ``market_ttl_seconds`` too; quota
``quota_ttl_seconds`` (30 s): a mass eviction ranks hundreds of replacements within a minute, and one region's
usages read for each of them would spend the subscription's read budget (250 deep, 25/s) that the VMs' own reads
need. A stale SKU or quota costs at most one failed create, which the walk reads as SkuNotAvailable or quota and
skips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core import PipelineClient
from azure.core.pipeline.policies import RetryPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from orchestrator.adapters import arm
from orchestrator.adapters.compute import ArmCompute
from orchestrator.adapters.credentials import LoopbackHttpPolicy
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.placement import Scores, Sku
from orchestrator.settings import Settings

T = TypeVar("T")
PLACEMENT_API = "2025-06-05"
PLACEMENT_REGIONS, PLACEMENT_SIZES = 8, 5


def graph_client(settings: Settings, compute: ArmCompute) -> ResourceGraphClient:
    """Resource Graph with respot's rules: no retries of its own (a 429 is the orchestration's to wait out)."""
    return ResourceGraphClient(
        compute.credential, base_url=settings.arm_endpoint, retry_total=0, per_call_policies=[LoopbackHttpPolicy()]
    )


def graph_rows(graph: ResourceGraphClient, subscription: str, query: str) -> list[dict[str, Any]]:
    request = QueryRequest(
        subscriptions=[subscription], query=query, options=QueryRequestOptions(result_format="objectArray")
    )
    data: Any = arm.read(lambda: graph.resources(request).data)  # objectArray: a list of rows
    return list(data or [])


class ArmMarket:
    def __init__(self, settings: Settings, compute: ArmCompute) -> None:
        self.settings, self.compute = settings, compute
        self.ttl, self.quota_ttl = settings.market_ttl_seconds, settings.quota_ttl_seconds
        self.placement_ttl = settings.placement_ttl_seconds
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._graph = graph_client(settings, compute)
        self._prices: PipelineClient[Any, Any] = PipelineClient(
            settings.prices_endpoint, policies=[RetryPolicy(retry_total=0, timeout=60)]
        )

    def _cached(self, key: tuple[Any, ...], fetch: Callable[[], T], ttl: float) -> T:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]  # type: ignore[no-any-return]
        value = fetch()
        self._cache[key] = (time.monotonic(), value)
        return value

    # --- ARM reads, shared by the rankings of a wave ----------------------------------------------------------

    def skus(self, subscription: str, region: str) -> dict[str, Sku]:
        return dict(
            self._cached(("skus", subscription, region), lambda: self._fetch_skus(subscription, region), self.ttl)
        )

    def _fetch_skus(self, subscription: str, region: str) -> dict[str, Sku]:
        client = self.compute.client(subscription)
        found = arm.read(lambda: list(client.resource_skus.list(filter=f"location eq '{region}'")))
        return {sku.name.lower(): sku for s in found if (sku := _sku(s, region)) is not None}

    def quota(self, subscription: str, region: str) -> dict[str, int]:
        """Free units per usage name (limit - current): family cores, ``cores``, ``lowPriorityCores``."""
        key = ("quota", subscription, region)
        return dict(self._cached(key, lambda: self._fetch_quota(subscription, region), self.quota_ttl))

    def _fetch_quota(self, subscription: str, region: str) -> dict[str, int]:
        client = self.compute.client(subscription)
        usages = arm.read(lambda: list(client.usage.list(region)))
        return {str(u.name.value): int(u.limit) - int(u.current_value) for u in usages if u.name and u.name.value}

    # --- cached signals --------------------------------------------------------------------------------------------

    def spot_prices(self, region: str) -> dict[str, float]:
        """USD per hour of each size's Linux Spot meter in ``region`` (size lower-case -> price)."""
        return self._cached(("prices", region), lambda: self._fetch_prices(region), self.ttl)

    def _fetch_prices(self, region: str) -> dict[str, float]:
        flt = f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption'"
        url: str | None = f"{self.settings.prices_endpoint}/api/retail/prices?$filter={flt}"
        out: dict[str, float] = {}
        while url:
            page = arm.read(lambda u=url: self._get_json(u))  # type: ignore[misc]
            for item in page.get("Items") or []:
                name, product = str(item.get("skuName", "")), str(item.get("productName", ""))
                if "Spot" in name and "Low Priority" not in name and "Windows" not in product:
                    out[str(item.get("armSkuName", "")).lower()] = float(item.get("retailPrice", 0.0))
            url = page.get("NextPageLink")
        return out

    def _get_json(self, url: str) -> Any:
        response = self._prices.send_request(HttpRequest("GET", url), connection_timeout=10, read_timeout=30)
        response.raise_for_status()
        return response.json()

    def eviction_rates(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], str]:
        key = ("evictions", subscription, tuple(sorted(sizes)), tuple(sorted(regions)))
        return self._cached(key, lambda: self._fetch_rates(subscription, sizes, regions), self.ttl)

    def _fetch_rates(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], str]:
        names = ", ".join(f"'{s.lower()}'" for s in sizes)
        where = ", ".join(f"'{r}'" for r in regions)
        query = (
            "SpotResources | where type =~ 'microsoft.compute/skuspotevictionrate/location' "
            f"| where sku.name in~ ({names}) | where location in~ ({where}) "
            "| project skuName = tostring(sku.name), location, spotEvictionRate = tostring(properties.evictionRate)"
        )
        rows = graph_rows(self._graph, subscription, query)
        return {(str(r["skuName"]).lower(), str(r["location"]).lower()): str(r["spotEvictionRate"]) for r in rows}

    def placement_scores(self, subscription: str, sizes: list[str], regions: list[str]) -> Scores:
        """Offering key -> High | Medium | Low | DataNotFoundOrStale; stale: the last scores, after a 429."""
        key = ("placement", subscription, tuple(sorted(sizes)), tuple(sorted(regions)))
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.placement_ttl:
            return Scores(hit[1], renewed_in=self._renewed_in(hit[0]))
        try:
            scores = self._fetch_scores(subscription, sizes, regions)
        except ArmFailure as failure:
            if failure.kind not in (Failure.THROTTLED, Failure.TRANSIENT, Failure.CONFIG):
                raise
            return Scores(hit[1] if hit else {}, stale=True)  # keep the last; the ranking treats them as unknown
        fetched = time.monotonic()
        self._cache[key] = (fetched, scores)
        return Scores(scores, renewed_in=self._renewed_in(fetched))

    def _renewed_in(self, fetched: float) -> float:
        """Seconds until scores fetched at ``fetched`` (monotonic) are asked again."""
        return max(0.0, fetched + self.placement_ttl - time.monotonic())

    def _fetch_scores(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in range(0, len(regions), PLACEMENT_REGIONS):
            for s in range(0, len(sizes), PLACEMENT_SIZES):
                out |= self._score_call(
                    subscription, sizes[s : s + PLACEMENT_SIZES], regions[r : r + PLACEMENT_REGIONS]
                )
        return out

    def _score_call(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[str, str]:
        url = (
            f"{self.settings.arm_endpoint}/subscriptions/{subscription}/providers/Microsoft.Compute/locations/"
            f"{regions[0]}/placementScores/spot/generate?api-version={PLACEMENT_API}"
        )
        body = {
            "desiredLocations": regions,
            "desiredSizes": [{"sku": s} for s in sizes],
            "desiredCount": 1,
            "availabilityZones": True,
        }
        client = self.compute.client(subscription)

        def post() -> Any:
            response = client.send_request(HttpRequest("POST", url, json=body))
            response.raise_for_status()
            return response.json()

        answer = arm.read(post)
        return {
            f"{str(p.get('sku', '')).lower()}/{str(p.get('region', '')).lower()}/{p.get('availabilityZone') or '-'}": str(
                p.get("score", "")
            )
            for p in answer.get("placementScores") or []
        }


def _sku(raw: Any, region: str) -> Sku | None:
    if (raw.resource_type or "").lower() != "virtualmachines" or not raw.name:
        return None
    caps = {c.name: c.value for c in raw.capabilities or [] if c.name}
    zones = next((tuple(i.zones or ()) for i in raw.location_info or [] if (i.location or "").lower() == region), ())
    restricted, restricted_zones = False, ()
    for r in raw.restrictions or []:
        info = r.restriction_info
        if (r.type or "").lower() == "location":
            restricted = True
        elif (r.type or "").lower() == "zone" and info is not None:
            restricted_zones = tuple(info.zones or ())
    return Sku(
        name=raw.name,
        vcpus=int(caps.get("vCPUs", "0") or 0),
        memory_gb=float(caps.get("MemoryGB", "0") or 0),
        family=raw.family or "",
        architecture=caps.get("CpuArchitectureType", "x64") or "x64",
        spot_capable=str(caps.get("LowPriorityCapable", "True")).lower() == "true",
        zones=zones,
        restricted=restricted,
        restricted_zones=restricted_zones,
    )
