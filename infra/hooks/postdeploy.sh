#!/bin/sh
# azd postdeploy: the second stage of the first `azd up`.
#
# The action group and the Event Grid subscription call POST /api/alerts with the host's default function key.
# That key can be read (listKeys on Microsoft.Web/sites/host) only once the host runs the deployed code, and Event
# Grid validates a webhook when its subscription is created, so it needs the live endpoint (respot answers the
# SubscriptionValidationEvent). On a first `azd up` the provision step runs before the code is deployed, so it
# leaves the signals out (connectSignals = false); this hook waits for /api/health, then turns them on and
# provisions again. Later runs find RESPOT_CONNECT_SIGNALS=true and provision everything in one pass.
set -eu
if [ "${RESPOT_CONNECT_SIGNALS:-false}" = "true" ]; then
  echo "respot: signals are connected (RESPOT_CONNECT_SIGNALS=true)"
  exit 0
fi
url="${RESPOT_APP_URL:?RESPOT_APP_URL is not set: run azd provision first}"
echo "respot: waiting for ${url}/api/health before connecting the signals"
tries=0
until curl -fsS --max-time 10 "${url}/api/health" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "${tries}" -ge 36 ]; then
    echo "respot: ${url}/api/health did not answer in 6 minutes; see the app's logs (a bad setting stops the app" >&2
    echo "  at start, naming it), then: azd env set RESPOT_CONNECT_SIGNALS true && azd provision" >&2
    exit 1
  fi
  sleep 10
done
azd env set RESPOT_CONNECT_SIGNALS true
azd provision --no-prompt
