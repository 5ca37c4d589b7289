// Log Analytics (the workspace the subscription's Activity Log flows into: AzureActivity) and workspace-based
// Application Insights with local (key) authentication off: the app sends telemetry with its managed identity.
// Written here rather than taken from br/public:avm/res/operational-insights/workspace and
// br/public:avm/res/insights/component so the offline checks (pycep, checkov) see the resources.

@description('Required. Name of the Log Analytics workspace.')
param workspaceName string

@description('Required. Name of the Application Insights component.')
param appInsightsName string

@description('Optional. Location of both resources.')
param location string = resourceGroup().location

@description('Optional. Tags for both resources.')
param tags object = {}

@description('Optional. Days the workspace keeps data (AzureActivity is free to ingest and keeps 90 days at no charge).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

@description('The workspace resource id.')
output workspaceId string = workspace.id

@description('The workspace name.')
output workspaceName string = workspace.name

@description('The workspace id (a GUID) that Log Analytics queries name: RESPOT_LOG_WORKSPACE_ID.')
output workspaceCustomerId string = workspace.properties.customerId

@description('The Application Insights component name.')
output appInsightsName string = appInsights.name

@description('The Application Insights connection string (holds no secret; ingestion needs the identity).')
output appInsightsConnectionString string = appInsights.properties.ConnectionString
