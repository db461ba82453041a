# Stand-in for nixpkgs' services.prometheus.exporters.node options (nixos/modules/services/monitoring/prometheus/exporters{,.nix,/node.nix}; tests only): the ones restic-verify's module reads.
{ lib, config, ... }:
let
  inherit (lib) mkOption types;
in
{
  # nixpkgs defines the exporter's service; restic-verify's module only adds to it. The
  # program is Debian's node_exporter here, so systemd-analyze verify can check the unit.
  config.systemd.services.prometheus-node-exporter = lib.mkIf config.services.prometheus.exporters.node.enable {
    description = "Prometheus node exporter (stand-in)";
    serviceConfig.ExecStart = "/usr/bin/prometheus-node-exporter";
  };

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
