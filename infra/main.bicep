// respot on Azure: what `azd up` deploys (docs/deploy.md walks through it).
//
// Subscription scope, because respot's footprint is one: azd creates the resource group here; respot reads the whole
// subscription (Reader and Compute Recommendations Role at subscription scope, both read-only); the subscription's
// Activity Log diagnostic setting and the Activity Log / Resource Health alert rules are subscription-wide; and the
// write roles go to each target resource group, which a resource-group deployment could not reach. No write role is
// ever assigned at subscription scope.
//
// Resources are written in this repo (AVM conventions, no br/public registry modules) so that the offline checks
// (pycep syntax, checkov) see every one of them: `make lint` runs both (infra/check.py).
targetScope = 'subscription'

// ---- azd ---------------------------------------------------------------------------------------------------------

@description('Required. The azd environment name: names the resource group and seeds the resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Required. Region of respot\'s resources (a region that offers Flex Consumption and the Durable Task Scheduler).')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional. Resource group for respot itself; empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---- what respot protects -----------------------------------------------------------------------------------------

@description('Required. Comma-separated resource groups (in this subscription) whose Spot VMs respot recovers: RESPOT_RESOURCE_GROUPS, and Virtual Machine Contributor on each one.')
@minLength(1)
param targetResourceGroups string

@description('Optional. Comma-separated resource groups holding the subnets that fleet replacements join (Network Contributor on each); empty: none.')
param networkResourceGroups string = ''

@description('Optional. Comma-separated resource groups holding user-assigned identities that fleet templates attach (Managed Identity Operator on each); empty: none.')
param identityResourceGroups string = ''

@description('Optional. RESPOT_REQUIRED_TAGS: k=v[,k=v]; only VMs with all these tags are recovered. Empty: every Spot VM in the groups.')
param requiredTags string = ''

@description('Optional. RESPOT_FLEETS_FILE: the fleet profiles YAML shipped in the app package (relative to the app root, e.g. fleets.yaml). Empty: no fleets, Delete-policy VMs are not protected.')
param fleetsFile string = ''

// ---- how respot recovers ------------------------------------------------------------------------------------------

@description('Optional. RESPOT_RETRY_FIRST_SECONDS: first wait of the restart schedule.')
@minValue(1)
@maxValue(86400)
param retryFirstSeconds int = 60

@description('Optional. RESPOT_RETRY_CAP_SECONDS: longest wait of the restart schedule.')
@minValue(1)
@maxValue(86400)
param retryCapSeconds int = 900

@description('Optional. RESPOT_RETRY_DEADLINE_HOURS: give up on a recovery after this long.')
@minValue(1)
@maxValue(720)
param retryDeadlineHours int = 24

@description('Optional. RESPOT_SETTLE_MINUTES: how long a concluded recovery still records late signals of its eviction.')
@minValue(0)
@maxValue(1440)
param settleMinutes int = 15

@description('Optional. RESPOT_NOTICE_GRACE_SECONDS: after the in-VM agent\'s Preempt notice, look at NotBefore plus this.')
@minValue(0)
@maxValue(600)
param noticeGraceSeconds int = 60

@description('Optional. RESPOT_PRICE_POLICY: on SpotPriceGreaterThanProvidedMaxPrice, wait for the price or raise maxPrice once.')
@allowed([
  'wait'
  'raise'
])
param pricePolicy string = 'wait'

@description('Optional. RESPOT_MAX_PRICE_CEILING: with pricePolicy raise, never above this (USD per hour, a decimal string).')
param maxPriceCeiling string = '0'

@description('Optional. RESPOT_REQUIRE_HEALTH_EXTENSION: recovered only when the Application Health extension reports healthy.')
param requireHealthExtension bool = false

@description('Optional. RESPOT_SWEEP_SCHEDULE: NCRONTAB (six fields, seconds first) or hh:mm:ss, at most once a minute.')
param sweepSchedule string = '0 */5 * * * *'

@description('Optional. RESPOT_RETURN_SCHEDULE: NCRONTAB of the return to Spot\'s look at Regular fallbacks.')
param returnSchedule string = '0 */5 * * * *'

