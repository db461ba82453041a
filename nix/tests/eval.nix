# Evaluates nix/module.nix for a host (tests only): lib.evalModules over nixpkgs' lib
# with the stand-ins of ./stand-ins, and returns what tests/it/nix.rs asserts on, as
# JSON-friendly values: `nix-instantiate --eval --strict --json -A <attr>`.
{
  lib ? import <nixpkgs/lib>,
  # The host's modules (files or attribute sets), e.g. [ ../example.nix ].
  modules,
  # The module under test and the package set; flake-outputs.nix passes the flake's
  # nixosModules.default and the stand-in set with the flake's overlay.
  module ? ../module.nix,
  pkgs ? import ./stand-ins/pkgs.nix { inherit lib; },
}:
let
  eval = lib.evalModules {
    modules = [
      ./stand-ins/assertions.nix
      ./stand-ins/systemd.nix
      ./stand-ins/users.nix
      ./stand-ins/environment.nix
      ./stand-ins/prometheus.nix
      ./stand-ins/restic.nix
      module
      { _module.args.pkgs = pkgs; }
    ]
    ++ modules;
  };
  inherit (eval) config;
  unit = import ./unit-file.nix { inherit lib; };
  profile = config.environment.etc."restic-verify/config.toml".source or null;
in
{
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;

  # Unit file text by unit name (`restic-verify-weekly-check.service`).
  units =
    lib.mapAttrs' (n: s: lib.nameValuePair "${n}.service" (unit.service s)) config.systemd.services
    // lib.mapAttrs' (n: t: lib.nameValuePair "${n}.timer" (unit.timer t)) config.systemd.timers;

  # The profile's text (settings) and the path the units read it from.
  profile = {
    text = if profile == null then null else profile.text or null;
    source = if profile == null then null else toString profile;
    etc = builtins.attrNames config.environment.etc;
  };

  users = lib.mapAttrs (_: u: { inherit (u) isSystemUser group home; }) config.users.users;
  groups = builtins.attrNames config.users.groups;
  tmpfiles = config.systemd.tmpfiles.rules;
  jobs = config.services.restic-verify.jobs;
  inherit (config.services.restic-verify) metricsDir;

  # Store paths of the stand-in packages the units name, for tests to map to real
  # programs (the binary under test, /bin/kill).
  storePaths = {
    restic-verify = toString config.services.restic-verify.package;
    coreutils = toString pkgs.coreutils;
  };
}
