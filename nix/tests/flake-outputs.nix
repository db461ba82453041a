# Evaluates flake.nix's outputs (tests only) with a stand-in nixpkgs input: nixpkgs'
# lib and the stand-in package set of ./stand-ins/pkgs.nix for every system. Flakes
# need no network here because the inputs are passed in by hand.
{
  lib ? import <nixpkgs/lib>,
}:
let
  flake = import ../../flake.nix;
  standIn = import ./stand-ins/pkgs.nix { inherit lib; };
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" ] (_: standIn);
  };
  outputs = flake.outputs {
    self = outputs;
    inherit nixpkgs;
  };

  pkg = outputs.packages.x86_64-linux.default;
  overlaid = lib.fix (final: standIn // outputs.overlays.default final standIn);
  host = import ./eval.nix {
    inherit lib;
    module = outputs.nixosModules.default;
    pkgs = overlaid;
    modules = [
      {
        services.restic-verify = {
          enable = true;
          settings.repository.nas.url = "/mnt/nas/restic";
          settings.job.weekly-check = {
            kind = "check";
            repositories = [ "nas" ];
          };
        };
      }
    ];
  };
  # Whether the package's source filter keeps a file (relative to the checkout).
  kept = p: pkg.args.src.filter "${toString pkg.args.src.origSrc}/${p}" "regular";
in
{
  inputs = builtins.attrNames flake.inputs;
  nixpkgsUrl = flake.inputs.nixpkgs.url;
  systems = builtins.attrNames outputs.packages;
  package = {
    path = toString pkg;
    inherit (pkg.args) pname version cargoTestFlags postInstall;
    lockFile = toString pkg.args.cargoLock.lockFile;
    nativeBuildInputs = map toString pkg.args.nativeBuildInputs;
    mainProgram = pkg.args.meta.mainProgram;
    sameAsNamed = toString pkg == toString outputs.packages.x86_64-linux.restic-verify;
    source = lib.genAttrs [
      "Cargo.toml"
      "Cargo.lock"
      "src/main.rs"
      "tests/it/main.rs"
      "systemd/restic-verify.service"
      "target/debug/restic-verify"
      "fixtures/repos/clean.tar.gz"
      ".git/HEAD"
      "benches/run.sh"
    ] kept;
  };
  storePaths = {
    restic = toString standIn.restic;
    makeWrapper = toString standIn.makeWrapper;
    coreutils = toString standIn.coreutils;
  };
  overlayPackage = toString overlaid.restic-verify;
  module = {
    inherit (host) failedAssertions units;
    package = host.storePaths.restic-verify;
  };
}
