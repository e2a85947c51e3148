# Sourced by the deploy scripts (not run by itself).
#
# The names both scripts use. Each can be overridden from the environment; the defaults are
# the ones cloudbuild.yaml's substitutions have, so a project set up with the defaults builds
# with the defaults (tests/unit/deploy.test.ts checks that they agree).

: "${PROJECT:?set PROJECT to the Google Cloud project id, e.g. PROJECT=my-project $0}"

REGION="${REGION:-us-central1}"                                  # cloudbuild: _REGION
REPOSITORY="${REPOSITORY:-processor-orchestrator}"               # cloudbuild: _REPOSITORY
SERVICE="${SERVICE:-processor-orchestrator}"                     # cloudbuild: _SERVICE
UNDERWRITING_TOPIC="${UNDERWRITING_TOPIC:-underwriting-created}" # cloudbuild: _UNDERWRITING_TOPIC
COMPLETED_TOPIC="${COMPLETED_TOPIC:-processing-completed}"       # cloudbuild: _COMPLETED_TOPIC
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-underwriting-created-dead-letter}" # cloudbuild: _DEAD_LETTER_TOPIC
# cloudbuild: _RUNTIME_SERVICE_ACCOUNT, _PUSH_SERVICE_ACCOUNT, _PUSH_AUDIENCE
RUNTIME_SERVICE_ACCOUNT="${RUNTIME_SERVICE_ACCOUNT:-processor-orchestrator@${PROJECT}.iam.gserviceaccount.com}"
PUSH_SERVICE_ACCOUNT="${PUSH_SERVICE_ACCOUNT:-pubsub-push@${PROJECT}.iam.gserviceaccount.com}"
PUSH_AUDIENCE="${PUSH_AUDIENCE:-processor-orchestrator-push-${PROJECT}}"
# Who may use /ops (cloudbuild: _OPS_READERS, _OPS_OPERATORS): emails or *@domain, separated by
# ; or spaces. deploy/subscribe.sh lets them through Cloud Run's IAM check.
OPS_READERS="${OPS_READERS:-}"
OPS_OPERATORS="${OPS_OPERATORS:-}"

# The execution ledger: the service's defaults (FIRESTORE_DATABASE, LEDGER_COLLECTION); the
# database lives where the service runs unless FIRESTORE_LOCATION says otherwise.
FIRESTORE_DATABASE="${FIRESTORE_DATABASE:-(default)}"
FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-${REGION}}"
LEDGER_COLLECTION="${LEDGER_COLLECTION:-executions}"

# Only the scripts use these.
DEAD_LETTER_SUBSCRIPTION="${DEAD_LETTER_SUBSCRIPTION:-${DEAD_LETTER_TOPIC}-sub}"
DEAD_LETTER_RETENTION="${DEAD_LETTER_RETENTION:-7d}"
PUSH_SUBSCRIPTION="${PUSH_SUBSCRIPTION:-${SERVICE}-push}"
# The service assumes 600 (PUSH_ACK_DEADLINE_SECONDS); set that variable too if you change it.
ACK_DEADLINE_SECONDS="${ACK_DEADLINE_SECONDS:-600}"
# A push refused because the instance is full (429) counts as a delivery attempt too: 30 attempts
# with backoff up to 600 s let a message be refused for about 4 hours before it is dead-lettered
# (docs/deploying.md#pubsubs-retries-and-a-full-fleet).
MAX_DELIVERY_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-30}"
MIN_RETRY_DELAY="${MIN_RETRY_DELAY:-10s}"
MAX_RETRY_DELAY="${MAX_RETRY_DELAY:-600s}"

# Prints a command the way a shell would read it back.
show() {
  local quoted
  printf -v quoted ' %q' "$@"
  printf '%s\n' "${quoted# }"
}

# Runs a command that changes something, after printing it on stderr. With DRY_RUN=1 it only
# prints it, on stdout, and the script goes on as if it had succeeded.
change() {
  if [[ "${DRY_RUN:-}" == 1 ]]; then
    show "$@"
    return 0
  fi
  printf '+ %s\n' "$(show "$@")" >&2
  "$@"
}

# Like `change`, retried for a minute: a principal created moments ago (a service account, the
# Pub/Sub service agent) can take that long before IAM accepts it in a binding.
change_retried() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if change "$@"; then return 0; fi
    echo "  (attempt ${attempt} failed; retrying in $((attempt * 5)) s)" >&2
    sleep $((attempt * 5))
  done
  change "$@"
}

# Like `change`, for a resource gcloud cannot describe by its definition (a composite index):
# creating one that exists fails with ALREADY_EXISTS, which counts as done.
change_unless_exists() {
  if [[ "${DRY_RUN:-}" == 1 ]]; then
    show "$@"
    return 0
  fi
  printf '+ %s\n' "$(show "$@")" >&2
  local output
  if ! output="$("$@" 2>&1)"; then
    if [[ "$output" == *ALREADY_EXISTS* ]]; then
      echo "   exists already" >&2
      return 0
    fi
    printf '%s\n' "$output" >&2
    return 1
  fi
  if [[ -n "$output" ]]; then printf '%s\n' "$output" >&2; fi
}

