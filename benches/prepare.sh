#!/usr/bin/env bash
# Builds the benchmark's work data under $BENCH_DIR (default: <repo>/.bench, git-ignored),
# reusing whatever is already there:
#   data/src/        seeded source tree (benches/gen-dataset.py): 200,000 files of 1-8 KiB
#                    in 2,000 dirs + 4 files of 512 MiB
#   repo/            restic repository, one snapshot of data/src backed up by restic 0.14
#                    by absolute path (`restic backup $BENCH_DIR/data/src`)
#   password         the repository password
# Takes ~5 min the first time (generation + backup), seconds afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$root/.bench}
RESTIC_014=${RESTIC_014:-/usr/bin/restic}
SEED=${DATASET_SEED:-42}

mkdir -p "$BENCH_DIR"
"$here/gen-dataset.py" "$BENCH_DIR/data/src" --seed "$SEED"

export RESTIC_REPOSITORY="$BENCH_DIR/repo" RESTIC_PASSWORD_FILE="$BENCH_DIR/password"
[ -f "$RESTIC_PASSWORD_FILE" ] || (umask 077; echo "bench-password-$SEED" > "$RESTIC_PASSWORD_FILE")
if [ ! -f "$BENCH_DIR/repo.complete" ]; then
  rm -rf "$BENCH_DIR/repo" "$BENCH_DIR/cache-backup"
  "$RESTIC_014" init < /dev/null
  echo "prepare: backing up $BENCH_DIR/data/src with $("$RESTIC_014" version | cut -d' ' -f1-2)" >&2
  start=$(date +%s)
  "$RESTIC_014" --cache-dir "$BENCH_DIR/cache-backup" backup --quiet --host bench \
    --time "2024-01-02 00:00:00" "$BENCH_DIR/data/src" < /dev/null
  echo "prepare: backup took $(( $(date +%s) - start )) s" >&2
  rm -rf "$BENCH_DIR/cache-backup"
  "$RESTIC_014" --no-cache snapshots --json < /dev/null > "$BENCH_DIR/repo.complete"
fi
echo "prepare: repository $(du -sh "$BENCH_DIR/repo" | cut -f1), source $(du -sh "$BENCH_DIR/data/src" | cut -f1)" >&2
