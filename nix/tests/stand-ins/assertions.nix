# Stand-in for nixpkgs' nixos/modules/misc/assertions.nix (tests only): the `assertions` and `warnings` options.
{ lib, ... }:
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      default = [ ];
      description = "Conditions that must hold; NixOS refuses to build when one is false.";
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Messages printed when the system is built.";
    };
  };
}
