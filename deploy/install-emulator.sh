#!/usr/bin/env bash
# Installs what `npm test` needs beyond Node on Debian (bookworm): gcloud, the official Pub/Sub
# and Firestore emulators and Java 17, from Google's apt repository, and jq (the deploy scripts'
# tests run deploy/scale-pull.sh, which reads Cloud Monitoring's JSON with it). cloudbuild.yaml's test step runs it;
# so can a developer on a fresh Debian machine (as root, or a user who may sudo). Safe to run
# again: it does nothing when everything is installed.
set -euo pipefail

KEYRING=/usr/share/keyrings/cloud.google.gpg
SOURCES=/etc/apt/sources.list.d/google-cloud-sdk.list
REPOSITORY="deb [signed-by=${KEYRING}] https://packages.cloud.google.com/apt cloud-sdk main"
# The emulator package also depends on a JDK (openjdk-17-jdk on bookworm), so apt brings that in.
PACKAGES=(google-cloud-cli google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator openjdk-17-jre-headless jq)

if [[ "$(id -u)" == 0 ]]; then as_root=(); else as_root=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for package in "${PACKAGES[@]}"; do
  installed "$package" || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  prerequisites=()
  for package in ca-certificates curl gpg; do
    installed "$package" || prerequisites+=("$package")
  done
  if ((${#prerequisites[@]} > 0)); then
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" apt-get install -y -q --no-install-recommends "${prerequisites[@]}"
  fi
  if [[ ! -s "$KEYRING" ]]; then
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg |
      gpg --dearmor | "${as_root[@]}" tee "$KEYRING" >/dev/null
  fi
  if [[ "$(cat "$SOURCES" 2>/dev/null)" != "$REPOSITORY" ]]; then
    echo "$REPOSITORY" | "${as_root[@]}" tee "$SOURCES" >/dev/null
  fi
  # Slim Debian images leave out man pages; the JDK's post-install step needs this folder.
  "${as_root[@]}" mkdir -p /usr/share/man/man1
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# What the tests look for (src/emulators/launcher.ts): gcloud on PATH, the emulators in its SDK, java.
gcloud --version | sed -n 1p
sdk_root="$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")"
test -x "${sdk_root}/platform/pubsub-emulator/bin/cloud-pubsub-emulator" || {
  echo "the Pub/Sub emulator is not in ${sdk_root}" >&2
  exit 1
}
test -x "${sdk_root}/platform/cloud-firestore-emulator/cloud_firestore_emulator" || {
  echo "the Firestore emulator is not in ${sdk_root}" >&2
  exit 1
}
java -version 2>&1 | sed -n 1p