# Whether a `gcloud ... describe` finds the resource. Read-only, so it runs under DRY_RUN too.
exists() {
  "$@" >/dev/null 2>&1
}

# The project number (for the Google-managed service agents' addresses).
project_number() {
  gcloud projects describe "$PROJECT" --format='value(projectNumber)'
}

# Creates the subscription NAME on the input topic with SETTINGS... and the delivery policy every
# subscription of it has, or updates an existing one to them; then lets the Pub/Sub service agent
# ack what it dead-letters from it. Uses the caller's p (project) and bind (IAM output) flags.
input_subscription() {
  local name="$1"
  shift
  local settings=(
    "$@"
    # What is nacked or refused comes back with backoff, at most MAX_DELIVERY_ATTEMPTS times in
    # all, then goes to the dead-letter topic.
    --min-retry-delay="$MIN_RETRY_DELAY"
    --max-retry-delay="$MAX_RETRY_DELAY"
    --dead-letter-topic="$DEAD_LETTER_TOPIC"
    --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS"
    # Quiet weeks must not delete the subscription (the default: 31 days without deliveries).
    --expiration-period=never
  )
  if exists gcloud pubsub subscriptions describe "$name" "${p[@]}"; then
    change gcloud pubsub subscriptions update "$name" "${settings[@]}" "${p[@]}"
  else
    change gcloud pubsub subscriptions create "$name" --topic="$UNDERWRITING_TOPIC" "${settings[@]}" "${p[@]}"
  fi
  local number="${PROJECT_NUMBER:-$(project_number)}"
  change_retried gcloud pubsub subscriptions add-iam-policy-binding "$name" \
    --member="serviceAccount:service-${number}@gcp-sa-pubsub.iam.gserviceaccount.com" \
    --role=roles/pubsub.subscriber "${bind[@]}" "${p[@]}"
}

# Telemetry (deploy/telemetry.sh): where the collector sidecar's configuration is kept.
COLLECTOR_CONFIG_SECRET="${COLLECTOR_CONFIG_SECRET:-${SERVICE}-otel-collector}" # cloudbuild: _COLLECTOR_CONFIG_SECRET
# The Google-built OpenTelemetry Collector run beside the service (cloudbuild: _COLLECTOR_IMAGE).
COLLECTOR_IMAGE="${COLLECTOR_IMAGE:-us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.144.0}"

# How many events one instance (2 vCPU, 2 GiB) holds at once for the typical event: what the
# capacity bench (npm run bench, section capacity) measures an instance taking before its
# admission refuses, CPU, memory and event-loop lag together. Push: Cloud Run's --concurrency
# (cloudbuild: _CONCURRENCY); pull: the events each instance of the worker pool is counted for
# (deploy/scale-pull.sh). Measured: 1,000 (Cloud Run's most), an instance took 1,000 pushes at once.
# How to size it: docs/deploying.md#sizing.
CONCURRENCY="${CONCURRENCY:-1000}"

# Pull (deploy/pull.sh, deploy/scale-pull.sh): a Cloud Run worker pool on its own subscription.
WORKER_POOL="${WORKER_POOL:-${SERVICE}-pull}"
PULL_SUBSCRIPTION="${PULL_SUBSCRIPTION:-${SERVICE}-pull}"
# The service leases what it holds (15 s, renewed every 5 s): this only decides how soon an event
# held by an instance that died before its first renewal is delivered again.
PULL_ACK_DEADLINE_SECONDS="${PULL_ACK_DEADLINE_SECONDS:-60}"
# The scaler keeps the instance count within these, at about this share of CONCURRENCY per
# instance, and lowers it only once the backlog has stayed lower for SCALE_DOWN_WINDOW_SECONDS.
PULL_MIN_INSTANCES="${PULL_MIN_INSTANCES:-1}"
PULL_MAX_INSTANCES="${PULL_MAX_INSTANCES:-20}"
PULL_TARGET_PERCENT="${PULL_TARGET_PERCENT:-80}"
SCALE_DOWN_WINDOW_SECONDS="${SCALE_DOWN_WINDOW_SECONDS:-600}"
# scheduled: a Cloud Run job running deploy/scale-pull.sh every minute (Cloud Scheduler);
# none: set the count yourself (deploy/scale-pull.sh, or another autoscaler).
PULL_SCALER="${PULL_SCALER:-scheduled}"
SCALER_JOB="${SCALER_JOB:-${WORKER_POOL}-scaler}"
SCALER_SERVICE_ACCOUNT="${SCALER_SERVICE_ACCOUNT:-${SERVICE}-scaler@${PROJECT}.iam.gserviceaccount.com}"
SCALER_SCHEDULE="${SCALER_SCHEDULE:-* * * * *}"
