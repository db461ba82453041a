# Stand-in for nixpkgs' nixos/modules/system/etc/etc.nix (tests only): environment.etc.<name>.source, where restic-verify's module puts the profile.
{ lib, ... }:
{
  options.environment.etc = lib.mkOption {
    default = { };
    type = lib.types.attrsOf (
      lib.types.submodule {
        options.source = lib.mkOption {
          type = lib.types.path;
          description = "The file /etc/<name> links to.";
        };
      }
    );
  };
}
