# NixOS module: services.restic-verify.
#
# It writes the profile (`settings`, rendered by ./toml.nix, or `configFile`) to
# /etc/restic-verify/config.toml, the path restic-verify reads by default, and runs
# the jobs either from one systemd timer + oneshot service per job
# (`restic-verify run <job>`, like systemd/restic-verify-{check,restore-test}@.*) or
# from one long-running `restic-verify daemon` service (like
# systemd/restic-verify.service). Every unit has the shipped units' hardening: a
# dedicated system user with CAP_DAC_READ_SEARCH and nothing else, KillMode=mixed so
# that only restic-verify is signalled and restic gets SIGINT from it (and removes
# its lock), StateDirectory/LogsDirectory/RuntimeDirectory (0700), a system call
# filter and a read-only file system otherwise.
#
# Secrets never enter the Nix store: `credentials` maps a name to the path of a
# file outside the store (an agenix or sops-nix secret, say) that systemd hands to
# the service with LoadCredential=; the profile names it
# `$CREDENTIALS_DIRECTORY/<name>`. A path inside the store, or a Nix path literal
# (which would be copied into it), fails an assertion.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    attrNames
    concatMap
    concatStringsSep
    filter
    filterAttrs
    hasPrefix
    mapAttrs'
    mapAttrsToList
    mkIf
    mkOption
    nameValuePair
    optional
    optionalAttrs
    types
    ;

  cfg = config.services.restic-verify;
  toml = import ./toml.nix { inherit lib; };

  user = "restic-verify";
  stateDir = "/var/lib/restic-verify";
  logsDir = "/var/log/restic-verify";
  configPath = "/etc/restic-verify/config.toml";

  useSettings = cfg.settings != { };
  settingsJobs = cfg.settings.job or { };

  # Defaults the module adds under [defaults]; a key the settings give wins (also in
  # [job.*], which beats [defaults] in restic-verify itself).
  injectedDefaults = lib.filterAttrs (_: v: v != null) {
    state-dir = stateDir;
    results = "${logsDir}/results.jsonl";
    metrics-dir = cfg.metricsDir;
    test-dir = cfg.testDir;
  };
  profile = lib.recursiveUpdate { defaults = injectedDefaults; } cfg.settings;
  profileText = toml.render profile;
  profileFile = pkgs.writeText "restic-verify.toml" profileText;
  profileSource = if useSettings then profileFile else cfg.configFile;

  # node_exporter's textfile directory, if this host runs it with the textfile
  # collector (on by default in node_exporter, so only a disabling counts) and a
  # directory. nixpkgs passes enabledCollectors as `--collector.<x>` and extraFlags
  # verbatim, so the directory may come as `--collector.textfile.directory=DIR`,
  # `... DIR` in one string or two, or as the collector `textfile.directory=DIR`.
  # `or` keeps this working on hosts whose option set lacks some of these.
  nodeExporter = config.services.prometheus.exporters.node or { };
  textfileDirectory =
    let
      flags = nodeExporter.extraFlags or [ ];
      collectors = nodeExporter.enabledCollectors or [ ];
      inOne =
        s:
        let
          m = builtins.match ".*--collector\\.textfile\\.directory[= ]+([^ ]+).*" s;
        in
        if m == null then null else builtins.head m;
      afterFlag = lib.imap0 (
        i: f:
        if f == "--collector.textfile.directory" && i + 1 < builtins.length flags then
          builtins.elemAt flags (i + 1)
        else
          null
      ) flags;
      asCollector = map (
        c:
        let
          m = builtins.match "textfile\\.directory[= ]+([^ ]+)" c;
        in
        if m == null then null else builtins.head m
      ) collectors;
      found = filter (d: d != null) (map inOne flags ++ afterFlag ++ asCollector);
      enabled =
        (nodeExporter.enable or false) && !(builtins.elem "textfile" (nodeExporter.disabledCollectors or [ ]));
    in
    if enabled && found != [ ] then builtins.head found else null;

  # /tmp and /var/tmp are private (PrivateTmp=yes) and writable in the units.
  privateTmp = p: p == "/tmp" || p == "/var/tmp" || hasPrefix "/tmp/" p || hasPrefix "/var/tmp/" p;
  ownDir = p: p == stateDir || p == logsDir || hasPrefix "${stateDir}/" p || hasPrefix "${logsDir}/" p;

  # Every directory the profile writes to, from [defaults] and every [job.*].
  profileTables = [ (profile.defaults or { }) ] ++ builtins.attrValues (profile.job or { });
  writtenDirs = lib.unique (
    concatMap (
      t:
      filter (d: d != null && builtins.isString d) [
        (t.metrics-dir or null)
        (t.test-dir or null)
        (t.state-dir or null)
        (if builtins.isString (t.results or null) then dirOf t.results else null)
      ]
    ) profileTables
  );
  readWritePaths =
    map (d: "-${d}") (filter (d: !(privateTmp d) && !(ownDir d) && hasPrefix "/" d) writtenDirs)
    ++ cfg.readWritePaths;

  # A ZFS restore test runs `zfs list/get`, which needs the zfs command and /dev/zfs.
  jobUsesZfs = job: (job.source or (profile.defaults.source or null)) == "zfs";
  anyUsesZfs = lib.any jobUsesZfs (builtins.attrValues settingsJobs);
  zfsPackage = config.boot.zfs.package or pkgs.zfs;

  credentialLines = mapAttrsToList (name: path: "${name}:${toString path}") cfg.credentials;

  # Everything the shipped units set besides what starts the process (compare
  # systemd/restic-verify-check@.service); `zfs`: the unit runs a ZFS restore test.
  hardening = zfs: {
    User = user;
    Group = user;
    AmbientCapabilities = "CAP_DAC_READ_SEARCH";
    CapabilityBoundingSet = "CAP_DAC_READ_SEARCH";
    LoadCredential = credentialLines;
    StateDirectory = "restic-verify";
    LogsDirectory = "restic-verify";
    RuntimeDirectory = "restic-verify";
    RuntimeDirectoryMode = "0700";
    RuntimeDirectoryPreserve = "yes";
    ReadWritePaths = readWritePaths;
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    PrivateTmp = true;
    NoNewPrivileges = true;
    PrivateDevices = !zfs;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictSUIDSGID = true;
    RestrictRealtime = true;
    RestrictNamespaces = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = false;
    SystemCallArchitectures = "native";
    RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6";
    SystemCallFilter = "@system-service";
    SystemCallErrorNumber = "EPERM";
    ProtectProc = "invisible";
    UMask = "0077";
    Nice = 19;
    IOSchedulingClass = "idle";
    # The stop signal reaches restic-verify alone, which sends SIGINT to restic.
    KillMode = "mixed";
    TimeoutStopSec = 120;
  }
  // optionalAttrs (!zfs) {
    # Not for `zfs`, which was not tried without the rest of /proc.
    ProcSubset = "pid";
  }
  // optionalAttrs zfs {
    # PrivateDevices=yes would hide /dev/zfs; keep every other device out.
    DevicePolicy = "closed";
    DeviceAllow = "/dev/zfs rw";
  };

  serviceCommon = zfs: {
    wants = [ "network-online.target" ];
    after = [ "network-online.target" ];
    environment.RESTIC_VERIFY_CONFIG = configPath;
    path = optional zfs zfsPackage;
  };

  bin = "${cfg.package}/bin/restic-verify";

  kindWord = job: lib.optionalString (job.kind != null) "${job.kind} ";
  timerJobs = filterAttrs (_: j: j.startAt != null && j.startAt != [ ]) cfg.jobs;

  # ------------------------------------------------------------------ assertions
  opt = "services.restic-verify";

  isStorePathLike = v: lib.isDerivation v || hasPrefix "${builtins.storeDir}/" (toString v) || (builtins.isString v && builtins.hasContext v);

  credentialAssertions = lib.flatten (
    mapAttrsToList (name: path: [
      {
        assertion = !(builtins.isPath path);
        message = "${opt}.credentials.${name} is the Nix path literal ${toString path}, which would be copied into the world-readable Nix store. Give the path of the decrypted secret as a string, e.g. \"/run/agenix/${name}\" or config.age.secrets.${name}.path (agenix), config.sops.secrets.${name}.path (sops-nix).";
      }
      {
        assertion = builtins.isPath path || !(isStorePathLike path);
        message = "${opt}.credentials.${name} = ${toString path} is inside the Nix store, which every local user can read: a secret must live outside it (agenix: /run/agenix/..., sops-nix: /run/secrets/...).";
      }
      {
        assertion = builtins.match "[A-Za-z0-9_.@-]+" name != null && name != "." && name != "..";
        message = "${opt}.credentials.\"${name}\": a credential name becomes a file name in $CREDENTIALS_DIRECTORY and may only contain letters, digits, `_`, `.`, `@` and `-`.";
      }
    ]) cfg.credentials
  );

  # Every string in the settings, with where it is.
  strings =
    where: v:
    if builtins.isAttrs v && !lib.isDerivation v then
      concatMap (k: strings "${where}.${k}" v.${k}) (attrNames v)
    else if builtins.isList v then
      concatMap (x: strings where x) v
    else if builtins.isString v then
      [ { inherit where; value = v; } ]
    else
      [ ];
  settingsStrings = strings "${opt}.settings" cfg.settings;

  credentialRefs = concatMap (
    s:
    let
      m = builtins.match "\\$\\{?CREDENTIALS_DIRECTORY}?/([^/]+).*" s.value;
    in
    if m == null then [ ] else [ (s // { name = builtins.head m; }) ]
  ) settingsStrings;

  secretKeys = [
    "password-file"
    "env-file"
    "url-file"
    "token-file"
  ];
  # `password-file`, `env-file`, ... anywhere in the settings with a store path.
  secretsInStore =
    let
      walk =
        where: v:
        if builtins.isAttrs v && !lib.isDerivation v then
          concatMap (
            k:
            if builtins.elem k secretKeys && (builtins.isPath v.${k} || isStorePathLike v.${k}) then
              [ "${where}.${k}" ]
            else
              walk "${where}.${k}" v.${k}
          ) (attrNames v)
        else
          [ ];
    in
    walk "${opt}.settings" cfg.settings;

  # restic-verify's own rule for job names; it also keeps unit names and ExecStart=
  # free of spaces and systemd's `%` specifiers.
  nameAssertions = map (name: {
    assertion = builtins.match "[A-Za-z0-9._-]+" name != null;
    message = "job `${name}` (${opt}.settings.job or ${opt}.jobs): a job name may only contain letters, digits, `.`, `_` and `-`; it names the units restic-verify-<job>.service/.timer.";
  }) (lib.unique (attrNames settingsJobs ++ attrNames cfg.jobs));

  jobAssertions =
    nameAssertions
    ++ (
      if cfg.daemon.enable then
        mapAttrsToList (name: _: {
          assertion = false;
          message = "${opt}.jobs.${name} gives job `${name}` a timer, but ${opt}.daemon.enable runs the jobs on their `schedule`: use the timers or the daemon, not both (the job would run twice).";
        }) cfg.jobs
        ++ mapAttrsToList (name: job: {
          assertion = job ? schedule;
          message = "${opt}.daemon.enable is set, but ${opt}.settings.job.${name} has no `schedule`: the daemon would never run it. Give it one (e.g. schedule = \"0 3 * * 0\", crontab's 5 fields, or \"@weekly\"), or run the jobs from timers instead of the daemon.";
        }) settingsJobs
      else
        mapAttrsToList (name: job: {
          assertion = (job.startAt != null && job.startAt != [ ]) || job.afterBackups != [ ];
          message =
            "${opt}.jobs.${name} has no timer (startAt is empty), no afterBackups and ${opt}.daemon.enable is off: job `${name}` would never run."
            + (
              if job.kind == null then
                " Its kind is unknown (the profile comes from configFile): set ${opt}.jobs.${name}.kind (\"check\" and \"audit\": weekly, \"restore-test\": monthly) or ${opt}.jobs.${name}.startAt."
              else
                " Set ${opt}.jobs.${name}.startAt (a systemd calendar expression such as \"weekly\"), or enable the daemon."
            );
        }) cfg.jobs
        ++ concatMap (
          name:
          map (backup: {
            assertion = (config.services.restic.backups or { }) ? ${backup};
            message = "${opt}.jobs.${name}.afterBackups names `${backup}`, but services.restic.backups has no `${backup}`: no unit restic-backups-${backup}.service would start job `${name}`. Name one of: ${concatStringsSep ", " (attrNames (config.services.restic.backups or { }))}.";
          }) cfg.jobs.${name}.afterBackups
        ) (attrNames cfg.jobs)
        ++ lib.optionals useSettings (
          mapAttrsToList (name: _: {
            assertion = settingsJobs ? ${name};
            message = "${opt}.jobs.${name} has a timer, but the settings have no [job.${name}]: `restic-verify run ${name}` would fail. Add ${opt}.settings.job.${name} or remove the timer.";
          }) cfg.jobs
        )
    );
in
{
  options.services.restic-verify = {
    enable = lib.mkEnableOption "restic-verify, which checks restic repositories and runs restore tests on a schedule";

    package = mkOption {
      type = types.package;
      # The flake's overlay provides pkgs.restic-verify; without it, build this checkout.
      default = pkgs.restic-verify or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.restic-verify or (pkgs.callPackage ./nix/package.nix { })";
      description = "The restic-verify package (restic is on its PATH).";
    };

    settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf toml.type; };
      default = { };
      example = lib.literalExpression ''
        {
          defaults.password-file = "$CREDENTIALS_DIRECTORY/restic-password";
          repository.nas.url = "/mnt/nas/restic";
          job.weekly-check = {
            kind = "check";
            repositories = [ "nas" ];
            read-data-subset = "rotate/12";
          };
        }
      '';
      description = ''
        The profile (see docs/config.md), written as TOML to ${configPath}. The module
        adds under [defaults], unless given: `state-dir` (${stateDir}), `results`
        (${logsDir}/results.jsonl), `metrics-dir` (metricsDir) and `test-dir` (testDir).
        Secrets: `"$CREDENTIALS_DIRECTORY/<name>"` with `credentials.<name>`.
        Mutually exclusive with configFile.
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/etc/nixos/restic-verify.toml";
      description = ''
        A profile written by hand, instead of settings; linked to ${configPath} (a string
        equal to that path means the file is managed outside NixOS). The module cannot
        read it: its jobs get a timer through `jobs.<name>` (give `kind` or `startAt`)
        or run from the daemon; metricsDir, testDir and readWritePaths should match the
        directories it names; a ZFS restore test (`source = "zfs"`) needs
        `systemd.services.<unit>.serviceConfig` to allow /dev/zfs (settings do this).
      '';
    };

    credentials = mkOption {
      type = types.attrsOf types.path;
      default = { };
      example = {
        restic-password = "/run/agenix/restic-password";
        healthchecks-url = "/run/secrets/healthchecks-url";
      };
      description = ''
        Secrets passed to the services with systemd's LoadCredential=: name → absolute
        path of a file outside the Nix store (read by systemd as root, so it may be
        readable by root only). The service sees it as `$CREDENTIALS_DIRECTORY/<name>`,
        which is how the profile refers to it.
      '';
    };

    jobs = mkOption {
      default = { };
      description = ''
        Timers of the profile's jobs, each starting a oneshot service
        restic-verify-<name> (`restic-verify run <name>`). Every job of `settings.job`
        gets one (weekly for kinds "check" and "audit", monthly for "restore-test"); set an entry to
        change it. Must stay empty with daemon.enable.
      '';
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              kind = mkOption {
                type = types.nullOr (
                  types.enum [
                    "check"
                    "audit"
                    "restore-test"
                  ]
                );
                default = settingsJobs.${name}.kind or null;
                defaultText = lib.literalExpression "settings.job.<name>.kind";
                description = "The job's kind; picks the default startAt and RandomizedDelaySec. Needed with configFile.";
              };
              startAt = mkOption {
                type = types.nullOr (types.either types.str (types.listOf types.str));
                default =
                  if config.afterBackups != [ ] then
                    null
                  else
                    {
                      check = "weekly";
                      audit = "weekly";
                      restore-test = "monthly";
                    }
                    .${toString config.kind} or null;
                defaultText = lib.literalExpression ''null with afterBackups, else "weekly" for kinds "check" and "audit", "monthly" for "restore-test"'';
                example = "Sun 03:00";
                description = "When the job runs: systemd calendar expression(s) (OnCalendar=).";
              };
              afterBackups = mkOption {
                type = types.listOf types.str;
                default = [ ];
                example = [ "nas" ];
                description = ''
                  Names of services.restic.backups whose unit (restic-backups-<name>.service)
                  starts this job once it succeeds (OnSuccess=; a failed backup does not
                  start it). Meant for a check job with `read-data-subset = "new"`, which
                  reads back exactly the packs the backup wrote. With it, startAt defaults
                  to null (no timer); runs on one repository stay serialised by
                  restic-verify's lock.
                '';
              };
              randomizedDelaySec = mkOption {
                type = types.either types.str types.ints.unsigned;
                default = if config.kind == "restore-test" then "6h" else "2h";
                defaultText = lib.literalExpression ''"2h", or "6h" for kind "restore-test"'';
                description = "RandomizedDelaySec= of the timer: spreads many hosts and repositories.";
              };
              persistent = mkOption {
                type = types.bool;
                default = true;
                description = "Persistent= of the timer: a run missed while the machine was off starts at the next boot.";
              };
            };
          }
        )
      );
    };

    daemon.enable = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Run `restic-verify daemon`, one long-running service that runs every job on its
        profile `schedule` (cron), instead of one timer per job. `systemctl reload
        restic-verify` (and a changed profile on `nixos-rebuild switch`) sends SIGHUP,
        which re-reads the profile without interrupting a running job.
      '';
    };

    testDir = mkOption {
      type = types.nullOr types.str;
      default = "/var/tmp";
      example = "/srv/restore-test";
      description = ''
        `[defaults] test-dir`: where restore tests restore into (a private 0700
        directory, removed after each run). /var/tmp is private to the service
        (PrivateTmp=yes) and on disk; another directory is created for the service user
        and made writable. null: leave it to the profile.
      '';
    };

    metricsDir = mkOption {
      type = types.nullOr types.str;
      default = textfileDirectory;
      defaultText = lib.literalExpression "node_exporter's --collector.textfile.directory when services.prometheus.exporters.node runs the textfile collector, else null";
      example = "/var/lib/prometheus-node-exporter";
      description = ''
        `[defaults] metrics-dir`: node_exporter's textfile directory, where each job
        writes restic-verify-<job>.prom (mode 0640, the directory's group). The module
        creates it (root, group restic-verify, mode 0775) so the service can write, and
        adds restic-verify to node_exporter's SupplementaryGroups when this host runs
        services.prometheus.exporters.node, so it can read.
      '';
    };

    readWritePaths = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/mnt/nas/restic" ];
      description = ''
        More ReadWritePaths= for the units, e.g. a local repository (restic writes its
        lock even to read). The profile's metrics, test, state and results directories
        are added without asking.
      '';
    };
  };

  config = mkIf cfg.enable {
    # Every job of the settings gets a timer unless the daemon runs them.
    services.restic-verify.jobs = mkIf (!cfg.daemon.enable) (lib.mapAttrs (_: _: { }) settingsJobs);

    assertions = [
      {
        assertion = !(useSettings && cfg.configFile != null);
        message = "${opt}.settings and ${opt}.configFile are both set: the profile comes from one of them. Keep settings (rendered to ${configPath}) or configFile.";
      }
      {
        assertion = useSettings || cfg.configFile != null;
        message = "${opt} is enabled without a profile: set ${opt}.settings (or ${opt}.configFile).";
      }
    ]
    ++ credentialAssertions
    ++ map (s: {
      assertion = cfg.credentials ? ${s.name};
      message = "${s.where} refers to $CREDENTIALS_DIRECTORY/${s.name}, but ${opt}.credentials has no `${s.name}`: the service would not have that file. Add ${opt}.credentials.${s.name} = \"/run/agenix/${s.name}\" (the secret's path).";
    }) credentialRefs
    ++ map (where: {
      assertion = false;
      message = "${where} points into the Nix store, which every local user can read. Pass the secret with ${opt}.credentials.<name> = \"/run/agenix/...\" and write \"$CREDENTIALS_DIRECTORY/<name>\" here.";
    }) secretsInStore
    ++ jobAssertions
    ++ [
      {
        assertion = cfg.daemon.enable || cfg.jobs != { };
        message = "${opt} has no job to run: the settings define no [job.*], ${opt}.jobs is empty and ${opt}.daemon.enable is off. Add a job (settings.job.<name>, or jobs.<name> with configFile) or enable the daemon.";
      }
    ];

    warnings = lib.optionals (!cfg.daemon.enable) (
      mapAttrsToList (name: _: "${opt}.settings.job.${name}.schedule is only read by the daemon; the job's timer runs at ${opt}.jobs.${name}.startAt.") (
        filterAttrs (_: j: j ? schedule) settingsJobs
      )
    );

    users.users.${user} = {
      isSystemUser = true;
      group = user;
      # ssh (SFTP repositories) reads ~/.ssh of the passwd home.
      home = stateDir;
      description = "restic-verify";
    };
    users.groups.${user} = { };

    environment.etc."restic-verify/config.toml" = mkIf (useSettings || (cfg.configFile != null && toString cfg.configFile != configPath)) {
      source = profileSource;
    };

    systemd.tmpfiles.rules =
      optional (cfg.metricsDir != null) "d ${cfg.metricsDir} 0775 root ${user} - -"
      ++ optional (cfg.testDir != null && !(privateTmp cfg.testDir)) "d ${cfg.testDir} 0700 ${user} ${user} - -";

    systemd.services = lib.mkMerge [
      # Textfiles are written 0640 with the group of their directory (restic-verify,
      # from the rule above): node_exporter reads them as a member of that group.
      (mkIf (cfg.metricsDir != null && (nodeExporter.enable or false)) {
        prometheus-node-exporter.serviceConfig.SupplementaryGroups = [ user ];
      })
      (if cfg.daemon.enable then
        {
          restic-verify = serviceCommon anyUsesZfs // {
            description = "restic-verify scheduler daemon";
            wantedBy = [ "multi-user.target" ];
            # A new profile is read on SIGHUP; the running job goes on.
            reloadTriggers = [ "${profileSource}" ];
            serviceConfig = hardening anyUsesZfs // {
              Type = "exec";
              ExecStart = "${bin} daemon";
              ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
              # SIGTERM and SIGINT both stop the daemon cleanly (SIGINT to restic).
              KillSignal = "SIGTERM";
              Restart = "on-failure";
              RestartSec = 60;
            };
          };
        }
      else
        mapAttrs' (
          name: job:
          let
            zfs = jobUsesZfs (settingsJobs.${name} or { });
          in
          nameValuePair "restic-verify-${name}" (
            serviceCommon zfs
            // {
              description = "restic-verify ${kindWord job}job ${name}";
              # A switch must not cut a running check or restore test short.
              restartIfChanged = false;
              serviceConfig = hardening zfs // {
                Type = "oneshot";
                ExecStart = "${bin} run ${name}";
                # restic removes its lock on SIGINT; on SIGTERM restic 0.14 dies and leaves it.
                KillSignal = "SIGINT";
              };
            }
          )
        ) cfg.jobs)
      # Each backup unit named in afterBackups starts the job once it succeeded.
      (mkIf (!cfg.daemon.enable) (
        lib.mkMerge (
          concatMap (
            name:
            map (backup: {
              "restic-backups-${backup}" = {
                unitConfig.OnSuccess = [ "restic-verify-${name}.service" ];
              };
            }) cfg.jobs.${name}.afterBackups
          ) (attrNames cfg.jobs)
        )
      ))
    ];

    systemd.timers = mkIf (!cfg.daemon.enable) (
      mapAttrs' (
        name: job:
        nameValuePair "restic-verify-${name}" {
          description = "restic-verify ${kindWord job}job ${name} (${concatStringsSep ", " (lib.toList job.startAt)})";
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = job.startAt;
            RandomizedDelaySec = job.randomizedDelaySec;
            Persistent = job.persistent;
          };
        }
      ) timerJobs
    );
  };
}
