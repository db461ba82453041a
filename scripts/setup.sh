#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian bookworm machine, if missing:
# restic 0.14 (apt), restic 0.18 (Debian trixie's static binary, unpacked into
# $RESTIC_018_PREFIX without touching apt's state), promtool (Debian's prometheus), and
# the loopback servers the notification tests deliver to: an SMTP server (aiosmtpd),
# Prometheus' Pushgateway and node_exporter, the backends the backend tests verify
# through: a restic REST server (rclone) and an SFTP server (openssh-server), and
# setpriv (util-linux) to run as the unprivileged service user (the tests start and
# stop them).
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${RESTIC_018_PREFIX:-/opt/restic-0.18}

need=()
command -v restic >/dev/null 2>&1 || need+=(restic)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tar >/dev/null 2>&1 || need+=(tar)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# nix-instantiate evaluates the NixOS module in the tests (tests/it/nix.rs).
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
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/install-restic-0.18.sh "$prefix" >/dev/null
# sshd refuses to start without its privilege separation directory (the tests start
# their own sshd on a loopback port; the package's service is not used).
if [ ! -d /run/sshd ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo mkdir -p -m 0755 /run/sshd
fi
echo "setup: $(restic version | cut -d' ' -f1-2) at $(command -v restic); $("$prefix/usr/bin/restic" version | cut -d' ' -f1-2) at $prefix/usr/bin/restic; $(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3)"