@description('Optional. RESPOT_ACTIVITY_LOG_DELAY_MINUTES: how late Activity Log records may reach the workspace.')
@minValue(0)
@maxValue(240)
param activityLogDelayMinutes int = 20

@description('Optional. RESPOT_MARKET_TTL_SECONDS: how long spot prices, eviction rates and resource SKUs are kept.')
@minValue(0)
@maxValue(86400)
param marketTtlSeconds int = 3600

@description('Optional. RESPOT_PLACEMENT_TTL_SECONDS: how long spot placement scores are kept (Azure suggests 15 to 30 minutes).')
@minValue(0)
@maxValue(3600)
param placementTtlSeconds int = 900

@description('Optional. RESPOT_QUOTA_TTL_SECONDS: how long one reading of a region\'s quota and of a fleet\'s members serves the next rankings on a worker.')
@minValue(0)
@maxValue(3600)
param quotaTtlSeconds int = 30

@description('Optional. RESPOT_ARM_BUDGETS: bucket=burst/per_second pairs where respot should pace below Azure\'s budgets (e.g. writes=100/5). Empty: Azure\'s.')
param armBudgets string = ''

@description('Optional. RESPOT_MAX_BODY_BYTES: largest /api/alerts body.')
@minValue(1024)
@maxValue(104857600)
param maxBodyBytes int = 1048576

@description('Optional. RESPOT_MAX_BODY_DEPTH: deepest JSON nesting in an /api/alerts body.')
@minValue(4)
@maxValue(512)
param maxBodyDepth int = 32

@description('Optional. RESPOT_SDK_HTTP_LOGGING: azure-core\'s per-request HTTP log lines (very verbose).')
param sdkHttpLogging bool = false

@description('Optional. Assign Compute Recommendations Role on the subscription (spot placement scores in replacement ranking).')
param placementScores bool = true

// ---- the durable backend ------------------------------------------------------------------------------------------

@description('Optional. The durable backend: the Durable Task Scheduler (recommended; dashboard), or Azure Storage in the host\'s storage account (the documented alternative).')
@allowed([
  'durableTaskScheduler'
  'azureStorage'
])
param durableBackend string = 'durableTaskScheduler'

@description('Optional. Durable Task Scheduler SKU: Consumption (no idle cost) or Dedicated (capacity units).')
@allowed([
  'Consumption'
  'Dedicated'
])
param schedulerSku string = 'Consumption'

@description('Optional. Capacity units with the Dedicated SKU.')
@minValue(1)
@maxValue(10)
param schedulerCapacity int = 1

@description('Optional. Comma-separated CIDRs allowed to reach the scheduler; never empty (an empty allowlist denies the app too).')
@minLength(1)
param schedulerIpAllowlist string = '0.0.0.0/0'

// ---- hosting ------------------------------------------------------------------------------------------------------

@description('Optional. Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Flex Consumption maximum instance count.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// ---- Activity Log and signals -------------------------------------------------------------------------------------

@description('Optional. Create the subscription\'s Activity Log diagnostic setting into respot\'s workspace. Set false when the Activity Log already goes to a workspace, and name it in activityLogWorkspaceResourceId.')
param createActivityLogDiagnosticSetting bool = true

@description('Optional. With createActivityLogDiagnosticSetting false: resource id of the workspace that already receives the Activity Log (respot gets Log Analytics Reader there). Empty: respot\'s own workspace.')
param activityLogWorkspaceResourceId string = ''

@description('Optional. Deploy the signals (action group, alert rules, Event Grid). infra/hooks/postdeploy.sh turns it on once the app runs: the function key and Event Grid\'s validation need live code.')
param connectSignals bool = false

@description('Optional. With connectSignals: also the Event Grid HealthResources system topic and its ResourceAnnotated subscription.')
param eventGrid bool = true

// ---- names --------------------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'respot'
}
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var taskHubName = 'respot' // host.json extensions.durableTask.hubName (tests/unit/infra checks they agree)
var deploymentContainerName = 'app-package'
var targets = filter(split(replace(targetResourceGroups, ' ', ''), ','), g => !empty(g)) // names hold no spaces
var networkGroups = filter(split(replace(networkResourceGroups, ' ', ''), ','), g => !empty(g)) // names hold no spaces
var identityGroups = filter(split(replace(identityResourceGroups, ' ', ''), ','), g => !empty(g)) // names hold no spaces
var ownWorkspace = createActivityLogDiagnosticSetting || empty(activityLogWorkspaceResourceId)
var workspaceSubscription = ownWorkspace ? subscription().subscriptionId : split(activityLogWorkspaceResourceId, '/')[2]
var workspaceGroup = ownWorkspace ? rgName : split(activityLogWorkspaceResourceId, '/')[4]
var workspaceName = ownWorkspace ? 'log-respot-${token}' : last(split(activityLogWorkspaceResourceId, '/'))

