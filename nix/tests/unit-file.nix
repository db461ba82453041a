# The unit files NixOS would write for evaluated systemd.services/timers entries (tests
# only, so `systemd-analyze verify` can read them). Follows nixpkgs'
# nixos/lib/systemd-lib.nix: a list value is one `Key=` line per element, booleans are
# `true`/`false`; wantedBy, which NixOS turns into symlinks, becomes [Install] WantedBy=.
{ lib }:
let
  inherit (lib) concatStrings concatStringsSep mapAttrsToList optional optionalString;

  toOption =
    x:
    if x == true then
      "true"
    else if x == false then
      "false"
    else
      toString x;

  section =
    name: attrs:
    let
      lines = concatStrings (
        lib.flatten (mapAttrsToList (k: v: map (x: "${k}=${toOption x}\n") (lib.toList v)) attrs)
      );
    in
    optionalString (lines != "") "[${name}]\n${lines}\n";

  unitSection =
    u:
    {
      Description = u.description;
    }
    // lib.optionalAttrs (u.wants or [ ] != [ ]) { Wants = concatStringsSep " " u.wants; }
    // lib.optionalAttrs (u.after or [ ] != [ ]) { After = concatStringsSep " " u.after; }
    // lib.optionalAttrs (!(u.restartIfChanged or true)) { X-RestartIfChanged = false; }
    // lib.optionalAttrs (u.reloadTriggers or [ ] != [ ]) {
      X-Reload-Triggers = concatStringsSep " " (map toString u.reloadTriggers);
    }
    // u.unitConfig;

  install = u: section "Install" (lib.optionalAttrs (u.wantedBy != [ ]) { WantedBy = concatStringsSep " " u.wantedBy; });

  environment =
    s:
    let
      path = lib.optionalAttrs (s.path != [ ]) {
        PATH = concatStringsSep ":" (lib.concatMap (p: [ "${p}/bin" "${p}/sbin" ]) s.path);
      };
    in
    mapAttrsToList (k: v: "\"${k}=${toString v}\"") (lib.filterAttrs (_: v: v != null) (s.environment // path));
in
{
  service =
    s:
    section "Unit" (unitSection s)
    + section "Service" ({ Environment = environment s; } // s.serviceConfig)
    + install s;

  timer = t: section "Unit" (unitSection t) + section "Timer" t.timerConfig + install t;
}
