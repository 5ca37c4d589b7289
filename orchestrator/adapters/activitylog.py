"""The ActivityLog port over azure-monitor-query: did a person deallocate, delete or power off the VM?"""

from __future__ import annotations

from functools import lru_cache

from azure.monitor.query import LogsQueryClient, LogsQueryStatus

from orchestrator.adapters.azure import LoopbackHttpPolicy, arm_call, credential
from orchestrator.domain.resources import VmRef
from orchestrator.settings import Settings

PLATFORM_CALLERS = ("Microsoft.Compute",)  # NOT CONFIRMED as the caller of platform records (azure-facts.md)
USER_OPERATIONS = {"/deallocate/action": "deallocate", "/delete": "delete", "/poweroff/action": "powerOff"}


class NoActivityLog:
    """No workspace configured: respot cannot see user actions, and says nothing about them."""

    def last_user_action(self, vm: VmRef, since: str) -> str | None:
        return None


class LogAnalyticsActivityLog:
    def __init__(self, settings: Settings) -> None:
        self.workspace = settings.log_workspace_id
        self.client = LogsQueryClient(
            credential(settings),
            endpoint=settings.logs_endpoint.rstrip("/") + "/v1",
            per_call_policies=[LoopbackHttpPolicy()],
            retry_total=0,
        )

    def last_user_action(self, vm: VmRef, since: str) -> str | None:
        # vm.id is validated (orchestrator.domain.resources): no quote can reach the query.
        ops = " or ".join(f"OperationNameValue endswith '{suffix}'" for suffix in USER_OPERATIONS)
        callers = ", ".join(f"'{c}'" for c in PLATFORM_CALLERS)
        query = (
            f"AzureActivity | where _ResourceId =~ '{vm.id}' | where {ops} "
            f"| where Caller !in ({callers}) | where TimeGenerated > datetime({since}) "
            "| top 1 by TimeGenerated desc | project OperationNameValue"
        )
        result = arm_call(lambda: self.client.query_workspace(self.workspace, query, timespan=None))
        if result.status != LogsQueryStatus.SUCCESS or not result.tables or not result.tables[0].rows:
            return None
        operation = str(result.tables[0].rows[0][0]).lower()
        return next((name for suffix, name in USER_OPERATIONS.items() if operation.endswith(suffix)), None)


@lru_cache(maxsize=1)
def activity_log_for(settings: Settings) -> NoActivityLog | LogAnalyticsActivityLog:
    return LogAnalyticsActivityLog(settings) if settings.log_workspace_id else NoActivityLog()
