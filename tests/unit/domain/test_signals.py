"""Every parser, on Microsoft's own samples and on eviction variants of them, and on malformed bodies."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain import signals
from orchestrator.domain.signals import Malformed, Source

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "azure-samples"
SUB = "11111111-1111-1111-1111-111111111111"
VM = f"/subscriptions/{SUB}/resourceGroups/test-RG/providers/Microsoft.Compute/virtualMachines/test-VM"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def activity_alert(operation: str, target: str = VM.lower(), **context: Any) -> dict[str, Any]:
    body = sample("testaction_activitylog-administrative_full.json")
    body["data"]["alertContext"]["operationName"] = operation
    body["data"]["alertContext"]["properties"]["entity"] = target
    body["data"]["essentials"]["alertTargetIDs"] = [target]
    body["data"]["alertContext"].update(context)
    return dict(body)


def health_alert(cause: str, details: str | None) -> dict[str, Any]:
    base = sample("testaction_activitylog-administrative_full.json")
    base["data"]["essentials"]["monitoringService"] = "Resource Health"
    base["data"]["alertContext"] = sample("resourcehealth_alertContext_fragment.json")["alertContext"]
    base["data"]["alertContext"]["properties"]["cause"] = cause
    base["data"]["alertContext"]["properties"]["details"] = details
    return dict(base)


def annotated(annotation: str, cloud: bool = True) -> dict[str, Any]:
    event = sample("healthresources_ResourceAnnotated_cloudevent.json")
    props = event["data"]["resourceInfo"]["properties"]
    props["annotationName"] = annotation
    props["targetResourceId"] = VM
    if cloud:
        return dict(event)
    return {
        "id": event["id"],
        "topic": event["source"],
        "subject": event["subject"],
        "data": event["data"],
        "eventType": event["type"],
        "dataVersion": "1",
        "eventTime": event["time"],
    }


# --- Microsoft's samples as published: none of them is an eviction ------------------------------------------


def test_the_published_activity_log_sample_is_a_user_restart_and_ignored() -> None:
    parsed = signals.parse(sample("testaction_activitylog-administrative_full.json"))
    assert parsed.signals == [] and parsed.ignored[0].reason == "user_action"


def test_the_published_metric_alert_is_resolved_and_even_fired_it_is_not_an_eviction() -> None:
    body = sample("metric-alert_full_sample.json")
    assert signals.parse(body).ignored[0].reason == "resolved_alert"  # the sample is a Resolved alert
    body["data"]["essentials"]["monitorCondition"] = "Fired"
    assert signals.parse(body).ignored[0].reason == "not_an_eviction_alert"


def test_the_published_annotation_event_is_a_user_deallocation() -> None:
    parsed = signals.parse(sample("healthresources_ResourceAnnotated_cloudevent.json"))
    assert parsed.ignored[0].reason == "user_deallocation"


def test_the_published_resource_health_fragment_is_user_initiated() -> None:
    parsed = signals.parse(health_alert("UserInitiated", None))
    assert parsed.ignored[0].reason == "user_action"


# --- evictions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    ["Microsoft.Compute/virtualMachines/evictSpotVM/action", "MICROSOFT.COMPUTE/VIRTUALMACHINES/EVICTSPOTVM/ACTION"],
)
def test_activity_log_eviction_of_a_vm(operation: str) -> None:
    parsed = signals.parse(activity_alert(operation))
    [eviction] = parsed.signals
    assert eviction.vm.id == VM.lower() and eviction.source == Source.ACTIVITY_LOG
    assert eviction.event_id == "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"


def test_activity_log_eviction_of_a_scale_set_instance_uses_the_entity() -> None:
    instance = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3"
    body = activity_alert("Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action", target=instance)
    body["data"]["essentials"]["alertTargetIDs"] = [instance.rsplit("/virtualMachines/", 1)[0]]
    [eviction] = signals.parse(body).signals
    assert (eviction.vm.scale_set, eviction.vm.instance_id) == ("ss", "3")


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        ("Microsoft.Compute/virtualMachines/simulateEviction/action", "user_action"),
        ("Microsoft.Compute/virtualMachines/deallocate/action", "user_action"),
    ],
)
def test_user_actions_in_the_activity_log_are_ignored(operation: str, reason: str) -> None:
    assert signals.parse(activity_alert(operation)).ignored[0].reason == reason


def test_failed_eviction_records_and_resolved_alerts_are_ignored() -> None:
    failed = activity_alert("Microsoft.Compute/virtualMachines/evictSpotVM/action", status="Failed")
    assert signals.parse(failed).ignored[0].reason == "eviction_not_succeeded"
    resolved = activity_alert("Microsoft.Compute/virtualMachines/evictSpotVM/action")
    resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
    assert signals.parse(resolved).ignored[0].reason == "resolved_alert"


def test_resource_health_preemption_is_an_eviction() -> None:
    [eviction] = signals.parse(health_alert("PlatformInitiated", "VirtualMachinePreempted")).signals
    assert eviction.source == Source.RESOURCE_HEALTH
    assert (
        signals.parse(health_alert("PlatformInitiated", "VirtualMachineHostCrashed")).ignored[0].reason
        == "not_an_eviction"
    )


@pytest.mark.parametrize("cloud", [True, False])
def test_event_grid_and_cloud_events_preemption(cloud: bool) -> None:
    [eviction] = signals.parse(annotated("VirtualMachinePreempted", cloud)).signals
    assert eviction.source == (Source.CLOUD_EVENTS if cloud else Source.EVENT_GRID)
    assert eviction.occurred_at == datetime(2023, 7, 24, 19, 20, 37, 924507, tzinfo=UTC)


def test_batches_mix_evictions_and_ignored_events() -> None:
    batch = [
        annotated("VirtualMachinePreempted", False),
        annotated("VirtualMachineRestarted", False),
        annotated("VirtualMachineDeallocationInitiated", False),
    ]
    parsed = signals.parse(batch)
    assert len(parsed.signals) == 1 and [i.reason for i in parsed.ignored] == ["not_an_eviction", "user_deallocation"]


def test_event_grid_subscription_validation_handshake() -> None:
    event = {
        "id": "1",
        "topic": "t",
        "subject": "",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "512d38b6"},
        "dataVersion": "2",
        "eventTime": "2026-01-01T00:00:00Z",
    }
    assert signals.parse([event]).validation_response == {"validationResponse": "512d38b6"}


def test_agent_preempt_notice() -> None:
    notice = {
        "schema": "respot.preempt/v1",
        "eventType": "Preempt",
        "eventId": "A123",
        "resourceId": VM,
        "notBefore": "Tue, 16 Mar 2021 00:58:46 GMT",
    }
    [eviction] = signals.parse(notice).signals
    assert eviction.source == Source.AGENT and eviction.event_id == "A123"
    assert eviction.occurred_at == datetime(2021, 3, 16, 0, 58, 46, tzinfo=UTC)  # NotBefore, RFC 1123 (IMDS)
    assert eviction.is_notice
    started = {**notice, "notBefore": "", "observedAt": "2021-03-16T00:58:50Z"}  # NotBefore empties once started
    assert signals.parse(started).signals[0].occurred_at == datetime(2021, 3, 16, 0, 58, 50, tzinfo=UTC)
    assert signals.parse({**notice, "eventType": "Reboot"}).ignored[0].reason == "not_preempt"


def test_a_signal_without_a_time_is_malformed_and_a_long_event_id_is_digested() -> None:
    body = activity_alert("Microsoft.Compute/virtualMachines/evictSpotVM/action")
    body["data"]["alertContext"]["eventTimestamp"] = "yesterday"
    body["data"]["essentials"]["firedDateTime"] = None
    with pytest.raises(Malformed, match="time"):
        signals.parse(body)
    body = activity_alert("Microsoft.Compute/virtualMachines/evictSpotVM/action", eventDataId="x" * 5000)
    [signal] = signals.parse(body).signals
    assert signal.event_id.startswith("sha256:") and len(signal.event_id) < 80


@pytest.mark.parametrize("raw", [b'"\\ud800evt"', b'"\xed\xa0\x80evt"'], ids=["escaped", "utf-8 bytes"])
def test_an_event_id_with_a_lone_surrogate_is_digested_not_a_crash(raw: bytes) -> None:
    # Both spellings reach the parser: json.loads decodes bytes with surrogatepass (found by tests/soak fuzzing).
    event = annotated(signals.PREEMPTED, cloud=False) | {"id": json.loads(raw)}
    [signal] = signals.parse(event).signals
    assert signal.event_id.startswith("sha256:")
    assert signal.event_id == signals.parse(dict(event)).signals[0].event_id  # stable, so duplicates still match


def test_one_bad_event_of_a_batch_is_ignored_with_its_index_and_the_others_count() -> None:
    good = annotated(signals.PREEMPTED, cloud=False)
    parsed = signals.parse([good, {**good, "data": 5}, [[{"eventType": "x"}]], good | {"id": "second"}])
    assert len(parsed.signals) == 2
    assert [(i.reason, i.detail.split(":")[0]) for i in parsed.ignored] == [
        ("malformed", "event 1"),
        ("malformed", "event 2"),
    ]


# --- crafted and malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vm",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/../../../other",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/x",
        "",
    ],
)
def test_crafted_resource_ids_are_ignored_not_followed(target: str) -> None:
    parsed = signals.parse(activity_alert("Microsoft.Compute/virtualMachines/evictSpotVM/action", target=target))
    assert parsed.signals == [] and parsed.ignored[0].reason == "invalid_resource_id"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"schemaId": "azureMonitorCommonAlertSchema"}, "data must be an object"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "x"}}, "data.essentials"),
        ({"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {}}, "validationCode"),
        ({"specversion": "0.3", "type": "x"}, "specversion"),
        ({"specversion": "1.0", "type": signals.ANNOTATED, "data": {"resourceInfo": []}}, "data.resourceInfo"),
        ([], "empty array"),
        ("a string", "JSON object or an array"),
        ({"schema": "respot.preempt/v1", "eventType": "Preempt"}, "eventId"),
    ],
)
def test_malformed_bodies_name_the_problem(body: Any, problem: str) -> None:
    with pytest.raises(Malformed, match=problem):
        signals.parse(copy.deepcopy(body))


def test_unknown_well_formed_json_is_ignored_with_a_reason() -> None:
    assert signals.parse({"hello": "world"}).ignored[0].reason == "unknown_payload"
