#!/usr/bin/env bash
# The RTO check of BENCHMARKS.md ("RTO: estimate vs a full restore"): on the
# 200,004-file benchmark snapshot (benches/prepare.sh), per restic version and
# repetition, side by side:
#   1. `restic-verify restore-test --sample 100` with a fresh state dir, so it makes
#      its calibration calls; its estimate is restore_test.rto.seconds;
#   2. a timed `restic restore <id> --target DIR` of the whole snapshot (fresh cache,
#      fresh target; the removal afterwards is not timed).
# Prints one tab-separated line per repetition and appends the records to
# $BENCH_DIR/rto/results.jsonl.
#
# Both restore into $RTO_DIR (default $BENCH_DIR/rto): the restore test's test dir
# and the full restore's target, on the same file system. Point it at a file system
# like the ones restores go to. Not ext4 without a journal (this host's root): it
# skips recently freed inodes when it allocates new ones, a scan per new file, so a
# restore after a removal of many files ran 2-4x slower, for minutes after
# (BENCHMARKS.md, "RTO"). The figures in BENCHMARKS.md use an ext4 loop image with
# its default journal:
#   truncate -s 8G img && mkfs.ext4 -q img && mount -o loop img /mnt/td
#   RTO_DIR=/mnt/td benches/rto.sh
#
# Usage: RESTIC_VERIFY=/path/to/restic-verify BENCH_DIR=... benches/rto.sh [REPS]
# Needs jq, bc and ~4 GB free in $BENCH_DIR per full restore (removed after each).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-$(cd "$here/.." && pwd)/.bench}
RV=${RESTIC_VERIFY:?set RESTIC_VERIFY to a built restic-verify}
REPS=${1:-2}
VERSIONS=${VERSIONS:-"/usr/bin/restic /opt/restic-0.18/usr/bin/restic"}
[ -f "$BENCH_DIR/repo.complete" ] || { echo "run benches/prepare.sh first" >&2; exit 2; }
export RESTIC_REPOSITORY="$BENCH_DIR/repo" RESTIC_PASSWORD_FILE="$BENCH_DIR/password"
id=$(jq -r '.[0].id' "$BENCH_DIR/repo.complete")
out="$BENCH_DIR/rto"
dir=${RTO_DIR:-$out}
mkdir -p "$out" "$dir/td"
now() { date +%s.%N; }
printf 'restic\trep\testimate_s\tbasis\tcalls\tfull_restore_s\tratio\tload1\n'
for restic in $VERSIONS; do
  v=$("$restic" version | cut -d' ' -f2)
  for rep in $(seq 1 "$REPS"); do
    state=$(mktemp -d "$out/state-XXXXXX")
    "$RV" restore-test --repo "$BENCH_DIR/repo" --password-file "$BENCH_DIR/password" \
      --sample 100 --seed "$rep" --test-dir "$dir/td" --state-dir "$state" \
      --results "$out/results.jsonl" --restic "$restic" 2>>"$out/restore-test.log" || true
    rec=$(tail -n 1 "$out/results.jsonl")
    est=$(jq -r '.restore_test.rto.seconds // "null"' <<<"$rec")
    basis=$(jq -r '.restore_test.rto.basis // "null"' <<<"$rec")
    calls=$(jq -r '.restore_test.rto.calls' <<<"$rec")
    rm -rf "$state"
    target="$dir/full-$v-$rep" cache="$dir/cache-$v-$rep"
    rm -rf "$target" "$cache"
    start=$(now)
    "$restic" --cache-dir "$cache" restore "$id" --target "$target" </dev/null >/dev/null 2>"$out/full-$v-$rep.err"
    full=$(echo "$(now) - $start" | bc)
    load=$(cut -d' ' -f1 /proc/loadavg)
    rm -rf "$target" "$cache"
    ratio=$( [ "$est" = null ] && echo - || echo "scale=2; $est / $full" | bc )
    printf '%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n' "$v" "$rep" "$est" "$basis" "$calls" "$full" "$ratio" "$load"
  done
done
