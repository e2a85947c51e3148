#!/usr/bin/env bash
# Prepares a Google Cloud project for cloudbuild.yaml; run once per project, before the first
# build. Safe to run again: what exists is kept, and adding an IAM binding that exists is a no-op.
#
#   PROJECT=my-project deploy/setup.sh
#   DRY_RUN=1 PROJECT=my-project deploy/setup.sh   # print the changes, make none
#
# Every name can be overridden from the environment (see deploy/common.sh). Needs gcloud,
# signed in as someone who may enable APIs and change IAM in the project (e.g. Owner).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# On every call: this project, never the gcloud configuration's; fail rather than prompt.
p=(--project="$PROJECT" --quiet)
# IAM commands print the whole policy; nobody needs it.
bind=(--format=none)

echo "== APIs" >&2
change gcloud services enable run.googleapis.com pubsub.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com iam.googleapis.com cloudresourcemanager.googleapis.com \
  firestore.googleapis.com "${p[@]}"

NUMBER="${PROJECT_NUMBER:-$(project_number)}"
PUBSUB_AGENT="service-${NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
# Builds run as the project's default Cloud Build service account: NUMBER@cloudbuild in older
# projects, the Compute Engine default service account in newer ones. Ask which, unless
# BUILD_SERVICE_ACCOUNT says (e.g. when builds are submitted with --service-account).
if [[ -z "${BUILD_SERVICE_ACCOUNT:-}" ]]; then
  if ! BUILD_SERVICE_ACCOUNT="$(gcloud builds get-default-service-account \
    --format='value(serviceAccountEmail)' "${p[@]}")"; then
    echo "could not ask Cloud Build which service account it runs as; set BUILD_SERVICE_ACCOUNT" >&2
    exit 1
  fi
  BUILD_SERVICE_ACCOUNT="${BUILD_SERVICE_ACCOUNT##*/}" # projects/P/serviceAccounts/EMAIL
fi
echo "   Cloud Build runs as ${BUILD_SERVICE_ACCOUNT}; the Pub/Sub service agent is ${PUBSUB_AGENT}" >&2

echo "== Artifact Registry" >&2
if ! exists gcloud artifacts repositories describe "$REPOSITORY" --location="$REGION" "${p[@]}"; then
  change gcloud artifacts repositories create "$REPOSITORY" --location="$REGION" \
    --repository-format=docker --description="${SERVICE} images" "${p[@]}"
fi

echo "== Service accounts" >&2
for email in "$RUNTIME_SERVICE_ACCOUNT" "$PUSH_SERVICE_ACCOUNT"; do
  if [[ "$email" != *"@${PROJECT}.iam.gserviceaccount.com" ]]; then
    echo "   ${email} is not this project's; not creating it" >&2
  elif ! exists gcloud iam service-accounts describe "$email" "${p[@]}"; then
    case "$email" in
      "$PUSH_SERVICE_ACCOUNT") name="Pub/Sub push identity for ${SERVICE}" ;;
      *) name="${SERVICE} on Cloud Run" ;;
    esac
    change gcloud iam service-accounts create "${email%%@*}" --display-name="$name" "${p[@]}"
  fi
done
# Makes sure the Pub/Sub service agent exists before bindings name it (newer projects create
# it with the API). A beta command: without gcloud's beta component, the retries below wait.
change gcloud beta services identity create --service=pubsub.googleapis.com "${p[@]}" ||
  echo "   could not create the Pub/Sub service agent now; continuing" >&2

echo "== Topics" >&2
for topic in "$UNDERWRITING_TOPIC" "$COMPLETED_TOPIC" "$DEAD_LETTER_TOPIC"; do
  if ! exists gcloud pubsub topics describe "$topic" "${p[@]}"; then
    change gcloud pubsub topics create "$topic" "${p[@]}"
  fi
done
# A topic without a subscription drops what is published to it: this one keeps the dead letters
# (and never expires for lack of readers).
if ! exists gcloud pubsub subscriptions describe "$DEAD_LETTER_SUBSCRIPTION" "${p[@]}"; then
  change gcloud pubsub subscriptions create "$DEAD_LETTER_SUBSCRIPTION" --topic="$DEAD_LETTER_TOPIC" \
    --message-retention-duration="$DEAD_LETTER_RETENTION" --expiration-period=never "${p[@]}"
fi

echo "== Firestore (the execution ledger, docs/ledger.md)" >&2
db=(--database="$FIRESTORE_DATABASE")
if ! exists gcloud firestore databases describe "${db[@]}" "${p[@]}"; then
  change gcloud firestore databases create "${db[@]}" --location="$FIRESTORE_LOCATION" \
    --type=firestore-native "${p[@]}"
fi
# Records and the parts of large results are deleted once past their expireAt (LEDGER_TTL_DAYS);
# so are the operator actions, bulk re-run jobs and their items beside them (OPS_AUDIT_TTL_DAYS,
# docs/operations.md). Pauses are live state: they have no TTL.
for group in "$LEDGER_COLLECTION" parts "${LEDGER_COLLECTION}_audit" "${LEDGER_COLLECTION}_reruns" rerun_items; do
  change gcloud firestore fields ttls update expireAt --collection-group="$group" --enable-ttl \
    "${db[@]}" --async "${p[@]}"
