"""Every response the emulator gives for a served operation conforms to the official swagger schema."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.rest import HttpRequest

from localcloud.arm import ArmEmulator
from tests.conformance import swagger
from tests.integration.helpers import control, raw, vm_body, vmss_body, wait_until
from tests.live import Cloud

pytestmark = pytest.mark.integration

V = "api-version=2026-04-01"


def check(op_id: str, status: int, body: Any) -> None:
    assert status in swagger.declared_statuses(op_id) or status >= 400, f"{op_id} answered {status}"
    problems = swagger.response_errors(op_id, status, body)
    assert problems == [], f"{op_id} {status}: {problems}"


@pytest.fixture
def world(arm: ArmEmulator) -> dict[str, str]:
    """A VM and a scale set, both running."""
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute"
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachines/vm1?{V}", vm_body(arm, zones=["1"]))
    check("VirtualMachines_CreateOrUpdate", status, body)
    ss_body = vmss_body(arm, capacity=2, restore={"enabled": True, "restoreTimeout": "PT1H"})
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachineScaleSets/ss?{V}", ss_body)
    check("VirtualMachineScaleSets_CreateOrUpdate", status, body)
    wait_until(lambda: not arm.backend.pending(), what="provisioning")
    return {"base": base, "sub": f"/subscriptions/{arm.subscription}"}


GETS = [
    ("VirtualMachines_Get", "{base}/virtualMachines/vm1"),
    ("VirtualMachines_Get", "{base}/virtualMachines/vm1&$expand=instanceView"),
    ("VirtualMachines_InstanceView", "{base}/virtualMachines/vm1/instanceView"),
    ("VirtualMachines_List", "{base}/virtualMachines"),
    ("VirtualMachines_ListAll", "{sub}/providers/Microsoft.Compute/virtualMachines"),
    ("VirtualMachines_ListByLocation", "{sub}/providers/Microsoft.Compute/locations/eastus/virtualMachines"),
    ("VirtualMachineScaleSets_Get", "{base}/virtualMachineScaleSets/ss"),
    ("VirtualMachineScaleSets_List", "{base}/virtualMachineScaleSets"),
    ("VirtualMachineScaleSetVMs_List", "{base}/virtualMachineScaleSets/ss/virtualMachines&$expand=instanceView"),
    ("VirtualMachineScaleSetVMs_Get", "{base}/virtualMachineScaleSets/ss/virtualMachines/0"),
    ("VirtualMachineScaleSetVMs_GetInstanceView", "{base}/virtualMachineScaleSets/ss/virtualMachines/0/instanceView"),
    ("ResourceSkus_List", "{sub}/providers/Microsoft.Compute/skus"),
    ("Usage_List", "{sub}/providers/Microsoft.Compute/locations/eastus/usages"),
]


# Reads that need nothing but a subscription: the same schema check on the emulator or, with RESPOT_AZURE_LIVE=1,
# on real Azure's answers (tests/live.py), which is what says the swagger files and the emulator agree with Azure.
SUBSCRIPTION_READS = [
    ("ResourceSkus_List", "/subscriptions/{sub}/providers/Microsoft.Compute/skus?{v}&$filter=location eq '{region}'"),
    ("Usage_List", "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/usages?{v}"),
    ("VirtualMachines_ListAll", "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines?{v}"),
    (
        "VirtualMachines_ListByLocation",
        "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/virtualMachines?{v}",
    ),
]


@pytest.mark.azure_live
@pytest.mark.parametrize(("op_id", "path"), SUBSCRIPTION_READS, ids=[o for o, _ in SUBSCRIPTION_READS])
def test_subscription_reads_conform_on_the_emulator_and_on_azure(cloud: Cloud, op_id: str, path: str) -> None:
    url = path.format(sub=cloud.subscription, region=cloud.region, v=V)
    resp = cloud.compute.send_request(HttpRequest("GET", url))  # the SDK's pipeline (auth, endpoint), raw body
    assert resp.status_code == 200, resp.text()
    check(op_id, resp.status_code, resp.json())


@pytest.mark.parametrize(("op_id", "path"), GETS, ids=[f"{o}:{p.rsplit('/', 1)[-1]}" for o, p in GETS])
def test_reads_conform(arm: ArmEmulator, world: dict[str, str], op_id: str, path: str) -> None:
    url = path.format(**world)
    url = url.replace("&", f"?{V}&", 1) if "&" in url else f"{url}?{V}"
    status, _, body = raw(arm, "GET", url)
    assert status == 200
    check(op_id, status, body)


ACTIONS = [
    ("VirtualMachines_PowerOff", "POST", "{base}/virtualMachines/vm1/powerOff", 202),
    ("VirtualMachines_Start", "POST", "{base}/virtualMachines/vm1/start", 202),
    ("VirtualMachines_SimulateEviction", "POST", "{base}/virtualMachines/vm1/simulateEviction", 204),
    (
        "VirtualMachineScaleSetVMs_Deallocate",
        "POST",
        "{base}/virtualMachineScaleSets/ss/virtualMachines/1/deallocate",
        202,
    ),
    (
        "VirtualMachineScaleSetVMs_SimulateEviction",
        "POST",
        "{base}/virtualMachineScaleSets/ss/virtualMachines/0/simulateEviction",
        204,
    ),
    ("VirtualMachineScaleSetVMs_Delete", "DELETE", "{base}/virtualMachineScaleSets/ss/virtualMachines/1", 202),
    ("VirtualMachines_Delete", "DELETE", "{base}/virtualMachines/vm1", 202),
]


def test_actions_answer_declared_statuses_with_lro_headers(arm: ArmEmulator, world: dict[str, str]) -> None:
    for op_id, method, path, expected in ACTIONS:
        status, headers, body = raw(arm, method, f"{path.format(**world)}?{V}")
        assert status == expected, (op_id, status, body)
        check(op_id, status, body)
        if status == 202:
            assert "Azure-AsyncOperation" in headers and "Location" in headers
            op_url = headers["Azure-AsyncOperation"].split(arm.url, 1)[1]
            wait_until(lambda u=op_url: raw(arm, "GET", u)[2]["status"] != "InProgress", what=op_id)


def test_updates_conform(arm: ArmEmulator, world: dict[str, str]) -> None:
    base = world["base"]
    status, _, body = raw(arm, "PATCH", f"{base}/virtualMachines/vm1?{V}", {"tags": {"team": "spot"}})
    check("VirtualMachines_Update", status, body)
    assert body["tags"] == {"team": "spot"}
    status, _, body = raw(arm, "PATCH", f"{base}/virtualMachineScaleSets/ss?{V}", {"sku": {"capacity": 3}})
    check("VirtualMachineScaleSets_Update", status, body)


def test_errors_conform_to_the_cloud_error_schema(arm: ArmEmulator, world: dict[str, str]) -> None:
    base = world["base"]
    status, _, body = raw(arm, "GET", f"{base}/virtualMachines/nope?{V}")
    check("VirtualMachines_Get", status, body)
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachines/vm2?{V}", vm_body(arm, max_price=0.0001))
    assert status == 409
    check("VirtualMachines_CreateOrUpdate", status, body)


def test_placement_scores_conform(arm: ArmEmulator) -> None:
    path = f"/subscriptions/{arm.subscription}/providers/Microsoft.Compute/locations/eastus/placementScores/spot/generate?api-version=2025-06-05"
    body = {
        "desiredLocations": ["eastus", "westus2"],
        "desiredSizes": [{"sku": "Standard_D2s_v5"}],
        "desiredCount": 1,
        "availabilityZones": True,
    }
    status, _, answer = raw(arm, "POST", path, body)
    check("SpotPlacementScores_Post", status, answer)


def test_flexible_sets_and_their_vms_conform(arm: ArmEmulator) -> None:
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute"
    with_profile = vmss_body(arm, capacity=1)
    with_profile["properties"] = {
        "orchestrationMode": "Flexible",
        "platformFaultDomainCount": 1,
        **with_profile["properties"],
    }
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachineScaleSets/flex?{V}", with_profile)
    check("VirtualMachineScaleSets_CreateOrUpdate", status, body)
    bare = {"location": "eastus", "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": 1}}
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachineScaleSets/bare?{V}", bare)
    check("VirtualMachineScaleSets_CreateOrUpdate", status, body)
    joined = vm_body(arm)
    joined["properties"]["virtualMachineScaleSet"] = {"id": body["id"]}
    status, _, body = raw(arm, "PUT", f"{base}/virtualMachines/member?{V}", joined)
    check("VirtualMachines_CreateOrUpdate", status, body)
    wait_until(lambda: not arm.backend.pending(), what="provisioning")
    for op_id, path in [
        ("VirtualMachineScaleSets_Get", "virtualMachineScaleSets/flex"),
        ("VirtualMachineScaleSets_Get", "virtualMachineScaleSets/bare"),
        ("VirtualMachineScaleSets_List", "virtualMachineScaleSets"),
        ("VirtualMachines_Get", "virtualMachines/member"),
        ("VirtualMachines_List", "virtualMachines"),
        ("VirtualMachineScaleSetVMs_List", "virtualMachineScaleSets/flex/virtualMachines"),  # 400, CloudError
    ]:
        status, _, body = raw(arm, "GET", f"{base}/{path}?{V}")
        check(op_id, status, body)
        assert status == (400 if op_id == "VirtualMachineScaleSetVMs_List" else 200)


def test_autoscale_settings_conform(arm: ArmEmulator, world: dict[str, str]) -> None:
    rg = f"/subscriptions/{arm.subscription}/resourcegroups/{arm.resource_group}"
    path = f"{rg}/providers/Microsoft.Insights/autoscalesettings/keep?api-version=2022-10-01"
    profile = {"name": "default", "capacity": {"minimum": "2", "maximum": "4", "default": "2"}, "rules": []}
    body = {
        "location": "eastus",
        "tags": {"team": "spot"},
        "properties": {"profiles": [profile], "targetResourceUri": f"{world['base']}/virtualMachineScaleSets/ss"},
    }
    for op_id, method, url, payload, expected in [
        ("AutoscaleSettings_CreateOrUpdate", "PUT", path, body, 201),
        ("AutoscaleSettings_CreateOrUpdate", "PUT", path, body, 200),
        ("AutoscaleSettings_Update", "PATCH", path, {"properties": {"enabled": False}}, 200),
        ("AutoscaleSettings_Get", "GET", path, None, 200),
        ("AutoscaleSettings_ListByResourceGroup", "GET", path.replace("/keep", ""), None, 200),
        (
            "AutoscaleSettings_ListBySubscription",
            "GET",
            path.replace(f"/resourcegroups/{arm.resource_group}", "").replace("/keep", ""),
            None,
            200,
        ),
        ("AutoscaleSettings_Get", "GET", path.replace("/keep", "/nope"), None, 404),
        ("AutoscaleSettings_CreateOrUpdate", "PUT", path, {**body, "properties": {"profiles": []}}, 400),
        ("AutoscaleSettings_Delete", "DELETE", path, None, 200),
        ("AutoscaleSettings_Delete", "DELETE", path, None, 204),
    ]:
        status, _, answer = raw(arm, method, url, payload)
        assert status == expected, (op_id, status, answer)
        check(op_id, status, answer)
