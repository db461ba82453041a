# Stand-in for nixpkgs' nixos/modules/config/users-groups.nix (tests only): the users.users and users.groups options restic-verify's module sets.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.users = {
    users = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule {
          options = {
            isSystemUser = mkOption {
              type = types.bool;
              default = false;
            };
            group = mkOption {
              type = types.str;
              default = "";
            };
            extraGroups = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
            home = mkOption {
              type = types.str;
              default = "/var/empty";
            };
            createHome = mkOption {
              type = types.bool;
              default = false;
            };
            description = mkOption {
              type = types.str;
              default = "";
            };
          };
        }
      );
    };
    groups = mkOption {
      default = { };
      type = types.attrsOf (types.submodule { options = { }; });
    };
  };
}
