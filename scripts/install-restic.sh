#!/usr/bin/env bash
# Installs a newer restic than bookworm's from a later Debian suite's package into a
# private prefix, without touching the system's apt state (no new sources, no upgraded
# packages). restic in trixie (0.18) and sid (0.19) is a static Go binary; it only
# needs libc6 >= 2.34, which bookworm has.
# Usage: scripts/install-restic.sh SUITE PREFIX   -> the binary is PREFIX/usr/bin/restic
#   scripts/install-restic.sh trixie /opt/restic-0.18
#   scripts/install-restic.sh sid /opt/restic-0.19
set -euo pipefail
suite=${1:?usage: $0 SUITE PREFIX}
prefix=${2:?usage: $0 SUITE PREFIX}
if [ -x "$prefix/usr/bin/restic" ]; then
  "$prefix/usr/bin/restic" version
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
# Same mirror as the system's sources, the suite asked for.
uris=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$uris" ]; then
  uris=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
: "${uris:?cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources}"
cat > "$work/suite.sources" <<SRC
Types: deb
URIs: $uris
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o "Dir::Etc::SourceList=$work/suite.sources" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
      -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update
(cd "$work" && apt-get "${opts[@]}" -qq download "restic/$suite")
# Unpack into a temp dir first so a failed unpack leaves no half-installed prefix.
dpkg -x "$work"/restic_*.deb "$work/root"
mkdir -p "$prefix"
cp -a "$work/root/." "$prefix/"
"$prefix/usr/bin/restic" version
