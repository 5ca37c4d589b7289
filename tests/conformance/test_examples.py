"""Replay the official request examples (azure-rest-api-specs x-ms-examples) against the emulator.

For each example of an operation the emulator serves: make the world the example assumes (its subscription,
resource group, subnets, NICs, and the VM or scale set it acts on), send its request, and check the status is
one the example lists and the body conforms to the operation's schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from localcloud.arm import ArmEmulator
from tests.conformance import swagger
from tests.integration.helpers import control, raw, vm_body, vmss_body, wait_until

pytestmark = pytest.mark.integration

SERVED = {
    "VirtualMachines_CreateOrUpdate",
    "VirtualMachines_Get",
    "VirtualMachines_InstanceView",
    "VirtualMachines_Delete",
    "VirtualMachines_Start",
    "VirtualMachines_Deallocate",
    "VirtualMachines_PowerOff",
    "VirtualMachines_SimulateEviction",
    "VirtualMachines_List",
    "VirtualMachines_ListAll",
    "VirtualMachines_ListByLocation",
    "VirtualMachineScaleSets_CreateOrUpdate",
    "VirtualMachineScaleSets_Get",
    "VirtualMachineScaleSets_Update",
    "VirtualMachineScaleSetVMs_List",
    "VirtualMachineScaleSetVMs_Start",
    "VirtualMachineScaleSetVMs_Deallocate",
    "VirtualMachineScaleSetVMs_Delete",
    "VirtualMachineScaleSetVMs_SimulateEviction",
    "Usage_List",
    "ResourceSkus_List",
    "SpotPlacementScores_Post",
    "AutoscaleSettings_CreateOrUpdate",
    "AutoscaleSettings_Get",
    "AutoscaleSettings_Update",
    "AutoscaleSettings_Delete",
    "AutoscaleSettings_ListByResourceGroup",
}

# Generated (*_Gen) examples that name things no Azure subscription could hold: a scale-set instance id must be a
# number, and a location must be a region. Azure answers those with 404s, and so must the emulator.
NOT_REPLAYABLE = {
    "VirtualMachineScaleSetVM_Deallocate_MaximumSet_Gen.json": "instanceId 'aaaa…' is not an instance number",
    "VirtualMachineScaleSetVM_Deallocate_MinimumSet_Gen.json": "instanceId 'aaaaaa' is not an instance number",
    "VirtualMachineScaleSetVM_Start_MaximumSet_Gen.json": "instanceId 'aaaa…' is not an instance number",
    "VirtualMachineScaleSetVM_Start_MinimumSet_Gen.json": "instanceId 'aaaa…' is not an instance number",
    "VirtualMachineScaleSetVM_SimulateEviction.json": "instanceId 'InstanceId' is not an instance number",
    "Usage_List_MaximumSet_Gen.json": "location '4_.' is not a region",
    "Usage_List_MinimumSet_Gen.json": "location '_--' is not a region",
}


def examples() -> list[tuple[str, Path]]:
    found = []
    for op_id, (file, _, _, op) in sorted(swagger.operations().items()):
        if op_id not in SERVED:
            continue
        for ref in op.get("x-ms-examples", {}).values():
            path = (file.parent / ref["$ref"]).resolve()
            if path.exists():
                found.append((op_id, path))
    return found


CASES = examples()


def test_every_served_operation_with_a_vendored_example_is_replayed() -> None:
    covered = {op for op, _ in CASES}
    assert {"VirtualMachines_CreateOrUpdate", "VirtualMachines_SimulateEviction", "SpotPlacementScores_Post"} <= covered
    assert len(CASES) >= 25


def _fill(name: str, value: Any) -> Any:
    """Documentation placeholders such as '{vmss-name}' are for the reader to fill in; fill resource names."""
    if (
        name in ("vmName", "vmScaleSetName")
        and isinstance(value, str)
        and value.startswith("{")
        and value.endswith("}")
    ):
        return value.strip("{}")
    return value


def _ids(text: str, kind: str) -> set[str]:
    return set(re.findall(rf'"(/subscriptions/[^"]*/{kind}/[^"]*)"', text))


def _prepare(arm: ArmEmulator, op_id: str, params: dict[str, Any]) -> None:
    sub = str(params.get("subscriptionId", arm.subscription))
    rg = params.get("resourceGroupName")
    control(arm, "/resource-groups", {"subscription": sub, "name": rg or "unused"})
    body = next((v for k, v in params.items() if isinstance(v, dict)), {})
    region = str(body.get("location", "westus")).lower()
    text = json.dumps(body)
    for subnet in _ids(text, "subnets"):
        control(arm, "/subnets", {"id": subnet, "region": region})
    nics = [{"id": n, "region": region} for n in _ids(text, "networkInterfaces")]
    if nics:
        control(arm, "/scenario", {"nics": nics})
    if "vmName" in params and not op_id.endswith("CreateOrUpdate"):
        _existing_vm(arm, sub, str(rg), str(params["vmName"]))
    scale_set = params.get("vmScaleSetName") or params.get("virtualMachineScaleSetName")
    if scale_set and not op_id.endswith("CreateOrUpdate"):
        _existing_scale_set(arm, sub, str(rg), str(scale_set), str(params.get("instanceId", "0")))
    if op_id.startswith("AutoscaleSettings_"):
        _autoscale_world(arm, op_id, sub, str(rg), params)


def _autoscale_world(arm: ArmEmulator, op_id: str, sub: str, rg: str, params: dict[str, Any]) -> None:
    """The scale set the examples' settings target, and the setting itself for the operations that read it."""
    target = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/testingsc"
    _existing_scale_set(arm, sub, rg, target.rsplit("/", 1)[-1], "0")
    if op_id == "AutoscaleSettings_CreateOrUpdate":
        return
    name = str(params.get("autoscaleSettingName", "MySetting"))
    path = f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Insights/autoscalesettings/{name}?api-version=2022-10-01"
    profile = {"name": "default", "capacity": {"minimum": "1", "maximum": "10", "default": "1"}, "rules": []}
    body = {"location": "West US", "properties": {"profiles": [profile], "targetResourceUri": target}}
    status, _, answer = raw(arm, "PUT", path, body)
    assert status == 201, answer


