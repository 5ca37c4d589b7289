"""The built-in world: VM sizes, regions, zones, quotas and starting spot prices.

Sizes and specs follow ../shared/data/azure-spot-prices/vm_skus.csv; starting spot prices are rounded from the
same data set's spot_price_history.csv (eastus, late 2023). A scenario can override every number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    vcpus: int
    memory_gb: float
    family: str  # quota family, as the usages API names it
    spot_price: float  # USD per hour, eastus baseline
    low_priority_capable: bool = True
    gpus: int = 0

    @property
    def tier(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def size_part(self) -> str:
        return self.name.split("_", 1)[1]


SIZES: tuple[Size, ...] = (
    Size("Standard_D2s_v5", 2, 8, "standardDSv5Family", 0.0192),
    Size("Standard_D4s_v5", 4, 16, "standardDSv5Family", 0.0384),
    Size("Standard_D8s_v5", 8, 32, "standardDSv5Family", 0.0768),
    Size("Standard_D2as_v5", 2, 8, "standardDASv5Family", 0.0172),
    Size("Standard_D4as_v5", 4, 16, "standardDASv5Family", 0.0344),
    Size("Standard_D2s_v3", 2, 8, "standardDSv3Family", 0.0192),
    Size("Standard_D4s_v3", 4, 16, "standardDSv3Family", 0.0384),
    Size("Standard_E2s_v5", 2, 16, "standardESv5Family", 0.0252),
    Size("Standard_E4s_v5", 4, 32, "standardESv5Family", 0.0504),
    Size("Standard_F2s_v2", 2, 4, "standardFSv2Family", 0.0169),
    Size("Standard_F4s_v2", 4, 8, "standardFSv2Family", 0.0338),
    Size("Standard_D1_v2", 1, 4, "standardDv2Family", 0.0146),
    Size("Standard_A8m_v2", 8, 64, "standardAv2Family", 0.0912),
    Size("Standard_NC6s_v3", 6, 112, "standardNCSv3Family", 0.918, gpus=1),
    Size("Standard_NC24s_v3", 24, 448, "standardNCSv3Family", 3.672, gpus=4),
    # B-series cannot run as Spot (vm_skus.csv: LowPriorityCapable False): AzureSpotIsNotSupportedForThisVMSize.
    Size("Standard_B2s", 2, 4, "standardBSFamily", 0.0416, low_priority_capable=False),
)

SIZE_BY_NAME: dict[str, Size] = {s.name.lower(): s for s in SIZES}

# Region -> zones (empty: the region has no availability zones). Price factor relative to eastus.
REGIONS: dict[str, tuple[tuple[str, ...], float]] = {
    "eastus": (("1", "2", "3"), 1.0),
    "eastus2": (("1", "2", "3"), 0.95),
    "westus2": (("1", "2", "3"), 1.05),
    "centralus": (("1", "2", "3"), 1.1),
    "southcentralus": (("1", "2", "3"), 0.9),
    "canadacentral": (("1", "2", "3"), 1.15),
    "westus": ((), 1.2),
    "northcentralus": ((), 0.92),
}

REGION_DISPLAY: dict[str, str] = {
    "eastus": "US East",
    "eastus2": "US East 2",
    "westus2": "US West 2",
    "centralus": "US Central",
    "southcentralus": "US South Central",
    "canadacentral": "CA Central",
    "westus": "US West",
    "northcentralus": "US North Central",
}

# Default regional quotas (vCPUs). Spot VMs draw only on lowPriorityCores (spot-vms.md); regular VMs draw on the
# family and the regional total ("cores").
DEFAULT_LOW_PRIORITY_CORES = 100
DEFAULT_TOTAL_CORES = 100
DEFAULT_FAMILY_CORES = 50
DEFAULT_VM_COUNT = 25000

# Spot slots per (region, zone, size) when a scenario says nothing.
DEFAULT_CAPACITY = 50


def size_of(name: str) -> Size | None:
    return SIZE_BY_NAME.get(name.lower())


def canonical_size(name: str) -> str:
    size = size_of(name)
    return size.name if size else name


def default_spot_price(region: str, size: Size) -> float:
    factor = REGIONS.get(region, ((), 1.0))[1]
    return round(size.spot_price * factor, 6)
