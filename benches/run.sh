#!/usr/bin/env bash
# Runs the restic-verify benchmarks (BENCHMARKS.md): builds, prepares the data once, measures.
#
#   benches/run.sh                      everything (~25 min on 2 cores with the data in place;
#                                       the first run adds ~3 min to generate and back up)
#   benches/run.sh --sections 2,5       only some sections (2, 3, 4, 5, 6, 7)
#   benches/run.sh --sections 3 --sizes 100,1000 --versions 0.18 --strategies single,sorted-200
#   benches/run.sh --help               all options of benches/bench.py
#   RESTIC_VERIFY=/path/to/restic-verify benches/run.sh ...   measure that binary, no build
#   benches/run.sh drill                the restore-drill sections 6, 7, 8 (issue #14; ~30 min)
#   benches/run.sh drill --sections 7 --versions 0.18 --pairs 5
#
# Needs: cargo, python3 (stdlib only), openssl, bc, restic 0.14 at $RESTIC_014
# (default /usr/bin/restic: `apt-get install restic` on bookworm), restic 0.18 at $RESTIC_018
# (default /opt/restic-0.18/usr/bin/restic: scripts/install-restic.sh trixie /opt/restic-0.18),
# fusermount and /dev/fuse for the `mount` strategy (it reports FAIL without them),
# ~12 GB free under $BENCH_DIR (default <repo>/.bench, git-ignored; reused between runs).
# Prints the figures; the raw numbers go to $BENCH_DIR/results/latest.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export BENCH_DIR=${BENCH_DIR:-$root/.bench}
export RESTIC_014=${RESTIC_014:-/usr/bin/restic}
export RESTIC_018=${RESTIC_018:-/opt/restic-0.18/usr/bin/restic}

script=bench.py
if [ "${1:-}" = drill ]; then
  script=drill.py
  shift
fi
for arg in "$@"; do
  case "$arg" in -h|--help) exec python3 "$here/$script" --help ;; esac
done
for tool in cargo python3 openssl bc "$RESTIC_014" "$RESTIC_018"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool not found (see the header of $0)" >&2; exit 1; }
done
mkdir -p "$BENCH_DIR/bin" "$BENCH_DIR/results"

# restic-verify: a pre-set $RESTIC_VERIFY is used as it is (e.g. built from a frozen
# `git worktree add ../bench-wt HEAD` while the working tree keeps changing); otherwise
# the binary as the working tree builds now, copied so that a rebuild during the run
# cannot change it.
if [ -n "${RESTIC_VERIFY:-}" ]; then
  [ -x "$RESTIC_VERIFY" ] || { echo "run.sh: RESTIC_VERIFY=$RESTIC_VERIFY is not executable" >&2; exit 1; }
  echo "run.sh: using RESTIC_VERIFY=$RESTIC_VERIFY as it is (no build)" >&2
else
  (cd "$root" && cargo build --release --quiet)
  cp "${CARGO_TARGET_DIR:-$root/target}/release/restic-verify" "$BENCH_DIR/bin/restic-verify"
  export RESTIC_VERIFY=$BENCH_DIR/bin/restic-verify
  # the commit it was built from (bench.py records it; the copy sits outside the tree)
  export BENCH_RV_REV=${BENCH_RV_REV:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo "?")}
fi
# the stand-alone sha2 probe (own Cargo.toml and lock file, same sha2 as Cargo.lock)
(cd "$here/sha" && cargo build --release --quiet --target-dir "$BENCH_DIR/sha-target")

"$here/prepare.sh"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
python3 "$here/$script" "$@" 2>&1 | tee "$BENCH_DIR/results/run-$stamp.log"