done
# Not indexed on their own: the outcomes map (whole results, never queried by value), and the
# timestamps, whose ever-increasing values would funnel every write into one index range (a hot
# spot past ~500 writes/s); the composite indexes below cover the queries that need them.
for field in processors created_at updated_at lease_until expireAt published_at completed_at; do
  change gcloud firestore indexes fields update "$field" --collection-group="$LEDGER_COLLECTION" \
    --disable-indexes "${db[@]}" --async "${p[@]}"
done
# The operations queries (src/ledger/query-plan.ts; a test keeps this list equal to the queries the
# code makes): an underwriting's executions newest first; executions by status, or with a timeout,
# in a time range; a processor's outcomes over the last hour or day; every finished execution (the
# unfiltered list, the stats); status and processor together; a processor's (or any) FAILED or
# TIMEOUT runs, by error code too (outcome_tags), with or without a status; an underwriting id
# prefix.
for fields in "underwriting_id:ascending created_at:descending" \
  "overall_status:ascending completed_at:descending" \
  "has_timeout:ascending completed_at:descending" \
  "processor_ids:contains completed_at:descending" \
  "state:ascending completed_at:descending" \
  "overall_status:ascending processor_ids:contains completed_at:descending" \
  "has_timeout:ascending processor_ids:contains completed_at:descending" \
  "outcome_tags:contains completed_at:descending" \
  "overall_status:ascending outcome_tags:contains completed_at:descending" \
  "has_timeout:ascending outcome_tags:contains completed_at:descending" \
  "underwriting_id:ascending completed_at:descending"; do
  config=()
  for field in $fields; do
    case "${field#*:}" in
      contains) config+=(--field-config="field-path=${field%%:*},array-config=contains") ;;
      *) config+=(--field-config="field-path=${field%%:*},order=${field#*:}") ;;
    esac
  done
  change_unless_exists gcloud firestore indexes composite create --collection-group="$LEDGER_COLLECTION" \
    "${config[@]}" "${db[@]}" --async "${p[@]}"
done

echo "== IAM" >&2
# The service publishes processing.completed and dead letters; viewer lets /readyz prove that
# the completed topic exists.
runtime="serviceAccount:${RUNTIME_SERVICE_ACCOUNT}"
change_retried gcloud pubsub topics add-iam-policy-binding "$COMPLETED_TOPIC" \
  --member="$runtime" --role=roles/pubsub.publisher "${bind[@]}" "${p[@]}"
change_retried gcloud pubsub topics add-iam-policy-binding "$COMPLETED_TOPIC" \
  --member="$runtime" --role=roles/pubsub.viewer "${bind[@]}" "${p[@]}"
change_retried gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" \
  --member="$runtime" --role=roles/pubsub.publisher "${bind[@]}" "${p[@]}"
# An operator's re-run is a request published to the input topic (docs/operations.md).
change_retried gcloud pubsub topics add-iam-policy-binding "$UNDERWRITING_TOPIC" \
  --member="$runtime" --role=roles/pubsub.publisher "${bind[@]}" "${p[@]}"
# The ledger reads and writes its documents.
change_retried gcloud projects add-iam-policy-binding "$PROJECT" \
  --member="$runtime" --role=roles/datastore.user --condition=None "${bind[@]}" "${p[@]}"

# Cloud Build: run builds (read the uploaded source, write logs), deploy Cloud Run services, push
# to this repository, and deploy the service as the runtime service account.
build="serviceAccount:${BUILD_SERVICE_ACCOUNT}"
for role in roles/cloudbuild.builds.builder roles/run.admin; do
  change_retried gcloud projects add-iam-policy-binding "$PROJECT" \
    --member="$build" --role="$role" --condition=None "${bind[@]}" "${p[@]}"
done
change_retried gcloud artifacts repositories add-iam-policy-binding "$REPOSITORY" --location="$REGION" \
  --member="$build" --role=roles/artifactregistry.writer "${bind[@]}" "${p[@]}"
change_retried gcloud iam service-accounts add-iam-policy-binding "$RUNTIME_SERVICE_ACCOUNT" \
  --member="$build" --role=roles/iam.serviceAccountUser "${bind[@]}" "${p[@]}"

# Pub/Sub: sign push tokens as the push identity (needed by projects older than April 2021),
# and forward messages that exhaust their delivery attempts to the dead-letter topic.
agent="serviceAccount:${PUBSUB_AGENT}"
change_retried gcloud iam service-accounts add-iam-policy-binding "$PUSH_SERVICE_ACCOUNT" \
  --member="$agent" --role=roles/iam.serviceAccountTokenCreator "${bind[@]}" "${p[@]}"
change_retried gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" \
  --member="$agent" --role=roles/pubsub.publisher "${bind[@]}" "${p[@]}"

echo "== Done. Next: gcloud builds submit --config=cloudbuild.yaml, then deploy/subscribe.sh (see docs/deploying.md)" >&2
