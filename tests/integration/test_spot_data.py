"""SKUs, usages, Retail Prices, Resource Graph SpotResources, placement scores and Log Analytics."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.monitor.query import LogsQueryStatus

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, raw, vm_body
from tests.live import Cloud

pytestmark = pytest.mark.integration


@pytest.mark.azure_live
def test_resource_skus_carry_spot_capability_and_zones(cloud: Cloud) -> None:
    skus = {s.name: s for s in cloud.compute.resource_skus.list(filter=f"location eq '{cloud.region}'")}
    caps = {c.name: c.value for c in skus["Standard_D2s_v5"].capabilities}
    assert (caps["vCPUs"], caps["MemoryGB"], caps["LowPriorityCapable"]) == ("2", "8", "True")
    assert {c.name: c.value for c in skus["Standard_B2s"].capabilities}["LowPriorityCapable"] == "False"
    assert skus["Standard_D2s_v5"].location_info[0].zones == ["1", "2", "3"]


def test_retail_prices_filter_and_page_like_prices_azure_com(arm: ArmEmulator) -> None:
    flt = "serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' and contains(meterName, 'Spot')"
    url = f"{arm.url}/api/retail/prices?" + urllib.parse.urlencode({"$filter": flt})
    with urllib.request.urlopen(url) as resp:
        page = json.loads(resp.read())
    assert page["BillingCurrency"] == "USD" and page["Count"] == len(page["Items"]) > 0
    assert all(i["armRegionName"] == "eastus" and "Spot" in i["meterName"] for i in page["Items"])
    d2 = next(i for i in page["Items"] if i["armSkuName"] == "Standard_D2s_v5")
    control(arm, "/price", {"region": "eastus", "size": "Standard_D2s_v5", "price": 0.0123})
    with urllib.request.urlopen(url) as resp:
        again = next(i for i in json.loads(resp.read())["Items"] if i["meterId"] == d2["meterId"])
    assert again["retailPrice"] == 0.0123
    with urllib.request.urlopen(f"{arm.url}/api/retail/prices") as resp:
        first = json.loads(resp.read())
    assert first["Count"] == 100 and "%24skip=100" in first["NextPageLink"]
    assert raw(arm, "GET", "/api/retail/prices?$filter=" + urllib.parse.quote("armRegionName eq"), token=None)[0] == 400


def test_resource_graph_answers_the_spot_vms_md_eviction_rate_query(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/scenario", {"evictionRates": [{"region": "eastus", "size": "Standard_D2s_v5", "rate": "10-15"}]})
    query = """SpotResources
    | where type =~ 'microsoft.compute/skuspotevictionrate/location'
    | where sku.name in~ ('standard_d2s_v5', 'standard_d4s_v5')
    | where location in~ ('eastus', 'southcentralus')
    | project skuName = tostring(sku.name), location, spotEvictionRate = tostring(properties.evictionRate)
    | order by skuName asc, location asc"""
    resp = compute.send_request(
        HttpRequest(
            "POST",
            "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
            json={"subscriptions": [arm.subscription], "query": query},
        )
    )
    assert resp.status_code == 200
    rows = resp.json()["data"]
    assert [(r["skuName"], r["location"]) for r in rows] == [
        ("standard_d2s_v5", "eastus"),
        ("standard_d2s_v5", "southcentralus"),
        ("standard_d4s_v5", "eastus"),
        ("standard_d4s_v5", "southcentralus"),
    ]
    assert rows[0]["spotEvictionRate"] == "10-15" and rows[1]["spotEvictionRate"] == "0-5"
    bad = compute.send_request(
        HttpRequest(
            "POST",
            "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
            json={"query": "SpotResources | frobnicate"},
        )
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"


def test_placement_scores_follow_free_capacity_and_quota(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/capacity", {"region": "eastus", "zone": "1", "size": "Standard_D2s_v5", "available": 0})
    control(arm, "/capacity", {"region": "eastus", "zone": "2", "size": "Standard_D2s_v5", "available": 3})
    path = f"/subscriptions/{arm.subscription}/providers/Microsoft.Compute/locations/eastus/placementScores/spot/generate?api-version=2025-06-05"
    body = {
        "desiredLocations": ["eastus", "nowhere"],
        "desiredSizes": [{"sku": "Standard_D2s_v5"}],
        "desiredCount": 2,
        "availabilityZones": True,
    }
    resp = compute.send_request(HttpRequest("POST", path, json=body)).json()
    scores = {(s["region"], s.get("availabilityZone")): s["score"] for s in resp["placementScores"]}
    assert (
        scores[("eastus", "1")] == "Low" and scores[("eastus", "2")] == "Medium" and scores[("eastus", "3")] == "High"
    )
    assert scores[("nowhere", None)] == "DataNotFoundOrStale"
    assert resp["desiredCount"] == 2  # the request is echoed
    too_many = {**body, "desiredLocations": [f"r{i}" for i in range(9)]}
    assert compute.send_request(HttpRequest("POST", path, json=too_many)).status_code == 400


def test_logs_query_client_reads_evictions_from_azure_activity(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/evict", {"id": compute.virtual_machines.get(arm.resource_group, "vm1").id})
    query = """AzureActivity
    | where OperationNameValue endswith "/evictSpotVM/action"
    | where ActivityStatusValue in~ ("Success", "Succeeded")
    | project TimeGenerated, _ResourceId, OperationNameValue, ActivityStatusValue, Caller, CorrelationId"""
    result = arm.logs_client().query_workspace("workspace-id", query, timespan=None)
    assert result.status == LogsQueryStatus.SUCCESS
    table = result.tables[0]
    assert table.columns[:2] == ["TimeGenerated", "_ResourceId"]
    assert len(table.rows) == 1 and table.rows[0]["_ResourceId"].endswith("/virtualmachines/vm1")
    assert table.rows[0]["TimeGenerated"].tzinfo is not None  # parsed as a datetime by the SDK
    summary = arm.logs_client().query_workspace(
        "w", "AzureActivity | summarize n = count() by OperationNameValue", timespan=None
    )
    counts = {r["OperationNameValue"]: r["n"] for r in summary.tables[0].rows}
    assert counts["Microsoft.Compute/virtualMachines/write"] == 2


def test_a_query_for_one_resource_answers_as_a_scan_of_the_whole_log_would(arm: ArmEmulator, compute: Any) -> None:
    for name in ("vm1", "vm2"):
        compute.virtual_machines.begin_create_or_update(arm.resource_group, name, vm_body(arm)).result()
    vm1 = compute.virtual_machines.get(arm.resource_group, "vm1").id
    logs = arm.logs_client()

    def both(operation: str) -> tuple[list[Any], list[Any]]:
        match, project = f"OperationNameValue endswith '{operation}'", "project TimeGenerated, ActivityStatusValue"
        indexed = f"AzureActivity | where _ResourceId =~ '{vm1.upper()}' | where {match} | {project}"  # the index
        scanned = f"AzureActivity | where {match} and _ResourceId =~ '{vm1}' | {project}"  # a scan of every row
        answers = [logs.query_workspace("w", q, timespan=None).tables[0].rows for q in (indexed, scanned)]
        return [list(r) for r in answers[0]], [list(r) for r in answers[1]]

    indexed, scanned = both("/write")
    assert indexed and indexed == scanned
    control(arm, "/evict", {"id": vm1})  # records made after the index was built are found too
    indexed, scanned = both("/evictSpotVM/action")
    assert len(indexed) == 1 and indexed == scanned


def test_activity_log_records_reach_azure_activity_after_the_ingestion_delay(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    assert control(arm, "/log-analytics", {"ingestionDelaySeconds": 3600}) == {"ingestionDelaySeconds": 3600}
    control(arm, "/evict", {"id": compute.virtual_machines.get(arm.resource_group, "vm1").id})
    query = 'AzureActivity | where OperationNameValue endswith "/evictSpotVM/action" | project TimeGenerated'
    assert arm.logs_client().query_workspace("w", query, timespan=None).tables[0].rows == []  # not ingested yet
    [record] = [
        r for r in control(arm, "/activity-log")["value"] if r["operation_name"].endswith("/evictSpotVM/action")
    ]
    control(arm, "/clock", {"advance": 3601})
    [row] = arm.logs_client().query_workspace("w", query, timespan=None).tables[0].rows
    assert row["TimeGenerated"].isoformat().replace("+00:00", "Z").startswith(record["timestamp"][:19])


def test_logs_query_errors_are_400_with_the_log_analytics_envelope(arm: ArmEmulator) -> None:
    status, _, body = raw(arm, "POST", "/v1/workspaces/w/query", {"query": "AzureActivity | where ("})
    assert status == 400 and body["error"]["code"] == "BadArgumentError"
    status, _, body = raw(arm, "POST", "/v1/workspaces/w/query", {"query": "NoSuchTable"})
    assert status == 400 and "NoSuchTable" in body["error"]["innererror"]["message"]


def test_usages_report_low_priority_cores_in_use(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(
        arm.resource_group, "vm1", vm_body(arm, size="Standard_D4s_v5")
    ).result()
    usage = {u.name.value: (u.current_value, u.limit) for u in compute.usage.list("eastus")}
    assert usage["lowPriorityCores"] == (4, 100)
    assert usage["standardDSv5Family"][0] == 0  # spot cores do not count against the family
