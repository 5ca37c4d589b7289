"""The deployment's wiring, read from infra/*.bicep, host.json and the app itself: what the Bicep sets is what respot
reads, the signals reach a route that exists with the right auth level and answers Event Grid's handshake, every
write role stays inside a resource group, and the task hub names agree."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func

from orchestrator.app.intake import handle
from orchestrator.settings import Settings
from tests.conftest import REPO
from tests.unit.fakes import settings
from tests.unit.infra import bicep
from tests.unit.test_function_app import functions

APP = bicep.INFRA / "modules" / "app.bicep"
SIGNALS = bicep.INFRA / "modules" / "signals.bicep"
SCHEDULER = bicep.INFRA / "modules" / "scheduler.bicep"
HOST = json.loads((REPO / "host.json").read_text())
READ_ROLES = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "e82342c9-ac7f-422b-af64-e426d2e12b2d": "Compute Recommendations Role",
}
# The built-in roles respot is given, by id (Microsoft's built-in roles pages), and the name beside each in the Bicep.
ROLES = READ_ROLES | {
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
    "73c42c96-874c-492b-b04d-ab87d138a893": "Log Analytics Reader",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": "Durable Task Data Contributor",
}


def respot_settings() -> dict[str, Any]:
    return dict(bicep.variable(bicep.MAIN, "respotSettings"))


def test_every_setting_respot_reads_is_an_app_setting_and_nothing_else_is_named_so() -> None:
    read = {f"RESPOT_{name.upper()}" for name in Settings.model_fields}
    set_by_bicep = set(respot_settings())
    assert read - set_by_bicep == set(), "settings.py reads these, main.bicep's respotSettings does not set them"
    assert set_by_bicep - read == set(), "main.bicep sets these, settings.py reads no such field"
    assert bicep.body(bicep.modules()["app"])["params"]["respotSettings"] == "respotSettings"
    properties = bicep.body(bicep.resources(APP, "Microsoft.Web/sites/config")["appSettings"])["properties"]
    assert {"hostSettings", "backendSettings", "respotSettings"} <= bicep.references(properties)


def test_the_host_settings_cover_the_identity_the_storage_and_the_durable_connection() -> None:
    host = set(bicep.variable(APP, "hostSettings"))
    # DefaultAzureCredential picks the user-assigned identity by AZURE_CLIENT_ID (orchestrator/adapters/credentials.py).
    assert {"AZURE_CLIENT_ID", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId"} <= host
    assert "AzureWebJobsStorage__blobServiceUri" in host and "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" in host
    provider = HOST["extensions"]["durableTask"]["storageProvider"]
    assert provider["type"] == "azureManaged"
    assert provider["connectionStringName"] in bicep.variable(APP, "schedulerSettings")
    overrides = bicep.variable(APP, "azureStorageSettings")
    assert overrides["AzureFunctionsJobHost__extensions__durableTask__storageProvider__type"] == "AzureStorage"
    # On Flex Consumption the runtime is functionAppConfig.runtime; these two as app settings are refused there.
    every = host | set(bicep.variable(APP, "schedulerSettings")) | set(overrides) | set(respot_settings())
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & every


def test_the_bicep_defaults_are_settings_respot_accepts() -> None:
    params = bicep.parse(bicep.MAIN)["parameters"]
    env: dict[str, str] = {}
    for key, value in respot_settings().items():
        if isinstance(value, dict) and value.get("function", {}).get("type") == "string":
            value = value["function"]["parameters"]["value_to_convert"]
        if isinstance(value, str) and value in params:
            default = params[value]["default"]
            value = str(default).lower() if isinstance(default, bool) else str(default if default is not None else "")
        elif not isinstance(value, str):
            value = {"RESPOT_SUBSCRIPTIONS": "11111111-2222-3333-4444-555555555555"}.get(key, "")
        env[key] = value
    env["RESPOT_RESOURCE_GROUPS"] = "rg-batch"
    fields = {key.removeprefix("RESPOT_").lower(): value for key, value in env.items()}
    got = Settings(**fields)
    assert got.credential == "default" and got.arm_endpoint == "https://management.azure.com"
    assert got.sweep_schedule == "0 */5 * * * *" and got.retry_cap_seconds == 900


def test_the_action_group_and_event_grid_call_the_alerts_route_with_a_function_key() -> None:
    signals = bicep.parse(SIGNALS)
    path = signals["parameters"]["alertsPath"]["default"]
    prefix = HOST["extensions"]["http"]["routePrefix"]
    assert path == f"/{prefix}/alerts"
    url = json.dumps(bicep.variable(SIGNALS, "alertsUrl"))
    assert "${alertsPath}?code=${functionKey}" in url
    key = json.dumps(bicep.variable(SIGNALS, "functionKey"))
    assert "listKeys" in key and "Microsoft.Web/sites/host" in key and "functionKeys" in key
    group = bicep.body(bicep.resources(SIGNALS, "Microsoft.Insights/actionGroups")["actionGroup"])
    (receiver,) = group["properties"]["webhookReceivers"]
    assert receiver["serviceUri"] == "alertsUrl" and receiver["useCommonAlertSchema"] is True
    annotated = bicep.body(bicep.resources(SIGNALS, "Microsoft.EventGrid/systemTopics/eventSubscriptions")["annotated"])
    props = annotated["properties"]
    assert props["destination"]["properties"]["endpointUrl"] == "alertsUrl"
    assert props["eventDeliverySchema"] == "EventGridSchema"
    assert props["filter"]["includedEventTypes"] == [
        "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
    ]
    topic = bicep.body(bicep.resources(SIGNALS, "Microsoft.EventGrid/systemTopics")["healthTopic"])
    assert topic["properties"]["topicType"] == "Microsoft.ResourceNotifications.HealthResources"


def test_the_alerts_route_exists_as_a_post_with_function_auth_level() -> None:
    posts = [
        f
        for f in functions().values()
        if f.get_trigger().type == "httpTrigger"
        and f.get_trigger().route == "alerts"
        and "POST" in [getattr(m, "value", m) for m in f.get_trigger().methods]
    ]
    assert len(posts) == 1, "one POST /api/alerts function"
    assert str(posts[0].get_trigger().auth_level).lower().endswith("function")


def test_the_alerts_route_answers_the_event_grid_validation_handshake() -> None:
    body = [
        {
            "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
            "topic": "/subscriptions/11111111-2222-3333-4444-555555555555",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-12-01T10:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    req = func.HttpRequest(method="POST", url="http://localhost/api/alerts", body=json.dumps(body).encode())
    resp = asyncio.run(handle(req, client=None, settings=settings()))  # type: ignore[arg-type]  # no signal: never used
    assert resp.status_code == 200
    assert json.loads(resp.get_body()) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_the_eviction_alert_rules_watch_both_evict_operations_and_platform_health_events() -> None:
    operations = {e["operation"] for e in bicep.variable(SIGNALS, "evictions")}
    assert operations == {
        "Microsoft.Compute/virtualMachines/evictSpotVM/action",
        "Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action",
    }
    health = json.dumps(bicep.body(bicep.resources(SIGNALS)["preemptedAlert"]))
    assert '"ResourceHealth"' in health and '"PlatformInitiated"' in health


def test_no_write_role_is_assigned_at_subscription_scope() -> None:
    for path in bicep.files():
        if bicep.target_scope(path) != "subscription":
            continue
        params = set(bicep.parse(path).get("parameters", {}))
        roles = bicep.role_vars(path)
        for name, assignment in bicep.resources(path, "Microsoft.Authorization/roleAssignments").items():
            direct = bicep.references(bicep.body(assignment)["properties"]["roleDefinitionId"])
            direct |= {assignment["config"].get("loop_type", {}).get("detail", {}).get("array_name", "")}
            assert not direct & params, f"{path.name}:{name} takes its role from a parameter"
            used = bicep.expand(path, direct)
            granted = {roles[v][0] for v in used if v in roles}
            assert granted, f"{path.name}:{name}: no role id found"
            assert granted <= set(READ_ROLES), f"{path.name}:{name} grants write roles: {granted - set(READ_ROLES)}"
    assert bicep.resources(bicep.MAIN, "Microsoft.Authorization/roleAssignments") == {}


def test_every_module_that_grants_a_write_role_is_scoped_to_a_resource_group() -> None:
    for name, module in bicep.modules().items():
        path = bicep.INFRA / module["detail"]["path"]
        config = bicep.body(module)
        writes = (
            bicep.resources(path, "Microsoft.Authorization/roleAssignments")
            and bicep.target_scope(path) != "subscription"
        )
        if not writes:
            continue
        scope = config.get("scope")
        assert scope is not None, f"module {name} would deploy {path.name} to the subscription"
        assert scope == "rg" or scope.get("function", {}).get("type") == "resource_group", name


def test_every_role_assignment_is_named_by_scope_principal_and_role_for_a_service_principal() -> None:
    for path in bicep.files():
        for name, assignment in bicep.resources(path, "Microsoft.Authorization/roleAssignments").items():
            config = bicep.body(assignment)
            guid = config["name"]["function"]
            assert guid["type"] == "guid" and set(guid["parameters"]) == {
                "base_string",
                "extra_string_1",
                "extra_string_2",
            }
            assert config["properties"]["principalType"] == "ServicePrincipal", f"{path.name}:{name}"


def test_every_role_id_is_the_built_in_role_its_comment_names() -> None:
    seen = {}
    for path in bicep.files():
        for var, (guid, role) in bicep.role_vars(path).items():
            assert ROLES.get(guid) == role, f"{path.name}: {var} = {guid} is not '{role}'"
            seen[guid] = role
    assert set(seen) == set(ROLES), f"roles listed here but not granted: {set(ROLES) - set(seen)}"


def test_the_task_hub_in_host_json_is_the_one_the_bicep_creates() -> None:
    hub = HOST["extensions"]["durableTask"]["hubName"]
    assert bicep.variable(bicep.MAIN, "taskHubName") == hub
    assert bicep.body(bicep.modules()["scheduler"])["params"]["taskHubName"] == "taskHubName"
    created = bicep.body(bicep.resources(SCHEDULER, "Microsoft.DurableTask/schedulers/taskHubs")["taskHub"])
    assert created["name"] == "taskHubName"


def test_the_scheduler_allowlist_cannot_be_empty() -> None:
    allowlist = bicep.parse(SCHEDULER)["parameters"]["ipAllowlist"]
    assert {"type": "min_length", "argument": 1} in allowlist["decorators"] and allowlist["default"]
    main = bicep.parse(bicep.MAIN)["parameters"]["schedulerIpAllowlist"]
    assert {"type": "min_length", "argument": 1} in main["decorators"] and main["default"]
