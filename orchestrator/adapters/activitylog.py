"""The ActivityLog port over azure-monitor-query: what a person did to a VM, and the platform's eviction record.

Queries are built only from validated values: the resource id comes from :func:`orchestrator.domain.scope.parse_vm_id`
(lower-case letters, digits and ``/._-()``, so no quote can reach the KQL) and the time is a datetime this module
formats itself; no payload text is ever interpolated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from azure.monitor.query import LogsQueryClient, LogsQueryStatus

from orchestrator.adapters import arm
from orchestrator.adapters.credentials import LoopbackHttpPolicy, credential
from orchestrator.domain.classify import UserAction
from orchestrator.domain.models import VmRef, parse_iso
from orchestrator.settings import Settings

PLATFORM_CALLERS = ("Microsoft.Compute",)  # NOT CONFIRMED as the caller of platform records (azure-facts.md)
USER_OPERATIONS = {
    "/deallocate/action": UserAction.DEALLOCATE,
    "/delete": UserAction.DELETE,
    "/poweroff/action": UserAction.POWER_OFF,
}


class NoActivityLog:
    """No workspace configured: respot cannot see user actions or eviction records, and says nothing about them."""

    def last_user_action(self, vm: VmRef, since: datetime) -> UserAction | None:
        return None

    def eviction_record(self, vm: VmRef, since: datetime) -> datetime | None:
        return None


def _kql_time(when: datetime) -> str:
    return "datetime(" + when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + ")"


def _targets(vm: VmRef) -> str:
    ids = [vm.id] + ([vm.scale_set_id] if vm.scale_set_id else [])
    return " or ".join(f"_ResourceId =~ '{i}'" for i in ids)


class LogAnalyticsActivityLog:
    def __init__(self, settings: Settings) -> None:
        self.workspace = settings.log_workspace_id
        self.client = LogsQueryClient(
            credential(settings),
            endpoint=settings.logs_endpoint + "/v1",
            per_call_policies=[LoopbackHttpPolicy()],
            retry_total=0,
        )

    def _first(self, query: str) -> object | None:
        result = arm.read(lambda: self.client.query_workspace(self.workspace, query, timespan=None))
        if result.status != LogsQueryStatus.SUCCESS or not result.tables or not result.tables[0].rows:
            return None
        first: object = result.tables[0].rows[0][0]
        return first

    def last_user_action(self, vm: VmRef, since: datetime) -> UserAction | None:
        ops = " or ".join(f"OperationNameValue endswith '{suffix}'" for suffix in USER_OPERATIONS)
        callers = ", ".join(f"'{c}'" for c in PLATFORM_CALLERS)
        found = self._first(
            f"AzureActivity | where _ResourceId =~ '{vm.id}' | where {ops} "
            f"| where Caller !in ({callers}) | where TimeGenerated > {_kql_time(since)} "
            "| top 1 by TimeGenerated desc | project OperationNameValue"
        )
        operation = str(found or "").lower()
        return next((name for suffix, name in USER_OPERATIONS.items() if operation.endswith(suffix)), None)

    def eviction_record(self, vm: VmRef, since: datetime) -> datetime | None:
        found = self._first(
            f"AzureActivity | where {_targets(vm)} | where OperationNameValue endswith '/evictSpotVM/action' "
            f"| where ActivityStatusValue in~ ('Success', 'Succeeded') | where TimeGenerated > {_kql_time(since)} "
            "| top 1 by TimeGenerated desc | project TimeGenerated"
        )
        if isinstance(found, datetime):
            return found if found.tzinfo else found.replace(tzinfo=UTC)
        return parse_iso(found, "TimeGenerated") if isinstance(found, str) else None


@lru_cache(maxsize=1)
def activity_log_for(settings: Settings) -> NoActivityLog | LogAnalyticsActivityLog:
    return LogAnalyticsActivityLog(settings) if settings.log_workspace_id else NoActivityLog()
