// One role for respot's identity on the resource group this module is deployed to (main.bicep scopes it): how every
// write role is granted, so none of them can reach beyond a resource group.

@description('Required. Principal id of respot\'s identity.')
param principalId string

@description('Required. The built-in role definition id (a GUID).')
param roleDefinitionId string

@description('Required. The role\'s name, for the assignment\'s description.')
param roleName string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'respot: ${roleName}'
  }
}
