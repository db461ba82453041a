#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian bookworm machine, if missing:
# restic 0.14 (apt), restic 0.18 and 0.19 (Debian trixie's and sid's static binaries,
# unpacked into $RESTIC_018_PREFIX and $RESTIC_019_PREFIX without touching apt's
# state: scripts/install-restic.sh), promtool (Debian's prometheus), and
# the loopback servers the notification tests deliver to: an SMTP server (aiosmtpd),
# Prometheus' Pushgateway and node_exporter, the backends the backend tests verify
# through: a restic REST server (rclone), an SFTP server (openssh-server, with
# libnss-wrapper for a test user's ~/.ssh/config), an S3 API
# (moto from PyPI), and
# setpriv (util-linux) to run as the unprivileged service user (the tests start and
# stop them).
# For the operator tools: Debian's chromium (renders the HTML report headless), groff
# and man-db (man pages), bash-completion, zsh and fish (the completion tests drive
# each shell), GNU time (peak memory), binutils and dpkg-dev (cargo-deb strips the
# binary and computes Depends), and cargo-deb itself from crates.io
# (scripts/package.sh; pinned, about 2 minutes to compile on 2 cores); podman, runc
# and mmdebstrap for the container image (scripts/image.sh, scripts/image-test.sh).
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${RESTIC_018_PREFIX:-/opt/restic-0.18}
prefix019=${RESTIC_019_PREFIX:-/opt/restic-0.19}

need=()
command -v restic >/dev/null 2>&1 || need+=(restic)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tar >/dev/null 2>&1 || need+=(tar)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# nix-instantiate evaluates the NixOS module in the tests (tests/it/nixos.rs).
command -v nix-instantiate >/dev/null 2>&1 || need+=(nix-bin)
# Debian's python (not a pyenv one on PATH) has the aiosmtpd package; tests use it.
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
# tests/it/backends.rs: `rclone serve restic`, `/usr/sbin/sshd` with keys from
# ssh-keygen and the `ssh` restic starts, and setpriv for the service user.
command -v rclone >/dev/null 2>&1 || need+=(rclone)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# tests/it/backends_sftp.rs: nss_wrapper gives restic's and restic-verify's ssh a
# passwd home whose ~/.ssh/config holds the test server's alias.
ls /usr/lib/*-linux-gnu/libnss_wrapper.so >/dev/null 2>&1 || need+=(libnss-wrapper)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
command -v man >/dev/null 2>&1 || need+=(man-db)
# tests/it/completions.rs drives each shell's own completion function.
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
[ -x /usr/bin/time ] || need+=(time)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v strip >/dev/null 2>&1 || need+=(binutils)
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
# scripts/image.sh and scripts/image-test.sh: the container image (issue #25).
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# tests/it/backends_s3.rs: an S3 API on loopback (moto's server mode) and boto3 to
# damage a pack in it; pip of the python3 on PATH (where `moto_server` lands).
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' >/dev/null 2>&1; then
  echo "setup: installing moto[server] 5.2.1 with pip"
  python3 -m pip install --quiet 'moto[server]==5.2.1'
fi
scripts/install-restic.sh trixie "$prefix" >/dev/null
scripts/install-restic.sh sid "$prefix019" >/dev/null
# sshd refuses to start without its privilege separation directory (the tests start
# their own sshd on a loopback port; the package's service is not used).
if [ ! -d /run/sshd ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo mkdir -p -m 0755 /run/sshd
fi
cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $cargo_deb_version"; then
  echo "setup: installing cargo-deb $cargo_deb_version with cargo install (about 2 minutes)"
  started=$(date +%s)
  cargo install cargo-deb --version "$cargo_deb_version" --locked --quiet
  echo "setup: cargo-deb installed in $(($(date +%s) - started)) s"
fi
echo "setup: $(restic version | cut -d' ' -f1-2) at $(command -v restic); $("$prefix/usr/bin/restic" version | cut -d' ' -f1-2) at $prefix/usr/bin/restic; $("$prefix019/usr/bin/restic" version | cut -d' ' -f1-2) at $prefix019/usr/bin/restic; $(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3)"
