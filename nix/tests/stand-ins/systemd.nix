# Stand-in for nixpkgs' systemd options (nixos/modules/system/boot/systemd.nix, nixos/lib/systemd-unit-options.nix, systemd/tmpfiles.nix; tests only): systemd.services, systemd.timers and systemd.tmpfiles.rules with the fields restic-verify's module sets, merged as nixpkgs merges them.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # As nixpkgs' `unitOption`: a value, or a list of values that definitions concatenate
  # (each element becomes one `Key=` line).
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check = v: builtins.isBool v || builtins.isInt v || lib.isStringLike v || builtins.isList v;
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: builtins.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  common = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.str;
      default = "";
    };
    wantedBy = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    wants = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    after = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
  };

  service = types.submodule {
    options = common // {
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.oneOf [ types.package types.str ]);
        default = [ ];
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [ ];
      };
    };
  };

  timer = types.submodule {
    options = common // {
      timerConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };
in
{
  options.systemd = {
    services = mkOption {
      type = types.attrsOf service;
      default = { };
    };
    timers = mkOption {
      type = types.attrsOf timer;
      default = { };
    };
    tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}
