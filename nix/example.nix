# restic-verify on a NixOS host with a NAS repository and an off-site one on B2.
# In the host's flake.nix:
#   inputs.restic-verify.url = "git+https://example.org/restic-verify.git";  # this repository
#   nixosConfigurations.nas = nixpkgs.lib.nixosSystem {
#     modules = [ restic-verify.nixosModules.default ./restic-verify.nix ./configuration.nix ];
#   };
# Secrets are decrypted at boot by agenix (/run/agenix/...) or sops-nix
# (/run/secrets/...), never copied into the Nix store: systemd hands each one to the
# service (LoadCredential=), and the profile reads it as $CREDENTIALS_DIRECTORY/<name>.
{ ... }:
{
  services.restic-verify = {
    enable = true;

    credentials = {
      nas-password = "/run/agenix/restic-nas"; # config.age.secrets.restic-nas.path
      b2-password = "/run/agenix/restic-b2";
      b2-env = "/run/secrets/restic-b2-env"; # sops-nix: B2_ACCOUNT_ID=..., B2_ACCOUNT_KEY=...
      healthchecks-url = "/run/secrets/healthchecks-url";
      ntfy-token = "/run/secrets/ntfy-token";
    };

    settings = {
      defaults = {
        lock-wait = "10m";
        notify = [ "healthchecks" ];
      };

      repository.nas = {
        url = "/mnt/nas/restic";
        password-file = "$CREDENTIALS_DIRECTORY/nas-password";
      };
      repository.b2 = {
        url = "b2:homelab-backups:restic";
        password-file = "$CREDENTIALS_DIRECTORY/b2-password";
        env-file = "$CREDENTIALS_DIRECTORY/b2-env";
        retries = 3;
      };

      # Weekly (the timer's default for a check): 1/12 of the packs each run, so
      # every pack is read once a quarter.
      job.weekly-check = {
        kind = "check";
        repositories = [ "nas" "b2" ];
        read-data-subset = "rotate/12";
        max-age = "48h";
        min-snapshots = 3;
        timeout = "6h";
      };

      # Monthly (the default for a restore test): 200 files of the newest snapshot,
      # restored and compared with the ZFS snapshot the backup was read from.
      job.monthly-restore-test = {
        kind = "restore-test";
        repositories = [ "nas" ];
        sample = 200;
        sample-by = "bytes";
        max-bytes = "5G";
        source = "zfs";
        zfs-dataset = "tank/home";
        notify = [ "healthchecks" "phone" ];
      };

      notify.healthchecks = {
        type = "healthchecks";
        url-file = "$CREDENTIALS_DIRECTORY/healthchecks-url";
      };
      notify.phone = {
        type = "ntfy";
        url = "https://ntfy.example.org/backups";
        token-file = "$CREDENTIALS_DIRECTORY/ntfy-token";
        states = [ "failure" "recovery" ];
      };
    };

    # The NAS repository is a local mount: restic writes a lock even to read.
    readWritePaths = [ "/mnt/nas/restic" ];
    # Check on Sunday nights instead of the default `weekly` (Monday 00:00).
    jobs.weekly-check.startAt = "Sun 02:00";
  };

  # metricsDir follows node_exporter's textfile directory: each job writes
  # restic-verify-<job>.prom there.
  services.prometheus.exporters.node = {
    enable = true;
    enabledCollectors = [ "textfile" ];
    extraFlags = [ "--collector.textfile.directory=/var/lib/prometheus-node-exporter" ];
  };
}
