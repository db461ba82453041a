# Stand-in for nixpkgs' services.prometheus.exporters.node options (nixos/modules/services/monitoring/prometheus/exporters{,.nix,/node.nix}; tests only): the ones restic-verify's module reads.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.services.prometheus.exporters.node = {
    enable = lib.mkEnableOption "the Prometheus node exporter";
    enabledCollectors = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    disabledCollectors = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}
