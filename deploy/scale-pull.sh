#!/usr/bin/env bash
# Sets the pull worker pool's instance count from its subscription's backlog
# (docs/deploying.md#pull-how-many-instances). The scaler job deploy/pull.sh sets up runs it every
# minute; run it by hand to see or force the decision. Safe to run at any time: it changes the
# count only when the decision differs.
#
#   PROJECT=my-project deploy/scale-pull.sh
#   DRY_RUN=1 PROJECT=my-project deploy/scale-pull.sh   # print the decision and the change, make none
#
#   instances = ceil(unacked / (CONCURRENCY × PULL_TARGET_PERCENT / 100)),
#               within PULL_MIN_INSTANCES .. PULL_MAX_INSTANCES
#
# unacked is the subscription's num_undelivered_messages, every message not yet acked: the events
# in progress (each held until its processing.completed is published) and the backlog. It is the
# largest value over the last SCALE_DOWN_WINDOW_SECONDS: a rise scales out at once (as soon as
# Cloud Monitoring shows it, 2 to 4 minutes late), a fall scales in only once it has lasted the
# window, since an instance removed hands its events in progress back to Pub/Sub.
#
# Needs gcloud (with the beta commands), curl and jq; reads Cloud Monitoring
# (roles/monitoring.viewer) and updates the worker pool (roles/run.developer).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

p=(--project="$PROJECT" --quiet)

# Stops, naming the variable, unless it is a whole number from $2 to $3.
whole() {
  local name="$1" value="${!1}"
  if ! [[ "$value" =~ ^[0-9]+$ ]] || ((10#$value < $2 || 10#$value > $3)); then
    echo "${name}: must be a whole number from $2 to $3, got \"${value}\"" >&2
    exit 1
  fi
}
whole CONCURRENCY 1 1000
whole PULL_TARGET_PERCENT 1 100
whole PULL_MIN_INSTANCES 0 1000
whole PULL_MAX_INSTANCES 1 1000
whole SCALE_DOWN_WINDOW_SECONDS 60 86400
if ((PULL_MIN_INSTANCES > PULL_MAX_INSTANCES)); then
  echo "PULL_MIN_INSTANCES: ${PULL_MIN_INSTANCES} is more than PULL_MAX_INSTANCES (${PULL_MAX_INSTANCES})" >&2
  exit 1
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "deploy/scale-pull.sh needs ${tool}" >&2; exit 1; }
done

# The instance count for UNACKED messages: the decision, nothing else.
instances_for() {
  local per=$((CONCURRENCY * PULL_TARGET_PERCENT)) n
  n=$((($1 * 100 + per - 1) / per))
  ((n < PULL_MIN_INSTANCES)) && n=$PULL_MIN_INSTANCES
  ((n > PULL_MAX_INSTANCES)) && n=$PULL_MAX_INSTANCES
  echo "$n"
}

# Seconds since the epoch as RFC 3339 (GNU date, else BSD date).
rfc3339() {
  date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ
}

# The largest num_undelivered_messages of the subscription over the window; 0 when Cloud
# Monitoring has no point in it (an idle subscription reports none). Read-only.
largest_unacked() {
  local now token body
  now="$(date -u +%s)"
  token="$(gcloud auth print-access-token "${p[@]}")"
  # The token goes on stdin, not on the command line (where ps would show it).
  if ! body="$(curl --silent --show-error --fail-with-body --get \
    "https://monitoring.googleapis.com/v3/projects/${PROJECT}/timeSeries" \
    --data-urlencode "filter=metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" resource.type=\"pubsub_subscription\" resource.label.subscription_id=\"${PULL_SUBSCRIPTION}\"" \
    --data-urlencode "interval.startTime=$(rfc3339 $((now - SCALE_DOWN_WINDOW_SECONDS)))" \
    --data-urlencode "interval.endTime=$(rfc3339 "$now")" \
    --data-urlencode "aggregation.alignmentPeriod=${SCALE_DOWN_WINDOW_SECONDS}s" \
    --data-urlencode "aggregation.perSeriesAligner=ALIGN_MAX" \
    --header @- <<<"Authorization: Bearer ${token}")"; then
    echo "could not read ${PULL_SUBSCRIPTION}'s backlog from Cloud Monitoring: ${body}" >&2
    return 1
  fi
  jq -r '[.timeSeries[]?.points[]?.value | (.int64Value // .doubleValue // 0) | tonumber | ceil] | max // 0' <<<"$body"
}

if ! exists gcloud pubsub subscriptions describe "$PULL_SUBSCRIPTION" "${p[@]}"; then
  echo "no subscription ${PULL_SUBSCRIPTION} in ${PROJECT}: run deploy/pull.sh first" >&2
  exit 1
fi
if ! current="$(gcloud beta run worker-pools describe "$WORKER_POOL" --region="$REGION" \
  --format='value(metadata.annotations."run.googleapis.com/manualInstanceCount")' "${p[@]}")"; then
  echo "no worker pool ${WORKER_POOL} in ${REGION} of ${PROJECT}: run deploy/pull.sh first" >&2
  exit 1
fi
unacked="$(largest_unacked)"
wanted="$(instances_for "$unacked")"
echo "   ${PULL_SUBSCRIPTION}: at most ${unacked} unacked in the last ${SCALE_DOWN_WINDOW_SECONDS} s;" \
  "${WORKER_POOL}: ${current:-no} instances, ${wanted} wanted" >&2
if [[ "$current" == "$wanted" ]]; then
  exit 0
fi
# Changing the count makes no new revision; instances removed get SIGTERM and hand back what
# they cannot finish in 10 s.
change gcloud beta run worker-pools update "$WORKER_POOL" --region="$REGION" --scaling="$wanted" "${p[@]}"
