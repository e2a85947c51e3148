#!/usr/bin/env bash
# Runs the service on pull instead of push: a Cloud Run worker pool of `serve` instances pulling
# their own subscription, and a scaler that sets how many there are from the subscription's
# backlog (docs/deploying.md#4-pull-a-worker-pool-instead-of-push). Run after deploy/setup.sh,
# deploy/telemetry.sh and a build (it deploys the newest image the build pushed), and again after
# each build. Safe to run again: what exists is updated, and the instance count the scaler chose is
# kept.
#
#   DOCUMENTS_URL=https://documents.example.com PROJECT=my-project deploy/pull.sh
#   DRY_RUN=1 DOCUMENTS_URL=... PROJECT=my-project deploy/pull.sh   # print the changes, make none
#
# IMAGE=… deploys another image; PULL_SCALER=none leaves the count to you (deploy/scale-pull.sh).
# Every name and size can be overridden from the environment (see deploy/common.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

: "${DOCUMENTS_URL:?set DOCUMENTS_URL to the base URL of the document service, e.g. DOCUMENTS_URL=https://documents.example.com $0}"
DOCUMENTS_AUDIENCE="${DOCUMENTS_AUDIENCE:-}"
TRACE_SAMPLE_RATIO="${TRACE_SAMPLE_RATIO:-1}" # cloudbuild: _TRACE_SAMPLE_RATIO
case "$PULL_SCALER" in
  scheduled | none) ;;
  *) echo "PULL_SCALER: must be scheduled or none, got \"${PULL_SCALER}\"" >&2; exit 1 ;;
esac

p=(--project="$PROJECT" --quiet)
bind=(--format=none)
REPOSITORY_PATH="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}"

echo "== APIs" >&2
change gcloud services enable run.googleapis.com pubsub.googleapis.com monitoring.googleapis.com \
  cloudscheduler.googleapis.com cloudbuild.googleapis.com "${p[@]}"

if [[ -z "${IMAGE:-}" ]]; then
  IMAGE="$(gcloud artifacts docker images list "${REPOSITORY_PATH}/${SERVICE}" --sort-by=~updateTime \
    --limit=1 --format='value(format("{0}@{1}",package,version))' "${p[@]}")" || IMAGE=""
  if [[ -z "$IMAGE" ]]; then
    echo "no image in ${REPOSITORY_PATH}/${SERVICE}: build one first (gcloud builds submit), or set IMAGE" >&2
    exit 1
  fi
fi
echo "   deploying ${IMAGE}" >&2

echo "== The pull subscription" >&2
# What the service nacks (a transient failure, what it cannot finish at shutdown) comes back
# with the push subscription's retry and dead-letter policy.
input_subscription "$PULL_SUBSCRIPTION" --ack-deadline="$PULL_ACK_DEADLINE_SECONDS"
# The service pulls, acks and leases.
change_retried gcloud pubsub subscriptions add-iam-policy-binding "$PULL_SUBSCRIPTION" \
  --member="serviceAccount:${RUNTIME_SERVICE_ACCOUNT}" --role=roles/pubsub.subscriber "${bind[@]}" "${p[@]}"

echo "== The worker pool" >&2
# What cloudbuild.yaml's deploy step sets, without push and /ops (a worker pool has no URL),
# with the subscription to pull. Values must not hold commas.
env_vars="GOOGLE_CLOUD_PROJECT=${PROJECT},LEDGER=firestore,UNDERWRITING_TOPIC=${UNDERWRITING_TOPIC}"
env_vars+=",UNDERWRITING_SUBSCRIPTION=${PULL_SUBSCRIPTION},COMPLETED_TOPIC=${COMPLETED_TOPIC}"
env_vars+=",DEAD_LETTER_TOPIC=${DEAD_LETTER_TOPIC},DOCUMENTS_URL=${DOCUMENTS_URL},DOCUMENTS_AUDIENCE=${DOCUMENTS_AUDIENCE}"
env_vars+=",OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318,OTEL_SERVICE_NAME=${WORKER_POOL}"
env_vars+=",OTEL_TRACES_SAMPLER=parentbased_traceidratio,OTEL_TRACES_SAMPLER_ARG=${TRACE_SAMPLE_RATIO}"
pool=(
  --region="$REGION"
  --service-account="$RUNTIME_SERVICE_ACCOUNT"
  # Container flags follow (gcloud requires that order). The instance size is the one
  # CONCURRENCY was measured on; worker pools are billed for every instance all the time, so
  # CPU is always there for the leases the service renews between pulls.
  --container=app
  --image="$IMAGE"
  --cpu=2
  --memory=2Gi
  --set-env-vars="$env_vars"
  --depends-on=collector
  # As beside the push service (cloudbuild.yaml; docs/telemetry.md).
  --container=collector
  --image="$COLLECTOR_IMAGE"
  --args=--config=/etc/otelcol-google/config.yaml
  --set-secrets="/etc/otelcol-google/config.yaml=${COLLECTOR_CONFIG_SECRET}:latest"
  --cpu=1
  --memory=512Mi
)
if exists gcloud beta run worker-pools describe "$WORKER_POOL" --region="$REGION" "${p[@]}"; then
  # A new revision; the instance count stays what the scaler set.
  change gcloud beta run worker-pools deploy "$WORKER_POOL" "${pool[@]}" "${p[@]}"
