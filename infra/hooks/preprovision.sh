#!/bin/sh
# azd preprovision: refuse early, with the fix, when what respot protects is not named. respot's write role
# (Virtual Machine Contributor) goes to these resource groups only, never to the subscription.
set -eu
if [ -z "${RESPOT_TARGET_RESOURCE_GROUPS:-}" ]; then
  echo "respot: set the resource groups whose Spot VMs respot recovers, then run azd up again:" >&2
  echo "  azd env set RESPOT_TARGET_RESOURCE_GROUPS rg-batch,rg-web" >&2
  exit 1
fi
echo "respot: protecting resource groups ${RESPOT_TARGET_RESOURCE_GROUPS}"
