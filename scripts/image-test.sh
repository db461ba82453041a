#!/usr/bin/env bash
# Smoke test of the container image (issue #25), in a real runtime (podman + runc):
#   scripts/image-test.sh [ARCHIVE]    (default: the newest target/image/*.oci.tar;
#                                       build it with scripts/image.sh)
# Loads the OCI archive into a private podman store and runs `restic-verify run`
# inside the container with a check, a restore test and an audit, each on
#   - `local`: the clean fixture repository bind-mounted at /repo/clean, password
#     from a file mounted read-only, and
#   - `rest`: the same repository served by `rclone serve restic` on the host's
#     loopback (reached through the host network namespace) behind basic auth,
#     password from an env file mounted read-only (the user and password of the
#     server in the URL: a secret that must not leak);
# the profile and the source tree mounted read-only, a read-only root file system,
# all capabilities dropped, results, metrics and state on a writable mount. Passes
# when the run exits 0 and every one of the six runs has a `pass` record and its
# job a metrics file, and no secret appears in them.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-$(ls -t target/image/restic-verify-*.oci.tar 2>/dev/null | head -1)}
[ -n "$archive" ] && [ -f "$archive" ] || { echo "image-test: no image archive; build one with scripts/image.sh" >&2; exit 3; }
for tool in podman runc rclone jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "image-test: $tool not found; run scripts/setup.sh" >&2; exit 3; }
done

work=$(mktemp -d /tmp/rv-image-test.XXXXXX)
rclone_pid=""
cleanup() {
  set +e
  if [ -n "$rclone_pid" ]; then
    kill "$rclone_pid" 2>/dev/null
    wait "$rclone_pid" 2>/dev/null
  fi
  # The store holds vfs layers and mounts: remove it through podman first.
  [ -d "$work/podman" ] && pm system reset --force >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

export PODMAN_HOME=$work/podman
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh
podman_setup
image=$(pm load --quiet -i "$archive" | sed -n 's/^Loaded image[^:]*: *//p' | tail -1)
[ -n "$image" ] || { echo "image-test: podman load of $archive named no image" >&2; exit 1; }

uid=10001
user=$(pm image inspect --format '{{.Config.User}}' "$image")
entry=$(pm image inspect --format '{{json .Config.Entrypoint}}' "$image")
[ "$user" = "$uid:$uid" ] || { echo "image-test: image user is '$user', want $uid:$uid" >&2; exit 1; }
[ "$entry" = '["restic-verify"]' ] || { echo "image-test: entrypoint is $entry" >&2; exit 1; }
if pm run --rm --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1; then
  echo "image-test: the image has a shell" >&2
  exit 1
fi
mkdir -p "$work/repos" "$work/rest" "$work/out" "$work/secrets" "$work/config"
tar xzf fixtures/repos/clean.tar.gz -C "$work/repos"
cp -a "$work/repos/clean" "$work/rest/clean"
tar xzf fixtures/source.tar.gz -C "$work"
# The pod reads the source as its own user (fsGroup in Kubernetes); one fixture
# file is 0600.
chown -R "$uid:$uid" "$work/repos" "$work/out" "$work/source"
rest_pass=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
printf 'fixture-password\n' >"$work/secrets/password"
printf '# backend credentials, mounted read-only like a Secret\nRESTIC_PASSWORD=fixture-password\n' >"$work/secrets/rest.env"
chown "$uid:$uid" "$work/secrets/password" "$work/secrets/rest.env"
chmod 0400 "$work/secrets/password" "$work/secrets/rest.env"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rclone serve restic --addr "127.0.0.1:$port" --user rv --pass "$rest_pass" "$work/rest" \
  >"$work/rclone.log" 2>&1 &
rclone_pid=$!
deadline=$(($(date +%s) + 60))
until curl -s -o /dev/null -u "rv:$rest_pass" "http://127.0.0.1:$port/clean/config"; do
  kill -0 "$rclone_pid" 2>/dev/null || { cat "$work/rclone.log" >&2; echo "image-test: rclone exited" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "image-test: rclone not serving after 60 s" >&2; exit 1; }
  sleep 0.2
done

cat >"$work/config/config.toml" <<EOF
[defaults]
results = "/out/results.jsonl"
metrics-dir = "/out"
state-dir = "/out/state"
test-dir = "/tmp"
map = ["/source=/src"]
sample = 5

[repository.local]
url = "/repo/clean"
password-file = "/run/secrets/restic-verify/password"

[repository.rest]
url = "rest:http://rv:$rest_pass@127.0.0.1:$port/clean"
env-file = "/run/secrets/restic-verify/rest.env"

[job.check]
kind = "check"
repositories = ["local", "rest"]

[job.restore]
kind = "restore-test"
repositories = ["local", "rest"]

[job.audit]
kind = "audit"
repositories = ["local", "rest"]
EOF
chmod 0644 "$work/config/config.toml"

started=$(date +%s)
set +e
pm run --rm --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -v "$work/config/config.toml:/etc/restic-verify/config.toml:ro" \
  -v "$work/secrets:/run/secrets/restic-verify:ro" \
  -v "$work/source:/src:ro" \
  -v "$work/repos/clean:/repo/clean" \
  -v "$work/out:/out" \
  "$image" run >"$work/run.log" 2>&1
code=$?
set -e
echo "image-test: restic-verify run in the container exited $code after $(($(date +%s) - started)) s"
fail() {
  cat "$work/run.log" >&2
  echo "image-test: FAILED: $*" >&2
  exit 1
}
[ "$code" = 0 ] || fail "exit $code, want 0"
for job in check restore audit; do
  for repo in local rest; do
    outcome=$(jq -r --arg j "$job" --arg r "$repo" 'select(.job == $j and .repository == $r) | .outcome' "$work/out/results.jsonl")
    [ "$outcome" = pass ] || fail "$job on $repo: outcome '${outcome:-no record}', want pass"
  done
  [ -s "$work/out/restic-verify-$job.prom" ] || fail "no metrics file restic-verify-$job.prom"
done
if grep -rqF -e "$rest_pass" -e fixture-password "$work/out" "$work/run.log"; then
  fail "a secret appears in the results, metrics or log"
fi
echo "image-test: ok: check, restore test and audit passed on a bind-mounted and a REST repository"
