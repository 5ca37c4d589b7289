// The Function App: Python 3.11 on the Flex Consumption plan, deployed by azd from a package in the host's storage,
// running as the one user-assigned identity. Its app settings are the host's (identity-based storage, Application
// Insights with Entra auth, the durable backend) merged with every RESPOT_* setting main.bicep builds.
// Flex Consumption takes the runtime from functionAppConfig.runtime: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION must not be app settings there.

@description('Required. Name of the Function App.')
param name string

@description('Required. Name of the Flex Consumption plan.')
param planName string

@description('Required. Resource id of the user-assigned identity.')
param identityId string

@description('Required. Client id of the identity: AZURE_CLIENT_ID and every identity-based connection.')
param identityClientId string

@description('Required. Principal id of the identity (Monitoring Metrics Publisher on Application Insights).')
param identityPrincipalId string

@description('Required. Name of the host storage account.')
param storageAccountName string

@description('Required. Blob container holding the deployment package.')
param deploymentContainerName string

@description('Required. Name of the Application Insights component.')
param appInsightsName string

@description('Required. The RESPOT_* app settings (main.bicep builds them, one per field of orchestrator/settings.py).')
param respotSettings object

@description('Optional. The durable backend: the Durable Task Scheduler, or the host storage account (Azure Storage).')
@allowed([
  'durableTaskScheduler'
  'azureStorage'
])
param durableBackend string = 'durableTaskScheduler'

@description('Optional. The Durable Task Scheduler endpoint (with durableBackend durableTaskScheduler).')
param schedulerEndpoint string = ''

@description('Optional. Instance memory in MB: 2048 suits respot (SDK clients, a few activities at once).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Most instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Location of the plan and the app.')
param location string = resourceGroup().location

@description('Optional. Tags for the plan and the app.')
param tags object = {}

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption is regional and optional; respot's state lives in the scheduler, and an outage is covered by the sweep when the app is back
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Azure Monitor action groups and Event Grid deliver to the public endpoint; /api/alerts needs the function key
  // checkov:skip=CKV_AZURE_17: the callers (action groups, Event Grid) present no client certificate
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per event; always-ready instances would cost money at idle, and the sweep catches what a cold start delays
  // checkov:skip=CKV_AZURE_213: App Service health check heals instances of a fixed pool; Flex Consumption has none (instances come and go per event); /api/health serves external probes
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'respot' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// azd deploys with Entra ID (the ARM publish API), so basic-auth publishing is off.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

var hostSettings = {
  AZURE_CLIENT_ID: identityClientId
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// host.json names the Durable Task Scheduler (storageProvider.type azureManaged, its connection string in
// DURABLE_TASK_SCHEDULER_CONNECTION_STRING). The Azure Storage backend overrides those two host.json values with
// app settings (AzureFunctionsJobHost__<path>), pointing the task hub at the host's identity-based storage.
var schedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}
var azureStorageSettings = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'AzureStorage'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'AzureWebJobsStorage'
}
var backendSettings = durableBackend == 'durableTaskScheduler' ? schedulerSettings : azureStorageSettings

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // This is the 'appsettings' config (name/value pairs), which checkov reads as if it were the site's 'web' config:
  // checkov:skip=CKV_AZURE_13: not the web config; App Service authentication would also refuse the key-bearing callers of /api/alerts
  // checkov:skip=CKV_AZURE_63: not the web config; HTTP logs of a Function App go to Application Insights
  // checkov:skip=CKV_AZURE_65: not the web config; detailed error pages are an IIS feature a Linux Function App does not serve
  // checkov:skip=CKV_AZURE_66: not the web config; failed request tracing is an IIS feature a Linux Function App does not serve
  // checkov:skip=CKV_AZURE_80: not the web config; the app is Python (functionAppConfig.runtime), not .NET
  // checkov:skip=CKV_AZURE_88: not the web config; a Flex Consumption app has no Azure Files content share
  // checkov:skip=CKV_AZURE_222: not the web config; public access is the site's (see the site's skip)
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, backendSettings, respotSettings)
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('The app name.')
output name string = site.name

@description('The app URL.')
output url string = 'https://${site.properties.defaultHostName}'
