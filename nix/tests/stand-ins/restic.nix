# Stand-in for nixpkgs' services.restic.backups (nixos/modules/services/backup/restic.nix; tests only): the option and the oneshot unit restic-backups-<name>.service it defines for each backup.
{ lib, config, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.services.restic.backups = mkOption {
    type = types.attrsOf (
      types.submodule {
        options = {
          repository = mkOption {
            type = types.str;
            default = "";
          };
          paths = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
        };
      }
    );
    default = { };
  };

  # nixpkgs runs `restic backup` here; /bin/true lets systemd-analyze verify the unit.
  config.systemd.services = lib.mapAttrs' (
    name: _:
    lib.nameValuePair "restic-backups-${name}" {
      description = "restic backup ${name} (stand-in)";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "/bin/true";
      };
    }
  ) config.services.restic.backups;
}
