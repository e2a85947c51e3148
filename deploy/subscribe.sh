#!/usr/bin/env bash
# Points Pub/Sub at the deployed service; run after the first deploy (cloudbuild.yaml). Safe to
# run again: an existing push subscription is updated to these settings.
#
#   PROJECT=my-project deploy/subscribe.sh
#   DRY_RUN=1 PROJECT=my-project deploy/subscribe.sh   # print the changes, make none
#
# Every name can be overridden from the environment (see deploy/common.sh); use the values the
# build was given (_PUSH_AUDIENCE, _PUSH_SERVICE_ACCOUNT, ...) if they differ from the defaults.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

p=(--project="$PROJECT" --quiet)
bind=(--format=none)

if ! URL="$(gcloud run services describe "$SERVICE" --region="$REGION" --format='value(status.url)' "${p[@]}")" ||
  [[ -z "$URL" ]]; then
  echo "no Cloud Run service ${SERVICE} in ${REGION} of ${PROJECT}: deploy it first (gcloud builds submit)" >&2
  exit 1
fi
ENDPOINT="${URL}/pubsub/push"
echo "   pushing to ${ENDPOINT}" >&2

# Cloud Run lets a push in only if its token's identity may invoke the service.
change_retried gcloud run services add-iam-policy-binding "$SERVICE" --region="$REGION" \
  --member="serviceAccount:${PUSH_SERVICE_ACCOUNT}" --role=roles/run.invoker "${bind[@]}" "${p[@]}"

# Operators and readers of /ops (OPS_READERS, OPS_OPERATORS) call it with their own ID tokens:
# Cloud Run lets them in too; the service then checks who may read and who may re-run.
read -ra principals <<<"${OPS_READERS//[;,]/ } ${OPS_OPERATORS//[;,]/ }"
for principal in "${principals[@]}"; do
  case "$principal" in
    \*@*) member="domain:${principal#\*@}" ;;
    *.gserviceaccount.com) member="serviceAccount:${principal}" ;;
    *) member="user:${principal}" ;;
  esac
  change_retried gcloud run services add-iam-policy-binding "$SERVICE" --region="$REGION" \
    --member="$member" --role=roles/run.invoker "${bind[@]}" "${p[@]}"
done

# Tokens are signed as the push identity, with the service's custom audience: Cloud Run accepts
# that audience (--set-custom-audiences) and the service checks both (PUSH_*). The ack deadline is
# how long an event may take before Pub/Sub delivers it again, the maximum; Cloud Run's request
# timeout (--timeout in cloudbuild.yaml) is at least this. A push refused because the instance is
# full (429) is a delivery attempt like any failure
# (docs/deploying.md#pubsubs-retries-and-a-full-fleet).
input_subscription "$PUSH_SUBSCRIPTION" \
  --push-endpoint="$ENDPOINT" \
  --push-auth-service-account="$PUSH_SERVICE_ACCOUNT" \
  --push-auth-token-audience="$PUSH_AUDIENCE" \
  --ack-deadline="$ACK_DEADLINE_SECONDS"

echo "== Done: ${PUSH_SUBSCRIPTION} pushes ${UNDERWRITING_TOPIC} to ${ENDPOINT}" >&2
