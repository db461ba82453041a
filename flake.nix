{
  description = "restic-verify: verifies that restic backups can really be restored (scheduled checks, restore tests, metrics, alerts)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # restic-verify uses Linux-only interfaces (systemd credentials, signals, flock).
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        restic-verify = pkgs.callPackage ./nix/package.nix { };
        default = restic-verify;
      });

      overlays.default = final: _prev: {
        restic-verify = final.callPackage ./nix/package.nix { };
      };

      # services.restic-verify; the package is built with the host's own nixpkgs.
      nixosModules.default = ./nix/module.nix;
      nixosModules.restic-verify = self.nixosModules.default;
    };
}
