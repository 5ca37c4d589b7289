"""Scale sets for capacity restores, over azure-mgmt-compute and Resource Graph: a set's facts (capacity, mode,
Spot and eviction policy, Try & restore) and the autoscale settings that target it, raising ``sku.capacity``, and
the sets of a subscription for the inventory sweep. Writes return at once with the operation to watch."""

from __future__ import annotations

from typing import Any

from azure.mgmt.compute.models import Sku, VirtualMachineScaleSetUpdate

from orchestrator.adapters import arm
from orchestrator.adapters.compute import Accepted, ArmCompute
from orchestrator.adapters.market import graph_client, graph_rows
from orchestrator.domain.capacity import ScaleSetFacts
from orchestrator.domain.models import Operation
from orchestrator.settings import Settings


class ArmScaleSets:
    def __init__(self, settings: Settings, compute: ArmCompute) -> None:
        self.compute = compute
        self._graph = graph_client(settings, compute)

    def facts(self, subscription: str, resource_group: str, name: str) -> ScaleSetFacts:
        client = self.compute.client(subscription)
        got = arm.read(lambda: client.virtual_machine_scale_sets.get(resource_group, name))
        return _facts(got, self.autoscale(subscription, str(got.id)))

    def autoscale(self, subscription: str, scale_set_id: str) -> tuple[str, ...]:
        """Enabled autoscale settings whose target is the set (Microsoft.Insights/autoscaleSettings)."""
        query = (
            "resources | where type =~ 'microsoft.insights/autoscalesettings' "
            f"| where properties.targetResourceUri =~ '{scale_set_id}' | where properties.enabled != false "
            "| project name"
        )
        return tuple(sorted(str(r["name"]) for r in graph_rows(self._graph, subscription, query)))

    def begin_set_capacity(self, subscription: str, resource_group: str, name: str, capacity: int) -> Operation | None:
        """PATCH sku.capacity (an absolute count: sent twice, it asks for the same set)."""
        accepted, client = Accepted(), self.compute.client(subscription)
        patch = VirtualMachineScaleSetUpdate(sku=Sku(capacity=capacity))
        arm.write(lambda: client.virtual_machine_scale_sets.begin_update(resource_group, name, patch, polling=accepted))
        return accepted.operation()

    def list_scale_sets(self, subscription: str) -> list[tuple[str, str, ScaleSetFacts, dict[str, str]]]:
        """(resource group, name, facts without autoscale, tags) of every scale set of the subscription."""
        client = self.compute.client(subscription)
        found = arm.read(lambda: list(client.virtual_machine_scale_sets.list_all()))
        out = []
        for got in found:
            rg = (
                str(got.id).split("/resourceGroups/", 1)[1].split("/", 1)[0]
                if "/resourceGroups/" in str(got.id)
                else ""
            )
            out.append((rg.lower(), str(got.name).lower(), _facts(got, ()), dict(got.tags or {})))
        return out


def _facts(got: Any, autoscale: tuple[str, ...]) -> ScaleSetFacts:
    props = got.properties
    profile = props.virtual_machine_profile if props else None
    restore = props.spot_restore_policy if props else None
    return ScaleSetFacts(
        id=str(got.id),
        capacity=int(got.sku.capacity or 0) if got.sku else 0,
        mode=_text(props.orchestration_mode) if props and props.orchestration_mode else "Uniform",
        spot=(_text(profile.priority) if profile else "").lower() in ("spot", "low"),
        delete_policy=(_text(profile.eviction_policy) if profile else "").lower() == "delete",
        restore=bool(restore and restore.enabled),
        autoscale=autoscale,
    )


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")
