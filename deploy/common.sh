# Sourced by deploy/setup.sh and deploy/subscribe.sh (not run by itself).
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
MAX_DELIVERY_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-10}"
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

# Telemetry (deploy/telemetry.sh): where the collector sidecar's configuration is kept.
COLLECTOR_CONFIG_SECRET="${COLLECTOR_CONFIG_SECRET:-${SERVICE}-otel-collector}" # cloudbuild: _COLLECTOR_CONFIG_SECRET
