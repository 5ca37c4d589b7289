// Log Analytics Reader for respot's identity on the workspace that holds the subscription's Activity Log
// (AzureActivity): what lets respot see a person's deallocate or delete, and the platform's evictSpotVM record of a
// deleted VM. Deployed to the workspace's resource group; its output is RESPOT_LOG_WORKSPACE_ID.

@description('Required. Name of the workspace (in this module\'s resource group).')
param workspaceName string

@description('Required. Principal id of respot\'s identity.')
param principalId string

var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893' // Log Analytics Reader

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('The workspace id (a GUID) that queries name.')
output customerId string = workspace.properties.customerId
