// The subscription's Activity Log into the workspace (the AzureActivity table respot queries). A subscription has
// at most five diagnostic settings, and one that already sends the Activity Log to a workspace is enough: main.bicep
// skips this module then (createActivityLogDiagnosticSetting = false, activityLogWorkspaceResourceId = that one).
targetScope = 'subscription'

@description('Required. Resource id of the Log Analytics workspace.')
param workspaceId string

@description('Optional. Name of the diagnostic setting.')
param name string = 'respot-activity-log'

resource activityLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: name
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'Administrative'
        enabled: true
      }
      {
        category: 'ResourceHealth'
        enabled: true
      }
    ]
  }
}
