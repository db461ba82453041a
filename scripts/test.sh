#!/usr/bin/env bash
# Runs every test: unit tests once, then the integration suite against each restic
# Debian ships: 0.14 (bookworm), 0.18 (trixie) and 0.19 (sid, forky), each the real
# binary. They differ in exit codes, JSON and flags, so the whole suite runs on each.
# Installs what is missing first (scripts/setup.sh); a missing restic fails the run.
# RESTIC_VERIFY_TEST_VERSIONS="0.14 0.19" narrows the integration runs (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
declare -A bins=(
  [0.14]="$(command -v restic)"
  [0.18]="${RESTIC_018_PREFIX:-/opt/restic-0.18}/usr/bin/restic"
  [0.19]="${RESTIC_019_PREFIX:-/opt/restic-0.19}/usr/bin/restic"
)
cargo build --all-targets --quiet
echo "== unit tests"
cargo test --quiet --lib
for version in ${RESTIC_VERIFY_TEST_VERSIONS:-0.14 0.18 0.19}; do
  bin=${bins[$version]:?unknown restic version $version (known: ${!bins[*]})}
  echo "== integration tests against $("$bin" version | cut -d' ' -f1-2) ($bin)"
  started=$(date +%s)
  RESTIC_VERIFY_TEST_RESTIC="$bin" cargo test --quiet --test it
  echo "== restic $version: integration tests took $(($(date +%s) - started)) s"
done
