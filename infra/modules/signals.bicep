// What tells respot about an eviction, all delivered to POST /api/alerts with the host's default function key:
// - an action group whose webhook uses the common alert schema (what orchestrator/domain/signals.py parses);
// - Activity Log alert rules for evictSpotVM on VMs and on scale sets (category Administrative);
// - a Resource Health alert rule for platform-initiated VM events (respot keeps VirtualMachinePreempted);
// - optionally, the subscription's Azure Resource Notifications HealthResources system topic with a webhook
//   subscription for ResourceAnnotated (Event Grid schema: respot answers the SubscriptionValidationEvent).
// This is the second stage of a first `azd up` (infra/hooks/postdeploy.sh): the key exists, and Event Grid can
// validate the endpoint, only once the app's code runs. Deploying it again changes nothing.

@description('Required. Name of the Function App (in this resource group).')
param appName string

@description('Optional. The intake route: function_app.py\'s alerts function (route "alerts", routePrefix "api").')
param alertsPath string = '/api/alerts'

@description('Optional. Also subscribe to Event Grid HealthResources ResourceAnnotated events (the fastest signal).')
param eventGrid bool = true

@description('Optional. Tags for the action group, the alert rules and the topic.')
param tags object = {}

var subscriptionScope = subscription().id
// The host's default function key: valid for every FUNCTION-level route, readable only once the host has started.
var functionKey = listKeys(resourceId('Microsoft.Web/sites/host', appName, 'default'), '2024-04-01').functionKeys.default
var alertsUrl = 'https://${app.properties.defaultHostName}${alertsPath}?code=${functionKey}'
var evictions = [
  {
    name: 'respot-evict-spot-vm'
    operation: 'Microsoft.Compute/virtualMachines/evictSpotVM/action'
    what: 'a Spot VM'
  }
  {
    name: 'respot-evict-spot-vmss'
    operation: 'Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action'
    what: 'a Spot scale-set instance'
  }
]

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'respot-alerts'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'respot'
    enabled: true
    webhookReceivers: [
      {
        name: 'respot-intake'
        serviceUri: alertsUrl
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
}

resource evictionAlerts 'Microsoft.Insights/activityLogAlerts@2020-10-01' = [
  for eviction in evictions: {
    name: eviction.name
    location: 'Global'
    tags: tags
    properties: {
      description: 'respot: the platform evicted ${eviction.what} (${eviction.operation})'
      enabled: true
      scopes: [
        subscriptionScope
      ]
      condition: {
        allOf: [
          {
            field: 'category'
            equals: 'Administrative'
          }
          {
            field: 'operationName'
            equals: eviction.operation
          }
        ]
      }
      actions: {
        actionGroups: [
          {
            actionGroupId: actionGroup.id
          }
        ]
      }
    }
  }
]

resource preemptedAlert 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'respot-vm-preempted'
  location: 'Global'
  tags: tags
  properties: {
    description: 'respot: Resource Health, platform-initiated VM events (VirtualMachinePreempted is a Spot eviction)'
    enabled: true
    scopes: [
      subscriptionScope
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          anyOf: [
            {
              field: 'resourceType'
              equals: 'Microsoft.Compute/virtualMachines'
            }
            {
              field: 'resourceType'
              equals: 'Microsoft.Compute/virtualMachineScaleSets'
            }
          ]
        }
        {
          field: 'properties.cause'
          equals: 'PlatformInitiated'
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

resource healthTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (eventGrid) {
  name: 'respot-health-resources'
  location: 'global'
  tags: tags
  properties: {
    source: subscriptionScope
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

resource annotated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (eventGrid) {
  parent: healthTopic
  name: 'respot-resource-annotated'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: alertsUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

@description('The action group resource id.')
output actionGroupId string = actionGroup.id
