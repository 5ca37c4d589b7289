// The Durable Task Scheduler: respot's durable backend in Azure (host.json storageProvider.type azureManaged),
// with one task hub whose name must equal host.json's extensions.durableTask.hubName, and the app's identity as
// Durable Task Data Contributor on the scheduler (its dashboard uses the same role for people).
// API version 2025-11-01 is the first stable one (Azure/azure-rest-api-specs specification/durabletask).

@description('Required. Name of the scheduler (3-64 letters, digits and hyphens).')
@minLength(3)
@maxLength(64)
param name string

@description('Required. Name of the task hub: host.json extensions.durableTask.hubName.')
param taskHubName string

@description('Required. Principal id of the identity that runs orchestrations.')
param principalId string

@description('Optional. Consumption (pay per action, no idle cost) or Dedicated (capacity units, fixed monthly cost).')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

@description('Optional. Capacity units with the Dedicated SKU (ignored by Consumption).')
@minValue(1)
@maxValue(10)
param dedicatedCapacity int = 1

@description('Optional. Networks allowed to reach the scheduler. It must not be empty: an empty list denies all traffic, the app included (Flex Consumption has no fixed outbound addresses without a VNet).')
@minLength(1)
param ipAllowlist array = [
  '0.0.0.0/0'
]

@description('Optional. Location of the scheduler.')
param location string = resourceGroup().location

@description('Optional. Tags for the scheduler.')
param tags object = {}

var dedicatedSku = {
  name: 'Dedicated'
  capacity: dedicatedCapacity
}
var consumptionSku = {
  name: 'Consumption'
}
var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402' // Durable Task Data Contributor

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: skuName == 'Dedicated' ? dedicatedSku : consumptionSku
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
  properties: {}
}

resource dataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, principalId, durableTaskDataContributor)
  scope: scheduler
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('The scheduler endpoint (https://<name>.<region>.durabletask.io), for the connection string and the CLI.')
output endpoint string = scheduler.properties.endpoint

@description('The task hub name.')
output taskHubName string = taskHub.name

@description('The scheduler resource id.')
output resourceId string = scheduler.id
