#!/usr/bin/env bash
# Sets up what the service's telemetry needs (docs/telemetry.md); run after deploy/setup.sh and
# before the first build with the collector sidecar, and again whenever a file under
# deploy/telemetry/ changes. Safe to run again: the secret gets a new version, the dashboard and
# the alert policies are updated in place.
#
#   PROJECT=my-project deploy/telemetry.sh
#   DRY_RUN=1 PROJECT=my-project deploy/telemetry.sh   # print the changes, make none
#
# - the collector's configuration (deploy/telemetry/collector.yaml) as a Secret Manager secret,
#   which the sidecar mounts (cloudbuild.yaml);
# - the runtime service account may write traces and metrics, and read that secret;
# - the dashboard (deploy/telemetry/dashboard.json) and the alert policies
#   (deploy/telemetry/alerts/*.json), with the service's and push subscription's names filled in.
#   Alert policies notify no one until channels are added (NOTIFICATION_CHANNELS, comma-separated
#   channel names, e.g. projects/P/notificationChannels/123).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/telemetry"

p=(--project="$PROJECT" --quiet)
bind=(--format=none)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A file of deploy/telemetry with this deployment's names in place of __SERVICE__ and the like.
fill() {
  sed -e "s|__SERVICE__|${SERVICE}|g" -e "s|__PUSH_SUBSCRIPTION__|${PUSH_SUBSCRIPTION}|g" \
    -e "s|__PROJECT__|${PROJECT}|g" "$1" >"$2"
}

# The name of the resource a `gcloud ... list` finds by display name, or nothing. Read-only.
named() {
  "$@" --format='value(name)' 2>/dev/null | head -n 1
}

echo "== APIs" >&2
change gcloud services enable monitoring.googleapis.com cloudtrace.googleapis.com logging.googleapis.com \
  secretmanager.googleapis.com "${p[@]}"

echo "== The collector's configuration" >&2
if ! exists gcloud secrets describe "$COLLECTOR_CONFIG_SECRET" "${p[@]}"; then
  change gcloud secrets create "$COLLECTOR_CONFIG_SECRET" --replication-policy=automatic \
    --data-file="${HERE}/collector.yaml" "${p[@]}"
else
  change gcloud secrets versions add "$COLLECTOR_CONFIG_SECRET" --data-file="${HERE}/collector.yaml" "${p[@]}"
fi

echo "== IAM" >&2
runtime="serviceAccount:${RUNTIME_SERVICE_ACCOUNT}"
change_retried gcloud secrets add-iam-policy-binding "$COLLECTOR_CONFIG_SECRET" \
  --member="$runtime" --role=roles/secretmanager.secretAccessor "${bind[@]}" "${p[@]}"
for role in roles/cloudtrace.agent roles/monitoring.metricWriter roles/logging.logWriter; do
  change_retried gcloud projects add-iam-policy-binding "$PROJECT" \
    --member="$runtime" --role="$role" --condition=None "${bind[@]}" "${p[@]}"
done

echo "== Dashboard" >&2
fill "${HERE}/dashboard.json" "${work}/dashboard.json"
dashboard="$(named gcloud monitoring dashboards list --filter="displayName=\"${SERVICE}: underwritings\"" "${p[@]}")"
if [[ -n "$dashboard" ]]; then
  change gcloud monitoring dashboards update "$dashboard" --config-from-file="${work}/dashboard.json" "${p[@]}"
else
  change gcloud monitoring dashboards create --config-from-file="${work}/dashboard.json" "${p[@]}"
fi

echo "== Alert policies" >&2
channels=()
if [[ -n "${NOTIFICATION_CHANNELS:-}" ]]; then channels=(--notification-channels="$NOTIFICATION_CHANNELS"); fi
for file in "${HERE}"/alerts/*.json; do
  fill "$file" "${work}/policy.json"
  display="$(sed -n 's/^  "displayName": "\(.*\)",$/\1/p' "${work}/policy.json" | head -n 1)"
  policy="$(named gcloud alpha monitoring policies list --filter="displayName=\"${display}\"" "${p[@]}")"
  if [[ -n "$policy" ]]; then
    change gcloud alpha monitoring policies update "$policy" --policy-from-file="${work}/policy.json" "${p[@]}"
  else
    change gcloud alpha monitoring policies create --policy-from-file="${work}/policy.json" \
      "${channels[@]}" "${p[@]}"
  fi
done

echo "== Done. The dashboard is \"${SERVICE}: underwritings\" in Cloud Monitoring; see docs/telemetry.md" >&2