def _existing_vm(arm: ArmEmulator, sub: str, rg: str, name: str) -> None:
    subnet = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    control(arm, "/subnets", {"id": subnet, "region": "eastus"})
    path = f"/subscriptions/{quote(sub)}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2024-11-01"
    status, _, body = raw(arm, "PUT", path, vm_body(arm, subnet=subnet))
    assert status == 201, body
    wait_until(
        lambda: raw(arm, "GET", path)[2]["properties"]["provisioningState"] == "Succeeded", what=f"{name} created"
    )


def _existing_scale_set(arm: ArmEmulator, sub: str, rg: str, name: str, instance: str) -> None:
    subnet = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    control(arm, "/subnets", {"id": subnet, "region": "eastus"})
    body = vmss_body(arm, capacity=int(instance) + 1 if instance.isdigit() else 1)
    body["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"][
        "ipConfigurations"
    ][0]["properties"]["subnet"]["id"] = subnet
    path = f"/subscriptions/{quote(sub)}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}?api-version=2024-11-01"
    status, _, answer = raw(arm, "PUT", path, body)
    assert status == 201, answer
    wait_until(lambda: not arm.backend.pending(), what=f"{name} created")


def _request(op_id: str, params: dict[str, Any]) -> tuple[str, str, Any]:
    _, template, method, op = swagger.operations()[op_id]
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    query = {"api-version": params["api-version"]}
    body = None
    for declared in op.get("parameters", []):
        name = declared.get("name")
        if declared.get("in") == "query" and name in params and name != "api-version":
            query[name] = str(params[name]).lower() if isinstance(params[name], bool) else str(params[name])
        if declared.get("in") == "body":
            body = params.get(declared["name"])
    return method, f"{path}?{urlencode(query)}", body


@pytest.mark.parametrize(("op_id", "example"), CASES, ids=[p.name for _, p in CASES])
def test_official_example_is_answered_as_documented(arm: ArmEmulator, op_id: str, example: Path) -> None:
    doc = json.loads(example.read_text())
    params = {k: _fill(k, v) for k, v in doc["parameters"].items()}
    _prepare(arm, op_id, params)
    method, url, body = _request(op_id, params)
    status, _, answer = raw(arm, method, url, body)
    if example.name in NOT_REPLAYABLE:
        # What Azure does with such a request: the instance or location does not exist.
        assert status == 404 and answer["error"]["code"], (NOT_REPLAYABLE[example.name], answer)
        return
    documented = {int(code) for code in doc["responses"]}
    assert status in documented, f"{example.name}: {status} not in {sorted(documented)}: {answer}"
    problems = swagger.response_errors(op_id, status, answer)
    assert problems == [], f"{example.name}: {problems}"
