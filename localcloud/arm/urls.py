"""Every route the emulator serves: Azure's paths, the swagger operationId, ARM bucket and Compute policy.

Data planes that are not ARM's host get a path prefix on the one port: ``/v1`` (Log Analytics), ``/api/retail``
(Retail Prices), ``/_imds/<vm id>`` (IMDS), ``/keyvault/<vault>`` (Key Vault, https only for the SDK).
"""

from __future__ import annotations

from localcloud.arm import (
    control,
    imds,
    insights,
    keyvault,
    loganalytics,
    placement,
    resourcegraph,
    resourceskus,
    responses,
    retailprices,
)
from localcloud.arm.pipeline import Route

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
CRP = r"/providers/Microsoft\.Compute"
VM = RG + CRP + r"/virtualMachines/(?P<name>[^/]+)"
VMSS = RG + CRP + r"/virtualMachineScaleSets/(?P<ss>[^/]+)"
INSTANCE = VMSS + r"/virtualMachines/(?P<iid>[^/]+)"
LOC = SUB + CRP + r"/locations/(?P<loc>[^/]+)"
AUTOSCALE = r"/providers/Microsoft\.Insights/autoscalesettings"


def routes(services: control.Services) -> list[Route]:
    r = responses
    return [
        # virtual machines
        Route("PUT", VM, "VirtualMachines_CreateOrUpdate", r.vm_put, "writes", "PutVM"),
        Route("PATCH", VM, "VirtualMachines_Update", r.vm_patch, "writes", "UpdateVM"),
        Route("GET", VM, "VirtualMachines_Get", r.vm_get, "reads", "LowCostGet"),
        Route("DELETE", VM, "VirtualMachines_Delete", r.vm_delete, "deletes", "DeleteVM"),
        Route(
            "GET",
            VM + "/instanceView",
            "VirtualMachines_InstanceView",
            r.vm_instance_view,
            "reads",
            "LowCostGet",
        ),
        Route("POST", VM + "/start", "VirtualMachines_Start", r.vm_start, "writes", "UpdateVM"),
        Route("POST", VM + "/deallocate", "VirtualMachines_Deallocate", r.vm_deallocate, "writes", "DeleteVM"),
        Route("POST", VM + "/powerOff", "VirtualMachines_PowerOff", r.vm_power_off, "writes", "UpdateVM"),
        Route(
            "POST",
            VM + "/simulateEviction",
            "VirtualMachines_SimulateEviction",
            r.vm_simulate_eviction,
            "writes",
            "DeleteVM",
        ),
        Route("GET", RG + CRP + "/virtualMachines", "VirtualMachines_List", r.vm_list, "reads", "HighCostGet"),
        Route(
            "GET",
            SUB + CRP + "/virtualMachines",
            "VirtualMachines_ListAll",
            r.vm_list_all,
            "reads",
            "HighCostGet",
        ),
        Route(
            "GET",
            LOC + "/virtualMachines",
            "VirtualMachines_ListByLocation",
            r.vm_list_by_location,
            "reads",
            "HighCostGet",
        ),
        Route(
            "GET",
            LOC + r"/operations/(?P<op>[^/]+)",
            "Operations_Get",
            r.operation_status,
            "reads",
            "GetOperation",
        ),
        # scale sets
        Route("PUT", VMSS, "VirtualMachineScaleSets_CreateOrUpdate", r.vmss_put, "writes", "VMScaleSetPut"),
        Route("PATCH", VMSS, "VirtualMachineScaleSets_Update", r.vmss_patch, "writes", "VMScaleSetUpdate"),
        Route("GET", VMSS, "VirtualMachineScaleSets_Get", r.vmss_get, "reads", "VMScaleSetLowCostGet"),
        Route(
            "GET",
            RG + CRP + "/virtualMachineScaleSets",
            "VirtualMachineScaleSets_List",
            r.vmss_list,
            "reads",
            "VMScaleSetHighCostGet",
        ),
        Route(
            "GET",
            SUB + CRP + "/virtualMachineScaleSets",
            "VirtualMachineScaleSets_ListAll",
            r.vmss_list_all,
            "reads",
            "VMScaleSetHighCostGet",
        ),
        Route(
            "GET",
            VMSS + "/virtualMachines",
            "VirtualMachineScaleSetVMs_List",
            r.vmss_vm_list,
            "reads",
            "VMScaleSetHighCostGet",
        ),
        Route("GET", INSTANCE, "VirtualMachineScaleSetVMs_Get", r.vmss_vm_get, "reads", "VMScaleSetLowCostGet"),
        Route(
            "DELETE",
            INSTANCE,
            "VirtualMachineScaleSetVMs_Delete",
            r.vmss_vm_delete,
            "deletes",
            "VMScaleSetDelete",
        ),
        Route(
            "GET",
            INSTANCE + "/instanceView",
            "VirtualMachineScaleSetVMs_GetInstanceView",
            r.vmss_vm_instance_view,
            "reads",
            "VMScaleSetLowCostGet",
        ),
        Route(
            "POST",
            INSTANCE + "/start",
            "VirtualMachineScaleSetVMs_Start",
            r.vmss_vm_start,
            "writes",
            "VMScaleSetUpdate",
        ),
        Route(
            "POST",
            INSTANCE + "/deallocate",
            "VirtualMachineScaleSetVMs_Deallocate",
            r.vmss_vm_deallocate,
            "writes",
            "VMScaleSetDelete",
        ),
        Route(
            "POST",
            INSTANCE + "/powerOff",
            "VirtualMachineScaleSetVMs_PowerOff",
            r.vmss_vm_power_off,
            "writes",
            "VMScaleSetUpdate",
        ),
        Route(
            "POST",
            INSTANCE + "/simulateEviction",
            "VirtualMachineScaleSetVMs_SimulateEviction",
            r.vmss_vm_simulate_eviction,
            "writes",
            "VMScaleSetDelete",
        ),
        # autoscale settings (Microsoft.Insights; the SDK spells the group "resourcegroups")
        Route(
            "PUT",
            RG + AUTOSCALE + r"/(?P<name>[^/]+)",
            "AutoscaleSettings_CreateOrUpdate",
            insights.autoscale_put,
            "writes",
        ),
        Route(
            "PATCH",
            RG + AUTOSCALE + r"/(?P<name>[^/]+)",
            "AutoscaleSettings_Update",
            insights.autoscale_patch,
            "writes",
        ),
        Route("GET", RG + AUTOSCALE + r"/(?P<name>[^/]+)", "AutoscaleSettings_Get", insights.autoscale_get),
        Route(
            "DELETE",
            RG + AUTOSCALE + r"/(?P<name>[^/]+)",
            "AutoscaleSettings_Delete",
            insights.autoscale_delete,
            "deletes",
        ),
        Route("GET", RG + AUTOSCALE, "AutoscaleSettings_ListByResourceGroup", insights.autoscale_list),
        Route("GET", SUB + AUTOSCALE, "AutoscaleSettings_ListBySubscription", insights.autoscale_list_all),
        # capacity, quota and the spot market
        Route("GET", SUB + CRP + "/skus", "ResourceSkus_List", resourceskus.skus, "reads"),
        Route("GET", LOC + "/usages", "Usage_List", resourceskus.usages, "reads"),
        Route(
            "POST",
            LOC + "/placementScores/spot/generate",
            "SpotPlacementScores_Post",
            placement.placement_scores,
            "writes",
        ),
        Route(
            "GET",
            LOC + "/placementScores/spot",
            "SpotPlacementScores_Get",
            placement.placement_metadata,
            "reads",
        ),
        Route("POST", r"/providers/Microsoft\.ResourceGraph/resources", "Resources", resourcegraph.resource_graph),
        Route(
            "GET",
            r"/api/retail/prices",
            "RetailPrices_List",
            retailprices.retail_prices,
            auth=False,
            api_version=False,
        ),
        # Log Analytics (api.loganalytics.io) and IMDS Scheduled Events (169.254.169.254)
        Route(
            "POST",
            r"/v1/workspaces/(?P<ws>[^/]+)/query",
            "Query_Execute",
            loganalytics.logs_query,
            api_version=False,
        ),
        Route(
            "GET",
            r"/_imds(?P<rid>/subscriptions/.+?)/metadata/scheduledevents",
            "ScheduledEvents_Get",
            imds.scheduled_events_get,
            auth=False,
        ),
        Route(
            "POST",
            r"/_imds(?P<rid>/subscriptions/.+?)/metadata/scheduledevents",
            "ScheduledEvents_Ack",
            imds.scheduled_events_post,
            auth=False,
        ),
        # Key Vault's secrets data plane (<vault>.vault.azure.net), under /keyvault/<vault>, over TLS
        *keyvault.routes(services.faults),
        *control.routes(services),
    ]