else
  change gcloud beta run worker-pools deploy "$WORKER_POOL" --scaling="$PULL_MIN_INSTANCES" "${pool[@]}" "${p[@]}"
fi

if [[ "$PULL_SCALER" == none ]]; then
  echo "== Done: ${WORKER_POOL} pulls ${PULL_SUBSCRIPTION}; set its instance count with deploy/scale-pull.sh" >&2
  exit 0
fi

echo "== The scaler: deploy/scale-pull.sh every minute" >&2
scaler="serviceAccount:${SCALER_SERVICE_ACCOUNT}"
if [[ "$SCALER_SERVICE_ACCOUNT" != *"@${PROJECT}.iam.gserviceaccount.com" ]]; then
  echo "   ${SCALER_SERVICE_ACCOUNT} is not this project's; not creating it" >&2
elif ! exists gcloud iam service-accounts describe "$SCALER_SERVICE_ACCOUNT" "${p[@]}"; then
  change gcloud iam service-accounts create "${SCALER_SERVICE_ACCOUNT%%@*}" \
    --display-name="Instance count of ${WORKER_POOL}" "${p[@]}"
fi
# It reads the backlog, updates the worker pool (which runs as the runtime identity) and is
# started by Cloud Scheduler as itself. gcloud has no IAM commands for one worker pool, so
# roles/run.developer is granted on the project.
for role in roles/monitoring.viewer roles/run.developer; do
  change_retried gcloud projects add-iam-policy-binding "$PROJECT" \
    --member="$scaler" --role="$role" --condition=None "${bind[@]}" "${p[@]}"
done
change_retried gcloud iam service-accounts add-iam-policy-binding "$RUNTIME_SERVICE_ACCOUNT" \
  --member="$scaler" --role=roles/iam.serviceAccountUser "${bind[@]}" "${p[@]}"

# deploy/Dockerfile: these scripts on the Google Cloud CLI image.
SCALER_IMAGE="${REPOSITORY_PATH}/${SCALER_JOB}:latest"
change gcloud builds submit "$HERE" --tag="$SCALER_IMAGE" "${p[@]}"
scaler_env="PROJECT=${PROJECT},REGION=${REGION},WORKER_POOL=${WORKER_POOL},PULL_SUBSCRIPTION=${PULL_SUBSCRIPTION}"
scaler_env+=",CONCURRENCY=${CONCURRENCY},PULL_TARGET_PERCENT=${PULL_TARGET_PERCENT}"
scaler_env+=",PULL_MIN_INSTANCES=${PULL_MIN_INSTANCES},PULL_MAX_INSTANCES=${PULL_MAX_INSTANCES}"
scaler_env+=",SCALE_DOWN_WINDOW_SECONDS=${SCALE_DOWN_WINDOW_SECONDS}"
# One try: the next minute's run is the retry.
change gcloud run jobs deploy "$SCALER_JOB" --region="$REGION" --image="$SCALER_IMAGE" \
  --service-account="$SCALER_SERVICE_ACCOUNT" --set-env-vars="$scaler_env" \
  --tasks=1 --max-retries=0 --task-timeout=120s --cpu=1 --memory=512Mi "${p[@]}"

schedule=(
  --location="$REGION"
  --schedule="$SCALER_SCHEDULE"
  --uri="https://run.googleapis.com/v2/projects/${PROJECT}/locations/${REGION}/jobs/${SCALER_JOB}:run"
  --http-method=POST
  --oauth-service-account-email="$SCALER_SERVICE_ACCOUNT"
)
if exists gcloud scheduler jobs describe "$SCALER_JOB" --location="$REGION" "${p[@]}"; then
  change gcloud scheduler jobs update http "$SCALER_JOB" "${schedule[@]}" "${p[@]}"
else
  change gcloud scheduler jobs create http "$SCALER_JOB" "${schedule[@]}" "${p[@]}"
fi

echo "== Done: ${WORKER_POOL} pulls ${PULL_SUBSCRIPTION}; ${SCALER_JOB} sets its instance count every minute" >&2
