"""Alerts and events leaving the emulator: Azure Monitor action-group webhooks and Event Grid deliveries.

Action groups are configured per scenario or through the control API. Each one names a webhook URL, a kind and
a delay (Azure delivers Activity Log alerts minutes after the event; the delay is simulated time):
- ``activityLogAlert``: an Activity Log alert rule on Administrative records whose operation ends with one of
  ``operations`` (default ``/evictSpotVM/action``), posted in the common alert schema;
- ``resourceHealthAlert``: a Resource Health alert on the ``annotations`` (default VirtualMachinePreempted);
- ``eventGrid`` / ``cloudEvents``: the HealthResources ``ResourceAnnotated`` system-topic event, in the Event
  Grid schema (an array) or as a CloudEvents 1.0 structured event.
Deliveries run on worker threads, outside the emulator's lock, and are retried a few times on failure.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from localcloud.arm.backend import Backend
from localcloud.arm.models import ActivityRecord, Json, Vm
from localcloud.arm.views import iso

log = logging.getLogger(__name__)

KINDS = ("activityLogAlert", "resourceHealthAlert", "eventGrid", "cloudEvents")
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)  # real seconds between delivery attempts

_ANNOTATIONS: dict[str, tuple[str, str, str, str]] = {  # name -> (reason, summary, context, category)
    "VirtualMachinePreempted": (
        "Preempted",
        (
            "If you're running a Spot/Low Priority Virtual Machine, it has been preempted either due to capacity "
            "recall by the platform or due to billing-based eviction where cost exceeded user defined thresholds."
        ),
        "Platform Initiated",
        "Unplanned",
    ),
    "VirtualMachineDeallocationInitiated": (
        "Stopping and deallocating",
        "This virtual machine is stopped and deallocated as requested by an authorized user or process.",
        "Customer Initiated",
        "Not Applicable",
    ),
}


@dataclass
class ActionGroup:
    name: str
    url: str
    kind: str = "activityLogAlert"
    delay_seconds: float = 60.0
    operations: list[str] = field(default_factory=lambda: ["/evictSpotVM/action"])
    annotations: list[str] = field(default_factory=lambda: ["VirtualMachinePreempted"])

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")


class Notifier:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.groups: list[ActionGroup] = []
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._in_flight = 0  # deliveries handed to the pool and not yet finished (retries included)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="localcloud-webhook")
        backend.listeners.append(self.on_activity)
        backend.annotation_listeners.append(self.on_annotation)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def in_flight(self) -> int:
        """Deliveries under way: posting, or waiting in real time to retry (a stepped clock must not jump then)."""
        with self._lock:
            return self._in_flight

    def describe(self) -> list[Json]:
        return [asdict(g) for g in self.groups]

    def on_activity(self, rec: ActivityRecord) -> None:
        for group in self.groups:
            if group.kind != "activityLogAlert" or rec.status != "Succeeded":
                continue
            if any(rec.operation_name.lower().endswith(op.lower()) for op in group.operations):
                self._later(group, activity_alert(group, rec))

    def on_annotation(self, vm: Vm, annotation: str, when: datetime) -> None:
        for group in self.groups:
            if group.kind == "activityLogAlert" or annotation not in group.annotations:
                continue
            if group.kind == "resourceHealthAlert":
                payload: Any = health_alert(group, vm, annotation, when)
            elif group.kind == "eventGrid":
                payload = [annotated_event(vm, annotation, when, cloud=False)]
            else:
                payload = annotated_event(vm, annotation, when, cloud=True)
            self._later(group, payload)

    def _later(self, group: ActionGroup, payload: Any) -> None:
        def send() -> None:
            with self._lock:
                self._in_flight += 1
            try:
                self._pool.submit(self._counted, group, payload)
            except RuntimeError:  # the pool is shut down: the emulator is stopping
                self._done()

        self.backend.schedule(group.delay_seconds, f"notify {group.name}", send)

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _counted(self, group: ActionGroup, payload: Any) -> None:
        try:
            self._deliver(group, payload)
        finally:
            self._done()

    def _deliver(self, group: ActionGroup, payload: Any) -> None:
        data = json.dumps(payload).encode()
        content_type = (
            "application/cloudevents+json; charset=utf-8" if group.kind == "cloudEvents" else "application/json"
        )
        headers = {"Content-Type": content_type}
        if group.kind in ("eventGrid", "cloudEvents"):
            headers["aeg-event-type"] = "Notification"
        outcome: dict[str, Any] = {
            "group": group.name,
            "kind": group.kind,
            "url": group.url,
            "attempts": 0,
            "status": None,
        }
        for delay in (0.0, *RETRY_DELAYS):
            time.sleep(delay)  # a real pause between delivery retries, not a wait for state
            outcome["attempts"] += 1
            try:
                req = urllib.request.Request(group.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=10) as resp:
                    outcome["status"] = resp.status
            except urllib.error.HTTPError as exc:
                outcome["status"] = exc.code
            except OSError as exc:
                outcome["status"], outcome["error"] = None, str(exc)
            if outcome["status"] is not None and 200 <= outcome["status"] < 300:
                break
            if outcome["status"] is not None and 400 <= outcome["status"] < 500 and outcome["status"] not in (408, 429):
                break  # the receiver refused the payload: retrying will not change its mind
        outcome["time"] = iso(self.backend.now())
        outcome["payload"] = payload
        with self._lock:
            self.deliveries.append(outcome)
        log.info(
            "delivered %s to %s: %s after %d attempt(s)",
            group.kind,
            group.url,
            outcome["status"],
            outcome["attempts"],
        )


def _essentials(group: ActionGroup, target: str, *, service: str, when: datetime, sub: str) -> Json:
    rule = f"/subscriptions/{sub}/resourceGroups/respot/providers/microsoft.insights/activityLogAlerts/{group.name}"
    return {
        "alertId": f"{rule}/alerts/{uuid.uuid4()}",
        "alertRule": group.name,
        "severity": "Sev4",
        "signalType": "Activity Log",
        "monitorCondition": "Fired",
        "monitoringService": service,
        "alertTargetIDs": [target.lower()],
        "configurationItems": [target.rsplit("/", 1)[-1]],
        "originAlertId": f"{uuid.uuid4()}_{uuid.uuid4().hex}",
        "firedDateTime": iso(when),
        "description": f"localcloud alert rule {group.name}",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }


def activity_alert(group: ActionGroup, rec: ActivityRecord) -> Json:
    """Common alert schema, Activity Log - <category> (testaction_activitylog-administrative_full.json; an
    Autoscale record as the "Activity Log - Autoscale" sample of alerts-payload-samples.md)."""
    context = {
        "authorization": {"action": rec.operation_name, "scope": rec.resource_id},
        "channels": "Operation",
        "claims": "{}",
        "caller": rec.caller,
        "correlationId": rec.correlation_id,
        "eventSource": rec.category,
        "eventTimestamp": iso(rec.timestamp),
        "eventDataId": rec.event_data_id,
        "level": rec.level,
        "operationName": rec.operation_name,
        "operationId": rec.correlation_id,
        "properties": {
            "eventCategory": rec.category,
            "entity": rec.properties.get("entity", rec.resource_id),
            "message": rec.operation_name,
            "hierarchy": rec.subscription,
            **{k: v for k, v in rec.properties.items() if k not in ("entity", "message", "eventCategory")},
        },
        "status": rec.status,
        "subStatus": rec.sub_status,
        "submissionTimestamp": iso(rec.timestamp),
        "Activity Log Event Description": "",
    }
    essentials = _essentials(
        group,
        rec.resource_id,
        service=f"Activity Log - {rec.category}",
        when=rec.timestamp,
        sub=rec.subscription,
    )
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": essentials, "alertContext": context, "customProperties": None},
    }


def health_alert(group: ActionGroup, vm: Vm, annotation: str, when: datetime) -> Json:
    """Common alert schema, Resource Health (resourcehealth_alertContext_fragment.json)."""
    _, summary, ctx, _ = _ANNOTATIONS.get(annotation, (annotation, annotation, "Unknown", "Unknown"))
    context = {
        "channels": "Admin, Operation",
        "correlationId": str(uuid.uuid4()),
        "eventSource": "ResourceHealth",
        "eventTimestamp": iso(when),
        "eventDataId": str(uuid.uuid4()),
        "level": "Informational",
        "operationName": "Microsoft.Resourcehealth/healthevent/Activated/action",
        "operationId": str(uuid.uuid4()),
        "properties": {
            "title": summary,
            "details": annotation,
            "currentHealthStatus": "Unavailable",
            "previousHealthStatus": "Available",
            "type": "Downtime",
            "cause": "PlatformInitiated" if ctx == "Platform Initiated" else "UserInitiated",
        },
        "status": "Active",
        "submissionTimestamp": iso(when),
    }
    essentials = _essentials(group, vm.id, service="Resource Health", when=when, sub=vm.subscription)
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": essentials, "alertContext": context, "customProperties": None},
    }


def annotated_event(vm: Vm, annotation: str, when: datetime, *, cloud: bool) -> Json:
    """HealthResources ResourceAnnotated (event-schema-health-resources.md), Event Grid or CloudEvents schema."""
    reason, summary, ctx, category = _ANNOTATIONS.get(annotation, (annotation, annotation, "Unknown", "Unknown"))
    event_id = str(uuid.uuid4())
    target_type = (
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
        if vm.scale_set
        else "Microsoft.Compute/virtualMachines"
    )
    data = {
        "resourceInfo": {
            "id": f"{vm.id}/providers/Microsoft.ResourceHealth/resourceAnnotations/{event_id}",
            "name": event_id,
            "type": "Microsoft.ResourceHealth/resourceAnnotations",
            "properties": {
                "targetResourceId": vm.id,
                "targetResourceType": target_type,
                "occurredTime": iso(when),
                "annotationName": annotation,
                "reason": reason,
                "summary": summary,
                "context": ctx,
                "category": category,
            },
        },
        "operationalInfo": {"resourceEventTime": iso(when)},
        "apiVersion": "2022-08-01",
    }
    event_type = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
    source = f"/subscriptions/{vm.subscription}"
    if cloud:
        return {
            "id": event_id,
            "source": source,
            "subject": vm.id,
            "data": data,
            "type": event_type,
            "specversion": "1.0",
            "time": iso(when),
        }
    return {
        "id": event_id,
        "topic": source,
        "subject": vm.id,
        "data": data,
        "eventType": event_type,
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": iso(when),
    }
