#!/bin/sh
# azd preprovision: refuse early, with the fix, when what respot protects is not named. respot's write role
# (Virtual Machine Contributor) goes to these resource groups only, never to the subscription.
set -eu
if [ -z "${RESPOT_TARGET_RESOURCE_GROUPS:-}" ]; then
  echo "respot: set the resource groups whose Spot VMs respot recovers, then run azd up again:" >&2
  echo "  azd env set RESPOT_TARGET_RESOURCE_GROUPS rg-batch,rg-web" >&2
  exit 1
fi
# respot's own resource group is deleted by `azd down`: it must never be one that holds protected VMs.
own="${AZURE_RESOURCE_GROUP:-rg-${AZURE_ENV_NAME:-}}"
case ",$(echo "${RESPOT_TARGET_RESOURCE_GROUPS}" | tr -d ' ')," in
  *",${own},"*)
    echo "respot: ${own} is respot's own resource group (azd down deletes it); protect other groups" >&2
    exit 1
    ;;
esac
echo "respot: protecting resource groups ${RESPOT_TARGET_RESOURCE_GROUPS}"
