#!/usr/bin/env bash
# Times the whole-snapshot audit (issue #10) against `restic ls --json` of the same
# snapshot and against reading the source once (`tar cf - src | cat`), side by side.
#
#   benches/audit.sh [FILES] [REPS]      default 20000 files, 5 repetitions
#
# Generates the source with benches/gen-dataset.py (FILES small files in FILES/50
# directories plus one 64 MiB file) under $BENCH_DIR/audit-FILES (default
# <repo>/.bench), backs it up once with $RESTIC (default /usr/bin/restic, format 2),
# builds benches/audit (release) and prints the median seconds of each, the ratios,
# and the audit's peak RSS. Page cache warm: every command runs once before timing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
files=${1:-20000}
reps=${2:-5}
restic=${RESTIC:-/usr/bin/restic}
dir=${BENCH_DIR:-$root/.bench}/audit-$files
mkdir -p "$dir"
cd "$dir"
[ -f pw ] || echo audit-bench-password > pw
export RESTIC_PASSWORD_FILE=$dir/pw
if [ ! -f src.complete ]; then
  python3 "$here/gen-dataset.py" "$dir/src" --files "$files" --dirs $((files / 50)) \
    --large 1 --large-total-mib 64 >/dev/null
fi
if [ ! -d repo ]; then
  "$restic" -r repo init -q
  "$restic" -r repo backup -q --no-cache src
fi
(cd "$here/audit" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} cargo build -q --release)
bin=${CARGO_TARGET_DIR:-$root/target}/release/audit-bench

t() { # seconds of one run of "$@", output discarded
  local s e
  s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  echo "$e - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ls_cmd() { "$restic" -r repo --no-cache ls --json latest; }
tar_cmd() { tar cf - src | cat; }
audit_cmd() { "$bin" repo pw; }
for c in ls_cmd tar_cmd audit_cmd; do $c >/dev/null 2>&1; done  # warm the page cache

: > times
for _ in $(seq "$reps"); do
  for c in ls_cmd tar_cmd audit_cmd; do echo "$c $(t $c)" >> times; done
done
m() { grep "^$1 " times | cut -d' ' -f2 | median; }
ls_s=$(m ls_cmd); tar_s=$(m tar_cmd); audit_s=$(m audit_cmd)
echo "files=$files reps=$reps restic=$("$restic" version | cut -d' ' -f2)"
echo "restic ls --json: ${ls_s}s   tar|cat: ${tar_s}s   audit: ${audit_s}s"
echo "audit/ls = $(echo "scale=2; $audit_s / $ls_s" | bc)   audit/tar = $(echo "scale=2; $audit_s / $tar_s" | bc)"
echo "audit: $("$bin" repo pw 2>/dev/null)"
