# Sourced by scripts/image.sh and scripts/image-test.sh: a `pm` function that runs
# podman the way it works on these machines (Debian bookworm's podman 4.3, as root,
# inside a VM whose cgroups are hybrid): runc, not crun ("cgroups in hybrid mode not
# supported"); cgroupfs, not systemd; the host network namespace (the default
# bridge rewrites ip_forward and iptables); ulimits root may set without
# CAP_SYS_RESOURCE; and a private store passed as --root/--runroot/--tmpdir flags
# (a CONTAINERS_STORAGE_CONF made every `run --rm` wait 20 s for conmon).
# Needs PODMAN_HOME (a directory for the store and the configuration).

podman_setup() {
  : "${PODMAN_HOME:?PODMAN_HOME must name a directory for the podman store}"
  mkdir -p "$PODMAN_HOME/root" "$PODMAN_HOME/runroot" "$PODMAN_HOME/tmp"
  cat >"$PODMAN_HOME/containers.conf" <<'EOF'
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF="$PODMAN_HOME/containers.conf"
}

pm() {
  podman --root "$PODMAN_HOME/root" --runroot "$PODMAN_HOME/runroot" \
    --tmpdir "$PODMAN_HOME/tmp" --storage-driver "${PODMAN_STORAGE_DRIVER:-vfs}" "$@"
}