var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c' // Virtual Machine Contributor
var networkContributor = '4d97b98b-1d4f-4787-a291-c67834d212e7' // Network Contributor
var managedIdentityOperator = 'f1a07417-d97a-45cb-824c-7a7467783830' // Managed Identity Operator

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'respot-identity'
  scope: rg
  params: {
    name: 'id-respot-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'respot-monitoring'
  scope: rg
  params: {
    workspaceName: 'log-respot-${token}'
    appInsightsName: 'appi-respot-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'respot-storage'
  scope: rg
  params: {
    name: 'strespot${take(token, 13)}'
    deploymentContainerName: deploymentContainerName
    principalId: identity.outputs.principalId
    durableBackend: durableBackend
    location: location
    tags: tags
  }
}

module scheduler 'modules/scheduler.bicep' = if (durableBackend == 'durableTaskScheduler') {
  name: 'respot-scheduler'
  scope: rg
  params: {
    name: 'dts-respot-${token}'
    taskHubName: taskHubName
    principalId: identity.outputs.principalId
    skuName: schedulerSku
    dedicatedCapacity: schedulerCapacity
    ipAllowlist: filter(split(replace(schedulerIpAllowlist, ' ', ''), ','), c => !empty(c))
    location: location
    tags: tags
  }
}

module workspaceReader 'modules/workspace-reader.bicep' = {
  name: 'respot-workspace-reader'
  scope: resourceGroup(workspaceSubscription, workspaceGroup)
  params: {
    workspaceName: ownWorkspace ? monitoring.outputs.workspaceName : workspaceName
    principalId: identity.outputs.principalId
  }
}

module activityLog 'modules/activity-log.bicep' = if (createActivityLogDiagnosticSetting) {
  name: 'respot-activity-log'
  params: {
    workspaceId: monitoring.outputs.workspaceId
  }
}

module readers 'modules/subscription-readers.bicep' = {
  name: 'respot-subscription-readers'
  params: {
    principalId: identity.outputs.principalId
    placementScores: placementScores
  }
}

module vmContributor 'modules/rg-role.bicep' = [
  for group in targets: {
    name: 'respot-vm-${uniqueString(group)}'
    scope: resourceGroup(group)
    params: {
      principalId: identity.outputs.principalId
      roleDefinitionId: virtualMachineContributor
      roleName: 'Virtual Machine Contributor'
    }
  }
]

module subnetJoin 'modules/rg-role.bicep' = [
  for group in networkGroups: {
    name: 'respot-net-${uniqueString(group)}'
    scope: resourceGroup(group)
    params: {
      principalId: identity.outputs.principalId
      roleDefinitionId: networkContributor
      roleName: 'Network Contributor'
    }
  }
]

module identityAttach 'modules/rg-role.bicep' = [
  for group in identityGroups: {
    name: 'respot-mio-${uniqueString(group)}'
    scope: resourceGroup(group)
    params: {
      principalId: identity.outputs.principalId
      roleDefinitionId: managedIdentityOperator
      roleName: 'Managed Identity Operator'
    }
  }
]

// One app setting per field of orchestrator/settings.py (tests/unit/infra proves none is missing).
var respotSettings = {
  RESPOT_SUBSCRIPTIONS: subscription().subscriptionId
  RESPOT_RESOURCE_GROUPS: join(targets, ',')
  RESPOT_REQUIRED_TAGS: requiredTags
  RESPOT_CREDENTIAL: 'default'
  RESPOT_ARM_ENDPOINT: 'https://management.azure.com'
  RESPOT_LOGS_ENDPOINT: 'https://api.loganalytics.io'
  RESPOT_PRICES_ENDPOINT: 'https://prices.azure.com'
  RESPOT_LOG_WORKSPACE_ID: workspaceReader.outputs.customerId
  RESPOT_FLEETS_FILE: fleetsFile
  RESPOT_MARKET_TTL_SECONDS: string(marketTtlSeconds)
  RESPOT_PLACEMENT_TTL_SECONDS: string(placementTtlSeconds)
  RESPOT_QUOTA_TTL_SECONDS: string(quotaTtlSeconds)
  RESPOT_ARM_BUDGETS: armBudgets
  RESPOT_RETRY_FIRST_SECONDS: string(retryFirstSeconds)
  RESPOT_RETRY_CAP_SECONDS: string(retryCapSeconds)
  RESPOT_RETRY_DEADLINE_HOURS: string(retryDeadlineHours)
  RESPOT_SETTLE_MINUTES: string(settleMinutes)
  RESPOT_NOTICE_GRACE_SECONDS: string(noticeGraceSeconds)
  RESPOT_PRICE_POLICY: pricePolicy
  RESPOT_MAX_PRICE_CEILING: maxPriceCeiling
  RESPOT_REQUIRE_HEALTH_EXTENSION: string(requireHealthExtension)
  RESPOT_RETURN_SCHEDULE: returnSchedule
  RESPOT_MAX_BODY_BYTES: string(maxBodyBytes)
  RESPOT_MAX_BODY_DEPTH: string(maxBodyDepth)
  RESPOT_SWEEP_SCHEDULE: sweepSchedule
  RESPOT_ACTIVITY_LOG_DELAY_MINUTES: string(activityLogDelayMinutes)
  RESPOT_SDK_HTTP_LOGGING: string(sdkHttpLogging)
  // Local runs only (the emulator's Key Vault); empty in Azure, where the real vault is reached directly.
  RESPOT_VAULT_ENDPOINT: ''
  RESPOT_VAULT_CA_FILE: ''
}

module app 'modules/app.bicep' = {
  name: 'respot-app'
  scope: rg
  params: {
    name: 'func-respot-${token}'
    planName: 'plan-respot-${token}'
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    respotSettings: respotSettings
    durableBackend: durableBackend
    schedulerEndpoint: durableBackend == 'durableTaskScheduler' ? scheduler.outputs.endpoint : ''
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    location: location
    tags: tags
  }
}

module signals 'modules/signals.bicep' = if (connectSignals) {
  name: 'respot-signals'
  scope: rg
  params: {
    appName: app.outputs.name
    eventGrid: eventGrid
    tags: tags
  }
}

// ---- outputs: azd stores them in the environment (.azure/<env>/.env); docs/deploy.md uses them -------------------

@description('The region.')
output AZURE_LOCATION string = location

@description('The tenant.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('respot\'s resource group.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('The Function App\'s name.')
output RESPOT_FUNCTION_APP string = app.outputs.name

@description('The Function App\'s URL: /api/health answers anonymously; /api/alerts and the durable management API need a key.')
output RESPOT_APP_URL string = app.outputs.url

@description('The durable backend.')
output RESPOT_DURABLE_BACKEND string = durableBackend

@description('The Durable Task Scheduler endpoint (empty with the Azure Storage backend).')
output RESPOT_SCHEDULER_ENDPOINT string = durableBackend == 'durableTaskScheduler' ? scheduler.outputs.endpoint : ''

@description('The task hub.')
output RESPOT_TASK_HUB string = taskHubName

@description('Whether the signals are deployed (postdeploy.sh sets RESPOT_CONNECT_SIGNALS once the app runs).')
output RESPOT_SIGNALS_CONNECTED bool = connectSignals
