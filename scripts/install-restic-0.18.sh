#!/usr/bin/env bash
# Installs restic 0.18 from Debian trixie's package into a private prefix, without
# touching the system's apt state (no new sources, no upgraded packages).
# Usage: .ci/install-restic-0.18.sh PREFIX   -> the binary is PREFIX/usr/bin/restic
# trixie's restic is a static Go binary; it only needs libc6 >= 2.34, which bookworm has.
set -euo pipefail
prefix=${1:?usage: $0 PREFIX}
if [ -x "$prefix/usr/bin/restic" ]; then
  "$prefix/usr/bin/restic" version
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$prefix"
# Same mirror as the system's sources, suite trixie.
uris=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$uris" ]; then
  uris=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
: "${uris:?cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources}"
cat > "$work/trixie.sources" <<SRC
Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o "Dir::Etc::SourceList=$work/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
      -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update
(cd "$work" && apt-get "${opts[@]}" -qq download restic)
dpkg -x "$work"/restic_*.deb "$prefix"
"$prefix/usr/bin/restic" version
