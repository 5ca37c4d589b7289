// The Functions host's own storage (AzureWebJobsStorage: timer leases, host secrets, the Flex Consumption
// deployment package), with identity-based connections only: shared keys off, no public blob access, TLS 1.2.
// With the Azure Storage durable backend it also holds the task hub's queues and tables.

@description('Required. Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Required. Principal id of the identity that uses the account.')
param principalId string

@description('Optional. The durable backend: with azureStorage the identity also needs the queue and table data roles.')
@allowed([
  'durableTaskScheduler'
  'azureStorage'
])
param durableBackend string = 'durableTaskScheduler'

@description('Optional. Location of the account.')
param location string = resourceGroup().location

@description('Optional. Tags for the account.')
param tags object = {}

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
// The host needs blobs (leases, secrets, the package); queues and tables only hold an Azure Storage task hub.
var azureStorageRoles = [storageBlobDataOwner, storageQueueDataContributor, storageTableDataContributor]
var roles = durableBackend == 'azureStorage' ? azureStorageRoles : [storageBlobDataOwner]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches its storage over the public endpoint unless it joins a VNet (not deployed here); access is identity-only (shared keys off)
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public network access stays on, anonymous and key access are off
  // checkov:skip=CKV_AZURE_43: the name is computed (main.bicep: 'strespot' + 13 characters of uniqueString, lowercase letters and digits, 21 long); checkov renders the expression only on some runs and then judges its ${...} text
  // checkov:skip=CKV_AZURE_206: LRS on purpose: the account holds timer leases, host secrets and a package azd redeploys; durable state is in the Durable Task Scheduler
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in roles: {
    name: guid(account.id, principalId, role)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

@description('The account name.')
output name string = account.name

@description('The blob endpoint.')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('The queue endpoint.')
output queueEndpoint string = account.properties.primaryEndpoints.queue

@description('The table endpoint.')
output tableEndpoint string = account.properties.primaryEndpoints.table
