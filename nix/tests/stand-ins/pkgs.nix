# Stand-in for the nixpkgs package set (tests only): nothing is built; packages are store paths that exist only as names, and writeText keeps its text readable (nix-instantiate --eval runs read-only and writes no file).
{ lib }:
let
  # A derivation-shaped value whose store path is derived from its name (the hash
  # letters are those of Nix's base-32 alphabet, which has no `e`).
  package =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${builtins.storeDir}/${
        builtins.replaceStrings [ "e" ] [ "0" ] (builtins.substring 0 32 (builtins.hashString "sha256" name))
      }-${name}";
    }
    // extra;

  self = {
    inherit lib;
    stdenv.hostPlatform.system = "x86_64-linux";

    writeText = name: text: {
      type = "derivation";
      inherit name text;
      outPath = builtins.toFile name text;
    };

    callPackage = lib.callPackageWith self;

    coreutils = package "coreutils-9.7" { };
    restic = package "restic-0.18.0" { };
    zfs = package "zfs-user-2.3.3" { };
    makeWrapper = package "make-shell-wrapper-hook" { };

    # The arguments are kept (passthru `args`) so tests can read what package.nix asks for.
    rustPlatform.buildRustPackage = args: package "${args.pname}-${args.version}" { inherit args; };
  };
in
self
