"""Spot market data in Azure's shapes: Retail Prices items, SpotResources rows, placement scores, SKUs, usages.

Eviction-rate buckets are what the scenario sets; otherwise they are derived from the emulator's own evictions
in the trailing 28 simulated days (SpotResources quotes a 28-day trailing rate, spot-vms.md), as evictions per
capacity slot of the (region, size), bucketed ``0-5 | 5-10 | 10-15 | 15-20 | 20+``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from localcloud.arm import capacity, catalog
from localcloud.arm.backend import Backend
from localcloud.arm.models import Json
from localcloud.arm.views import iso

_NS = uuid.UUID("6f0e7d3c-6a53-4f3e-9d9b-1c3f7c1a0b55")
BUCKETS = ("0-5", "5-10", "10-15", "15-20", "20+")


def _series(size: catalog.Size) -> str:
    part = size.size_part  # e.g. D2s_v5 -> "DSv5"
    letters = "".join(ch for ch in part.split("_")[0] if not ch.isdigit())
    version = part.split("_")[1] if "_" in part else ""
    return f"{letters[0].upper()}{letters[1:]}{version}" if letters else part


def retail_items(b: Backend) -> list[Json]:
    """Retail Prices API items (azure-retail-prices doc): one Spot and one regular Linux meter per size and region."""
    items: list[Json] = []
    for region in sorted(b.world.regions):
        for size in catalog.SIZES:
            spot = b.price(region, size.name)
            meter = size.size_part.replace("_", " ")
            for kind, price in (("Spot", spot), ("", round(spot * 8.0, 6))):
                meter_name = f"{meter} {kind}".strip()
                if kind == "Spot" and not size.low_priority_capable:
                    continue
                items.append(_item(region, size, meter_name, price, b))
    return items


def _item(region: str, size: catalog.Size, meter_name: str, price: float, b: Backend) -> Json:
    meter_id = str(uuid.uuid5(_NS, f"{region}/{size.name}/{meter_name}"))
    product = f"DZH318Z0{abs(hash(size.family)) % 10000:04d}"
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": catalog.REGION_DISPLAY.get(region, region),
        "effectiveStartDate": b.clock.now().strftime("%Y-%m-%dT00:00:00Z"),  # the Retail Prices API's own shape
        "meterId": meter_id,
        "meterName": meter_name,
        "productId": product,
        "skuId": f"{product}/{meter_id[:4].upper()}",
        "productName": f"Virtual Machines {_series(size)} Series",
        "skuName": meter_name,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": size.name,
    }


def eviction_rate(b: Backend, region: str, size: str) -> str:
    explicit = b.world.eviction_rates.get((region, size.lower()))
    if explicit is not None:
        return explicit
    since = b.now() - timedelta(days=28)
    count = sum(1 for t, r, s in b.world.evictions if t >= since and r == region and s == size.lower())
    slots = sum(b.capacity(region, z, size) for z in b.slots_of(region)) or 1
    pct = 100.0 * count / slots
    return BUCKETS[min(int(pct // 5), 4)]


def spot_resources(b: Backend, sub: str) -> list[Json]:
    """SpotResources rows: eviction rates and 90 days of price history per (size, region), Linux."""
    rows: list[Json] = []
    since = b.now() - timedelta(days=90)
    for region in sorted(b.world.regions):
        for size in catalog.SIZES:
            if not size.low_priority_capable:
                continue
            lsize = size.name.lower()
            rows.append(
                {
                    "id": f"/subscriptions/{sub}/providers/Microsoft.Compute/skuSpotEvictionRate/{lsize}/location/{region}",
                    "name": lsize,
                    "type": "microsoft.compute/skuspotevictionrate/location",
                    "location": region,
                    "sku": {"name": lsize},
                    "subscriptionId": sub,
                    "properties": {"evictionRate": eviction_rate(b, region, size.name)},
                }
            )
            history = [
                {"effectiveDate": iso(t), "priceUSD": p}
                for t, r, s, p in reversed(b.world.price_history)
                if r == region and s == lsize and t >= since
            ]
            if not history:
                history = [
                    {
                        "effectiveDate": iso(b.now() - timedelta(days=1)),
                        "priceUSD": b.price(region, size.name),
                    }
                ]
            rows.append(
                {
                    "id": f"/subscriptions/{sub}/providers/Microsoft.Compute/skuSpotPriceHistory/{lsize}/osType/linux/location/{region}",
                    "name": lsize,
                    "type": "microsoft.compute/skuspotpricehistory/ostype/location",
                    "location": region,
                    "sku": {"name": lsize},
                    "subscriptionId": sub,
                    "properties": {"osType": "Linux", "location": region, "spotPrices": history},
                }
            )
    return rows


def placement_scores(b: Backend, sub: str, body: Json) -> list[Json]:
    """RecommenderRP generate: High / Medium / Low from free slots against desiredCount; unknown -> DataNotFoundOrStale."""
    count = int(body.get("desiredCount") or 1)
    zonal = bool(body.get("availabilityZones"))
    out: list[Json] = []
    for wanted in body.get("desiredSizes") or []:
        sku = str(wanted.get("sku", ""))
        spec = catalog.size_of(sku)
        for location in body.get("desiredLocations") or []:
            region = str(location).lower()
            known = spec is not None and region in b.world.regions
            zones: tuple[str, ...] = b.zones_of(region) if zonal else ()
            quota_ok = known and _quota_available(b, sub, region, spec, count)
            for zone in zones or (None,):
                entry: Json = {"sku": sku, "region": region}
                if zone is not None:
                    entry["availabilityZone"] = zone
                free = (
                    (
                        capacity.free(b, region, zone, sku)
                        if zone is not None
                        else capacity.free_in_region(b, region, sku)
                    )
                    if known
                    else 0
                )
                entry["score"] = _score(free, count) if known else "DataNotFoundOrStale"
                entry["isQuotaAvailable"] = bool(quota_ok)
                out.append(entry)
    return out


def _quota_available(b: Backend, sub: str, region: str, spec: catalog.Size | None, count: int) -> bool:
    if spec is None:
        return False
    used = capacity.cores_in_use(b, sub, region, spot=True)
    return used + spec.vcpus * count <= b.quota(sub, region, "lowPriorityCores")


def _score(free: int, count: int) -> str:
    if free >= 2 * count:
        return "High"
    if free >= count:
        return "Medium"
    return "Low"


def resource_skus(b: Backend, location_filter: str | None) -> list[Json]:
    """ResourceSkus_List items, one per (size, region), with zone and subscription restrictions."""
    out: list[Json] = []
    for region in sorted(b.world.regions):
        if location_filter and region != location_filter:
            continue
        zones = list(b.zones_of(region))
        for size in catalog.SIZES:
            lsize = size.name.lower()
            restrictions: list[Json] = []
            if (region, "", lsize) in b.world.restrictions:
                restrictions.append(
                    {
                        "type": "Location",
                        "values": [region],
                        "restrictionInfo": {"locations": [region]},
                        "reasonCode": "NotAvailableForSubscription",
                    }
                )
            blocked = [z for z in zones if (region, z, lsize) in b.world.restrictions]
            if blocked:
                restrictions.append(
                    {
                        "type": "Zone",
                        "values": [region],
                        "restrictionInfo": {"locations": [region], "zones": blocked},
                        "reasonCode": "NotAvailableForSubscription",
                    }
                )
            out.append(
                {
                    "resourceType": "virtualMachines",
                    "name": size.name,
                    "tier": size.tier,
                    "size": size.size_part,
                    "family": size.family,
                    "locations": [region],
                    "locationInfo": [{"location": region, "zones": zones, "zoneDetails": []}],
                    "capabilities": _capabilities(size),
                    "restrictions": restrictions,
                }
            )
    return out


def _capabilities(size: catalog.Size) -> list[Json]:
    caps: list[tuple[str, Any]] = [
        ("vCPUs", size.vcpus),
        ("MemoryGB", f"{size.memory_gb:g}"),
        ("LowPriorityCapable", size.low_priority_capable),
        ("vCPUsAvailable", size.vcpus),
        ("GPUs", size.gpus),
        ("HyperVGenerations", "V1,V2"),
        ("AcceleratedNetworkingEnabled", not size.name.startswith("Standard_B")),
    ]
    return [{"name": n, "value": str(v) if not isinstance(v, bool) else ("True" if v else "False")} for n, v in caps]


def usages(b: Backend, sub: str, region: str) -> list[Json]:
    def usage(name: str, label: str, current: int) -> Json:
        return {
            "unit": "Count",
            "currentValue": current,
            "limit": b.quota(sub, region, name),
            "name": {"value": name, "localizedValue": label},
        }

    vms = [vm for vm in b.world.vms.values() if vm.subscription.lower() == sub.lower() and vm.location == region]
    out = [
        usage("cores", "Total Regional vCPUs", capacity.cores_in_use(b, sub, region, spot=False)),
        usage("virtualMachines", "Virtual Machines", len(vms)),
        usage(
            "lowPriorityCores",
            "Total Regional Low-priority vCPUs",
            capacity.cores_in_use(b, sub, region, spot=True),
        ),
    ]
    for family in sorted({s.family for s in catalog.SIZES}):
        label = family.replace("standard", "Standard ").replace("Family", " Family vCPUs")
        out.append(usage(family, label, capacity.cores_in_use(b, sub, region, spot=False, family=family)))
    return out
