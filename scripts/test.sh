#!/usr/bin/env bash
# Runs every test: unit tests once, then the integration suite against each restic
# Debian ships: 0.14 (bookworm), 0.18 (trixie) and 0.19 (sid, forky), each the real
# binary. The whole suite runs on 0.19, the newest; on 0.14 and 0.18 only the modules
# whose verdicts depend on restic's exit codes, JSON, messages and flags (the list
# below; docs/testing.md says why), so CI stays under 45 minutes on 2 cores.
# Installs what is missing first (scripts/setup.sh); a missing restic fails the run.
#   RESTIC_VERIFY_TEST_VERSIONS="0.14 0.19"  narrows the versions (default: all three)
#   RESTIC_VERIFY_TEST_ALL=1                 runs the whole suite on every version
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
declare -A bins=(
  [0.14]="$(command -v restic)"
  [0.18]="${RESTIC_018_PREFIX:-/opt/restic-0.18}/usr/bin/restic"
  [0.19]="${RESTIC_019_PREFIX:-/opt/restic-0.19}/usr/bin/restic"
)
full_version=0.19
# Modules that talk to restic in ways that changed between versions (exit codes,
# `check` and `restore` output, JSON fields, lock handling, repository formats) or
# read repositories restic wrote. Prefixes of test names (`module::`).
sensitive=(
  check:: check_new:: packread:: damage:: coverage:: fixtures::
  audit:: audit_cli:: restore_test:: rto:: backends secrets:: init::
)
cargo build --all-targets --quiet
echo "== unit tests"
cargo test --quiet --lib
for version in ${RESTIC_VERIFY_TEST_VERSIONS:-0.14 0.18 0.19}; do
  bin=${bins[$version]:?unknown restic version $version (known: ${!bins[*]})}
  filter=()
  what="the whole integration suite"
  if [[ $version != "$full_version" && -z ${RESTIC_VERIFY_TEST_ALL:-} ]]; then
    filter=("${sensitive[@]}")
    what="the restic-sensitive modules (${sensitive[*]})"
  fi
  echo "== $what against $("$bin" version | cut -d' ' -f1-2) ($bin)"
  started=$(date +%s)
  RESTIC_VERIFY_TEST_RESTIC="$bin" cargo test --quiet --test it -- "${filter[@]}"
  echo "== restic $version: integration tests took $(($(date +%s) - started)) s"
done
# Deployment artefacts, once (they do not depend on the restic version the tests use):
# the container image built from Debian's packages and run in podman + runc (the
# debug binary: a release build here takes too long for CI), and the Helm chart
# linted, rendered and validated offline.
echo "== container image: scripts/image.sh, scripts/image-test.sh"
started=$(date +%s)
scripts/image.sh --bin target/debug/restic-verify
scripts/image-test.sh
echo "== Helm chart: scripts/helm-test.sh"
scripts/helm-test.sh
echo "== image and chart took $(($(date +%s) - started)) s"

