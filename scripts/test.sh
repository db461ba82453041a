#!/usr/bin/env bash
# Runs every test: unit tests once, then the integration suite against restic 0.14
# (Debian bookworm's) and restic 0.18, each against the real binary.
# Installs what is missing first (scripts/setup.sh); a missing restic fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
prefix=${RESTIC_018_PREFIX:-/opt/restic-0.18}
cargo build --all-targets --quiet
echo "== unit tests"
cargo test --quiet --lib
for bin in "$(command -v restic)" "$prefix/usr/bin/restic"; do
  echo "== integration tests against $("$bin" version | cut -d' ' -f1-2) ($bin)"
  RESTIC_VERIFY_TEST_RESTIC="$bin" cargo test --quiet --test it
done
