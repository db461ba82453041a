#!/usr/bin/env bash
# Builds the restic-verify container image without pulling a base image:
#   scripts/image.sh [--no-build | --bin PATH] [--out DIR]
# 1. `cargo build --release --locked` (--no-build: use target/release/restic-verify;
#    --bin: that binary, e.g. a debug build to try the scripts),
# 2. a root file system from Debian packages: `mmdebstrap --variant=extract` of
#    restic, rclone (rclone: backends and audits), openssh-client (sftp:),
#    ca-certificates, base-files, netbase and tzdata, with their dependencies (apt
#    resolves them; no maintainer script runs, so an --extract-hook writes what
#    they would have: /etc/passwd and /etc/group with the non-root user
#    `restic-verify` (uid/gid 10001, home /tmp, no login shell) and the CA bundle
#    /etc/ssl/certs/ca-certificates.crt); documentation, man pages and locales
#    are left out,
# 3. a `FROM scratch` Containerfile: the root file system, the binary, USER
#    10001, ENTRYPOINT ["restic-verify"]; no shell is needed and none is
#    installed (no package above pulls one in; the build fails if one appears),
# 4. `podman save --format oci-archive` to DIR/restic-verify-VERSION.oci.tar
#    (default DIR: target/image), its size in DIR/size.txt; the last line printed
#    is the archive's path.
# Debian suite: $SUITE (default trixie: restic 0.18, whose REST backend reads
# RESTIC_REST_USERNAME/PASSWORD from an env file), mirror $MIRROR (default
# http://deb.debian.org/debian). Needs podman, runc and mmdebstrap (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
bin=target/release/restic-verify
out=target/image
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0; shift ;;
    --bin) build=0; bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--no-build | --bin PATH] [--out DIR]" >&2; exit 2 ;;
  esac
done
suite=${SUITE:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || { echo "image: $tool not found; run scripts/setup.sh (apt-get install podman runc mmdebstrap)" >&2; exit 3; }
done
if [ "$build" = 1 ]; then
  cargo build --release --locked
fi
[ -x "$bin" ] || { echo "image: $bin missing; build it (cargo build --release) or drop --no-build" >&2; exit 3; }
version=$("$bin" --version | awk '{print $2}')

mkdir -p "$out"
out=$(cd "$out" && pwd)
ctx=$(mktemp -d "$out/context.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# What the binary links besides glibc (which every package here pulls in) must be
# in the root file system too.
extra=$(ldd "$bin" | awk '$1 !~ /^(linux-vdso|libc\.so|libm\.so|libgcc_s|ld-linux|\/lib64\/ld-linux|libdl|libpthread|librt)/ {print $1}')
if [ -n "$extra" ]; then
  echo "image: $bin links libraries the image does not provide: $extra" >&2
  exit 3
fi

started=$(date +%s)
mmdebstrap --quiet --variant=extract \
  --include=restic,rclone,openssh-client,ca-certificates,base-files,netbase,tzdata,libgcc-s1 \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
  --dpkgopt='path-exclude=/usr/share/zsh/*' \
  --extract-hook='printf "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nrestic-verify:x:10001:10001:restic-verify:/tmp:/usr/sbin/nologin\n" > "$1/etc/passwd"' \
  --extract-hook='printf "root:x:0:\nnogroup:x:65534:\nrestic-verify:x:10001:\n" > "$1/etc/group"' \
  --extract-hook='mkdir -p "$1/etc/ssl/certs" "$1/tmp" && chmod 1777 "$1/tmp" && cat "$1"/usr/share/ca-certificates/mozilla/*.crt > "$1/etc/ssl/certs/ca-certificates.crt"' \
  "$suite" "$ctx/rootfs.tar" "$mirror"
if tar tf "$ctx/rootfs.tar" | grep -Eq '^\./(usr/)?bin/(sh|bash|dash)$'; then
  echo "image: a shell came into the root file system; find which package pulls it in (apt-cache rdepends)" >&2
  exit 1
fi
echo "image: root file system ($suite) in $(($(date +%s) - started)) s, $(du -m "$ctx/rootfs.tar" | cut -f1) MiB"

# Without the line tables of the release profile (backtraces lose file:line; the
# binary shrinks from about 115 MiB to about 20).
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug -o "$ctx/restic-verify" "$bin"
else
  cp "$bin" "$ctx/restic-verify"
fi
cat >"$ctx/Containerfile" <<'EOF'
FROM scratch
ADD rootfs.tar /
COPY restic-verify /usr/bin/restic-verify
ENV PATH=/usr/bin HOME=/tmp TMPDIR=/tmp SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["restic-verify"]
EOF

export PODMAN_HOME=${PODMAN_HOME:-$out/podman}
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh
podman_setup
tag="localhost/restic-verify:$version"
pm build --quiet --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.title=restic-verify" -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
archive="$out/restic-verify-$version.oci.tar"
rm -f "$archive"
pm save --quiet --format oci-archive -o "$archive" "$tag"
size=$(stat -c %s "$archive")
echo "$size bytes ($((size / 1048576)) MiB): $(basename "$archive"), suite $suite, built $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$out/size.txt"
echo "image: $tag, $(cat "$out/size.txt")"
echo "$archive"
