// The only roles respot holds on the whole subscription, and both only read: Reader (Resource Graph's spot eviction
// rates, quota usages, VM and scale-set lists for the sweep) and Compute Recommendations Role (spot placement scores:
// Reader gets 403 there). No write role is ever assigned here: writes are granted per resource group (rg-role.bicep).
targetScope = 'subscription'

@description('Required. Principal id of respot\'s identity.')
param principalId string

@description('Optional. Also assign Compute Recommendations Role (placement scores rank replacements; without it respot ranks without them).')
param placementScores bool = true

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
// Compute Recommendations Role: Microsoft.Compute/locations/placementScores/generate/action only.
var computeRecommendationsRole = 'e82342c9-ac7f-422b-af64-e426d2e12b2d' // Compute Recommendations Role
var roles = placementScores ? [reader, computeRecommendationsRole] : [reader]

resource readers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in roles: {
    name: guid(subscription().id, principalId, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
