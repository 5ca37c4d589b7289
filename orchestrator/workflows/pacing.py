"""What each activity spends of ARM's budgets (orchestrator.domain.limiter), and whose budget it is.

The costs are the requests the activity usually sends, counted from its code: a VM's facts are one GET (with
``instanceView`` expanded), a Uniform scale-set instance's two; a create is one PUT (``If-None-Match: *``); the
market's usages, SKUs and the members' list are shared by a wave's rankings and creates (the adapters keep them),
so a ranking usually reads nothing of the subscription's (its other sources, Resource Graph and the Retail Prices API,
are metered apart). A write's LRO status reads are ``check_operation``'s own. An over-count slows a wave down: what
a step did not spend (its answer says, orchestrator.readings) is handed back with the orchestration's next take.
An under-count (a cold cache, a create that finds its VM) is corrected by ARM's own readings of the bucket, which
go with the next take too.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.workflows import names

COSTS: dict[str, dict[str, int]] = {
    names.READ_VM: {"reads": 1},
    names.TRY_START: {"reads": 1, "writes": 1, "compute.update": 1},
    names.RAISE_MAX_PRICE: {"reads": 1, "writes": 1, "compute.update": 1},
    names.CHECK_OPERATION: {"reads": 1},
    names.CREATE_VM: {"writes": 1, "compute.put": 1},  # a create-only PUT (the members' list: shared)
    names.DELETE_VM: {"reads": 1, "deletes": 1, "compute.delete": 1},
    names.READ_SCALE_SET: {"reads": 2},  # the set, and the autoscale settings that may target it
    names.SET_CAPACITY: {"reads": 2, "writes": 1},
    names.CREATE_RETURN: {
        "reads": 4,
        "writes": 1,
        "compute.put": 1,
        "compute.list": 1,
    },  # + the fallback and the fleet's list
    names.DELETE_FALLBACK: {
        "reads": 3,
        "deletes": 1,
        "compute.delete": 1,
        "compute.list": 1,
    },  # both VMs and the fleet's list
}
# Steps that read ARM through caches a wave shares (a ranking: usages, SKUs and the members' list per region, kept
# for RESPOT_QUOTA_TTL_SECONDS and the market TTL) reserve nothing: a reservation of one read each put 500 rankings
# in the read queue of a 1,000-VM wave and held each redeploy 13 s behind LRO polls (bench mass, stepped), for reads
# that are almost never sent. Their cold reads (a few dozen in such a wave) fit the bucket's reserve, and what ARM
# says of its budgets (readings, a 429) still goes to the limiter with the next take.
LEARN_ONLY = {names.GATHER_MARKET}

# The limiter's first lane (orchestrator.domain.limiter): a create is 40 s or more from its PUT to a running VM, a
# start 25 s, so a wave whose creates go first has its last VM running sooner. A recovery that will create says
# so to the limiter (``expect``) as soon as it has classified the eviction.
FIRST_LANE = {names.CREATE_VM}
UNIFORM_EXTRA_READS = {names.READ_VM, names.TRY_START}  # a Uniform instance's facts: the set, then its instance view


def cost_of(name: str, payload: Any) -> dict[str, int] | None:
    """What the activity ``name`` spends for ``payload``; None for an activity that calls no ARM budget."""
    cost = COSTS.get(name)
    vm = payload.get("vm") if isinstance(payload, dict) else None
    if cost is not None and name in UNIFORM_EXTRA_READS and isinstance(vm, dict) and vm.get("scale_set"):
        return {**cost, "reads": cost["reads"] + 1}
    return cost


_SUBSCRIPTION = re.compile(r"/subscriptions/([0-9A-Za-z-]{1,64})/", re.IGNORECASE)


def subscription_of(payload: Any) -> str | None:
    """The subscription an activity's payload addresses: its VM's, or its operation URL's."""
    if not isinstance(payload, dict):
        return None
    vm = payload.get("vm")
    if isinstance(vm, dict) and isinstance(vm.get("subscription"), str):
        return str(vm["subscription"]).lower()
    operation = payload.get("operation")
    url = operation.get("url") if isinstance(operation, dict) else None
    found = _SUBSCRIPTION.search(url) if isinstance(url, str) else None
    return found.group(1).lower() if found else None
