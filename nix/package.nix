# restic-verify built from this checkout: `pkgs.callPackage ./nix/package.nix { }`
# (what flake.nix, its overlay and the NixOS module's default `package` do).
#
# restic is put on the binary's PATH by a wrapper, so the tool finds the restic it
# was built against wherever it runs; a profile's `restic` key or
# RESTIC_VERIFY_RESTIC still picks another one. The shipped systemd units, example
# profiles and the docs are installed beside it; the units point at this package's
# binary (for `systemd.packages` outside the NixOS module; the module writes its own).
{
  lib,
  rustPlatform,
  makeWrapper,
  restic,
  coreutils,
}:
let
  manifest = builtins.fromTOML (builtins.readFile ../Cargo.toml);
  root = toString ../.;
  # Only what the build reads: not target/, the 11 MB fixtures, benches or .git.
  # (tests/ because Cargo.toml declares the `it` test target there.)
  wanted = [
    "Cargo.toml"
    "Cargo.lock"
    "src"
    "tests"
    "systemd"
    "profiles"
    "docs"
    "README.md"
  ];
in
rustPlatform.buildRustPackage {
  pname = manifest.package.name;
  inherit (manifest.package) version;

  src = lib.cleanSourceWith {
    name = "restic-verify-source";
    src = ../.;
    filter =
      path: _type:
      builtins.elem (builtins.head (lib.splitString "/" (lib.removePrefix "${root}/" (toString path)))) wanted;
  };

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ makeWrapper ];

  # The unit tests only: the integration tests (tests/it) need the fixture
  # repositories, restic 0.14 and 0.18, promtool, systemd-analyze and loopback
  # servers, none of which the build sandbox has. scripts/test.sh runs them.
  cargoTestFlags = [
    "--lib"
    "--bins"
  ];

  postInstall = ''
    wrapProgram $out/bin/restic-verify --prefix PATH : ${lib.makeBinPath [ restic ]}

    install -Dm644 -t $out/lib/systemd/system systemd/*.service systemd/*.timer
    substituteInPlace $out/lib/systemd/system/*.service \
      --replace-fail /usr/local/bin/restic-verify $out/bin/restic-verify
    substituteInPlace $out/lib/systemd/system/restic-verify.service \
      --replace-fail /bin/kill ${coreutils}/bin/kill

    install -Dm644 -t $out/share/restic-verify/profiles profiles/*.toml
    install -Dm644 -t $out/share/doc/restic-verify README.md docs/*.md
  '';

  meta = {
    inherit (manifest.package) description;
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "restic-verify";
    platforms = lib.platforms.linux;
  };
}
