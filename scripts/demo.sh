#!/usr/bin/env bash
# The built-in demo: builds restic-verify, makes a throw-away restic repository with
# three snapshots, runs a check job from a generated profile (rotating read-data
# subset, freshness, JSONL and Prometheus output) and a restore test, then flips one
# byte of a data pack and shows that plain `check` cannot see it while `--read-data`
# and a restore test of the affected file fail the run; on the way, an audit compares
# every file of the snapshot with the source and catches a byte flipped in the source.
# Needs nothing but restic (installed with apt-get when missing). Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v restic >/dev/null 2>&1; then
  echo "demo: installing restic with apt-get"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq restic >/dev/null
fi
# A debug build: the test suite shares it, and the demo's repository is small.
cargo build --quiet
rv="$PWD/target/debug/restic-verify"
demo=$(mktemp -d /tmp/restic-verify-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
cd "$demo"
umask 077
head -c 24 /dev/urandom | base64 > password
mkdir -p src/docs prom state
cp -r "$OLDPWD/fixtures/source/." src/docs/
head -c 3M /dev/urandom > src/photo.raw
export RESTIC_REPOSITORY="$demo/repo" RESTIC_PASSWORD_FILE="$demo/password" RESTIC_CACHE_DIR="$demo/cache"
restic init -q >/dev/null
for i in 1 2 3; do echo "edit $i" >> src/docs/notes.txt; restic backup -q --host demo src; done
unset RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR
cat > config.toml <<TOML
[defaults]
password-file = "password"
results = "results.jsonl"
metrics-dir = "prom"
state-dir = "state"

[repository.demo]
url = "$demo/repo"

[job.weekly-check]
kind = "check"
repositories = ["demo"]
read-data-subset = "rotate/3"
max-age = "48h"
min-snapshots = 3
TOML

echo; echo "== restic-verify validate --config config.toml"
"$rv" validate --config config.toml
echo; echo "== restic-verify run --config config.toml   (three runs: the rotation reads 1/3, 2/3, 3/3)"
for i in 1 2 3; do "$rv" -q run --config config.toml; done
echo; echo "== results.jsonl (last line)"; tail -n 1 results.jsonl
echo; echo "== prom/restic-verify-weekly-check.prom (excerpt)"
grep -E '^restic_verif(y_success|y_check_cycle_coverage_ratio|y_snapshots|ication_status)' prom/restic-verify-weekly-check.prom

echo; echo "== restic-verify restore-test: 10 random files restored with restic and compared (SHA-256) with src/"
"$rv" -q restore-test --repo "$demo/repo" --password-file password --name demo --sample 10 --always /src/photo.raw --test-dir "$demo"

echo; echo "== restic-verify audit: every file of the newest snapshot compared with src/, without restoring"
"$rv" -q audit --repo "$demo/repo" --password-file password --name demo
cp -p src/docs/README.txt readme.bak
python3 - src/docs/README.txt <<'PY'
import os, sys
p = sys.argv[1]; st = os.stat(p)
with open(p, "r+b") as f:
    b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 0x20]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
echo; echo "== bit rot in the source (one byte of src/docs/README.txt flipped, size and mtime kept): the audit names it"
set +e
"$rv" -q audit --repo "$demo/repo" --password-file password --name demo; acode=$?
set -e
echo "exit code $acode (1 = a file differs from the snapshot)"
[ "$acode" -eq 1 ] || { echo "demo: expected exit code 1 from the audit"; exit 1; }
cp -p readme.bak src/docs/README.txt

pack=$(find repo/data -type f -size +1M | head -n 1)
echo; echo "== flipping one byte in the middle of $(basename "$pack")"
python3 - "$pack" <<'PY'
import os, sys
p = sys.argv[1]; os.chmod(p, 0o600)
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 0xFF]))
PY
set +e
echo; echo "== restic-verify check (structure only): restic cannot see a flipped byte without reading data"
"$rv" -q check --repo "$demo/repo" --password-file password --name demo; echo "exit code $?"
echo; echo "== restic-verify check --read-data"
"$rv" -q check --repo "$demo/repo" --password-file password --name demo --read-data; code=$?
echo "exit code $code (1 = damage found)"
echo; echo "== restic-verify restore-test --always /src/photo.raw: the damaged file does not come back"
"$rv" -q restore-test --repo "$demo/repo" --password-file password --name demo --sample 3 --always /src/photo.raw --test-dir "$demo"; rcode=$?
echo "exit code $rcode (1 = damage found)"
set -e
[ "$rcode" -eq 1 ] || { echo "demo: expected exit code 1 from the restore test"; exit 1; }
[ "$code" -eq 1 ] || { echo "demo: expected exit code 1"; exit 1; }
echo; echo "demo: done; all temporary files removed"
