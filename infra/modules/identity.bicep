// The one user-assigned managed identity respot uses for everything: the host's storage, Application Insights, the
// Durable Task Scheduler, and every ARM, Resource Graph and Log Analytics call (DefaultAzureCredential picks it by
// AZURE_CLIENT_ID). A user-assigned identity outlives the app, so its role assignments survive a rebuild of the app.

@description('Required. Name of the identity.')
param name string

@description('Optional. Location of the identity.')
param location string = resourceGroup().location

@description('Optional. Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('The identity resource id.')
output resourceId string = identity.id

@description('The identity client id: AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId

@description('The identity principal (object) id, for role assignments.')
output principalId string = identity.properties.principalId
