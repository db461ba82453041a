//! The flake and the NixOS module (`flake.nix`, `nix/`), evaluated with Debian's
//! `nix-instantiate --eval` (read-only, `--store dummy://`: nothing is built or
//! written) over nixpkgs' `lib` and the stand-in option declarations of
//! `nix/tests/stand-ins/`. The units the module generates are rendered to unit files
//! (`nix/tests/unit-file.nix`) and checked with `systemd-analyze verify`; the profile
//! it renders passes `restic-verify validate` and drives a real check and restore test;
//! docs/deployment.md's NixOS example is `nix/example.nix`, evaluated here.
//!
//! nixpkgs' lib comes from `NIXPKGS_LIB`, else `../shared/nixpkgs-lib/lib` beside the
//! checkout, else `<nixpkgs/lib>`. Without nix-instantiate or a lib each test says
//! why and passes, except under `CI=true`, where that fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use rstest::rstest;
use serde_json::Value;

use crate::util::{self, TestEnv};

/// A host with a check job and a ZFS restore-test job, secrets from agenix and sops-nix.
const HOST: &str = r#"{ ... }:
{
  services.restic-verify = {
    enable = true;
    credentials = {
      restic-password = "/run/agenix/restic-password";
      healthchecks-url = "/run/secrets/healthchecks-url";
    };
    settings = {
      defaults.password-file = "$CREDENTIALS_DIRECTORY/restic-password";
      repository.nas.url = "/mnt/nas/restic";
      job.weekly-check = {
        kind = "check";
        repositories = [ "nas" ];
        read-data-subset = "rotate/12";
        notify = [ "hc" ];
      };
      job.monthly-restore-test = {
        kind = "restore-test";
        repositories = [ "nas" ];
        source = "zfs";
        zfs-dataset = "tank/home";
      };
      notify.hc = {
        type = "healthchecks";
        url-file = "$CREDENTIALS_DIRECTORY/healthchecks-url";
      };
    };
  };
}
"#;

/// HOST run by the daemon: the same jobs with a `schedule`.
const DAEMON: &str = r#"{ ... }:
{
  services.restic-verify = {
    daemon.enable = true;
    settings.job.weekly-check.schedule = "0 3 * * 0";
    settings.job.monthly-restore-test.schedule = "@monthly";
  };
}
"#;

struct Nix {
    lib: PathBuf,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// nix-instantiate and nixpkgs' lib, or None (after saying why) when they are missing
/// outside CI.
fn nix() -> Option<Nix> {
    let unavailable = |why: String| -> Option<Nix> {
        assert!(
            !ci(),
            "{why}; under CI=true the Nix tests must run (scripts/setup.sh installs nix-bin)"
        );
        eprintln!("skipping a Nix test: {why}");
        None
    };
    let version = StdCommand::new("nix-instantiate").arg("--version").output();
    if !matches!(&version, Ok(o) if o.status.success()) {
        return unavailable(
            "nix-instantiate not found: install Debian's nix-bin (scripts/setup.sh does)".into(),
        );
    }
    match nixpkgs_lib() {
        Ok(lib) => Some(Nix { lib }),
        Err(why) => unavailable(why),
    }
}

fn nixpkgs_lib() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NIXPKGS_LIB") {
        let p = PathBuf::from(p);
        // A lib named explicitly but absent is a mistake, never a reason to skip.
        assert!(
            p.join("default.nix").is_file(),
            "NIXPKGS_LIB={} is not nixpkgs' lib (no default.nix)",
            p.display()
        );
        return Ok(p);
    }
    let shared = util::manifest_dir().join("../shared/nixpkgs-lib/lib");
    if shared.join("default.nix").is_file() {
        return Ok(shared);
    }
    let out = StdCommand::new("nix-instantiate")
        .args(["--store", "dummy://", "--find-file", "nixpkgs/lib"])
        .output()
        .map_err(|e| format!("nix-instantiate --find-file: {e}"))?;
    let found = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && found.join("default.nix").is_file() {
        return Ok(found);
    }
    Err(format!(
        "no nixpkgs lib: NIXPKGS_LIB is unset, {} does not exist and <nixpkgs/lib> is not on NIX_PATH",
        shared.display()
    ))
}

impl Nix {
    fn command(&self) -> StdCommand {
        let mut c = StdCommand::new("nix-instantiate");
        c.args(["--store", "dummy://"]);
        c.current_dir(util::manifest_dir());
        c
    }

    /// `nix-instantiate --eval --strict --json` of `expr`, a function of `{ libPath, ... }`
    /// and the string arguments `args`; `attr` selects part of the result.
    fn eval(&self, expr: &str, args: &[(&str, &Path)], attr: Option<&str>) -> Value {
        let mut c = self.command();
        c.args(["--eval", "--strict", "--json", "--argstr", "libPath"])
            .arg(&self.lib);
        for (name, value) in args {
            c.arg("--argstr").arg(name).arg(value);
        }
        if let Some(a) = attr {
            c.args(["-A", a]);
        }
        let out = c.arg("-E").arg(expr).output().expect("nix-instantiate");
        assert!(
            out.status.success(),
            "nix-instantiate --eval failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("nix-instantiate --json output")
    }

    /// nix/tests/eval.nix for a host made of `modules` (files of NixOS modules).
    fn host(&self, modules: &[&Path]) -> Host {
        Host(self.host_attr(modules, None))
    }

    fn host_attr(&self, modules: &[&Path], attr: Option<&str>) -> Value {
        let names: Vec<String> = (0..modules.len()).map(|i| format!("m{i}")).collect();
        let expr = format!(
            "{{ libPath, {} }}: import ./nix/tests/eval.nix {{ lib = import libPath; modules = [ {} ]; }}",
            names.join(", "),
            names
                .iter()
                .map(|n| format!("(import {n})"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let args: Vec<(&str, &Path)> = names
            .iter()
            .map(String::as_str)
            .zip(modules.iter().copied())
            .collect();
        self.eval(&expr, &args, attr)
    }

    /// The messages of the assertions that fail for a host.
    fn failed_assertions(&self, modules: &[&Path]) -> Vec<String> {
        let v = self.host_attr(modules, Some("failedAssertions"));
        serde_json::from_value(v).expect("list of messages")
    }
}

/// What nix/tests/eval.nix returns for a host.
struct Host(Value);

impl Host {
    fn units(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.0["units"].clone()).expect("units")
    }

    fn unit(&self, name: &str) -> String {
        self.units()
            .remove(name)
            .unwrap_or_else(|| panic!("no unit {name}; have {:?}", self.units().keys()))
    }

    fn unit_names(&self) -> BTreeSet<String> {
        self.units().into_keys().collect()
    }

    fn profile(&self) -> String {
        self.0["profile"]["text"]
            .as_str()
            .expect("a profile rendered from settings")
            .to_owned()
    }

    fn profile_toml(&self) -> toml::Table {
        toml::from_str(&self.profile()).expect("the rendered profile is TOML")
    }

    fn failed_assertions(&self) -> Vec<String> {
        serde_json::from_value(self.0["failedAssertions"].clone()).expect("messages")
    }

    fn warnings(&self) -> Vec<String> {
        serde_json::from_value(self.0["warnings"].clone()).expect("warnings")
    }

    fn store_path(&self, package: &str) -> String {
        self.0["storePaths"][package]
            .as_str()
            .expect("store path")
            .to_owned()
    }

    fn tmpfiles(&self) -> Vec<String> {
        serde_json::from_value(self.0["tmpfiles"].clone()).expect("tmpfiles")
    }
}

/// The `key=value` lines of one section of a unit file, in order.
fn section(unit: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{name}]");
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("key=value");
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// Every value of `key` in `section` of a unit file.
fn values(unit: &str, sect: &str, key: &str) -> Vec<String> {
    section(unit, sect)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn value(unit: &str, sect: &str, key: &str) -> String {
    let v = values(unit, sect, key);
    assert_eq!(v.len(), 1, "one {key}= in [{sect}] of:\n{unit}");
    v[0].clone()
}

/// A section as a map with systemd's boolean spellings made one (`yes` = `true`).
fn normalised(unit: &str, sect: &str, leave_out: &[&str]) -> BTreeMap<String, String> {
    section(unit, sect)
        .into_iter()
        .filter(|(k, _)| !leave_out.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = match v.as_str() {
                "yes" => "true".to_owned(),
                "no" => "false".to_owned(),
                _ => v,
            };
            (k, v)
        })
        .collect()
}

fn shipped_unit(name: &str) -> String {
    std::fs::read_to_string(util::manifest_dir().join("systemd").join(name)).expect("shipped unit")
}

/// Writes a Nix file into the test's directory.
fn nix_file(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let p = env.path(name);
    std::fs::write(&p, text).expect("write nix file");
    p
}

/// A Nix string literal.
fn nix_str(p: &Path) -> String {
    let s = p.to_string_lossy();
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("${", "\\${")
    )
}

/// `LoadCredential=` lines of a unit as (name, path).
fn credentials(unit: &str) -> Vec<(String, String)> {
    values(unit, "Service", "LoadCredential")
        .into_iter()
        .map(|l| {
            let (n, p) = l.split_once(':').expect("name:path");
            (n.to_owned(), p.to_owned())
        })
        .collect()
}

/// What systemd does with `LoadCredential=name:path`: a directory with a copy of each
/// file under its name (`$CREDENTIALS_DIRECTORY`). Files that exist are copied; the
/// others (/run/agenix/... of an example host) get plausible content by name.
fn credentials_directory(env: &TestEnv, unit: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.path("credentials");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, path) in credentials(unit) {
        let content = match std::fs::read(&path) {
            Ok(c) => c,
            Err(_) if name.ends_with("-url") => {
                b"https://hc-ping.com/0c4e5a3e-0000-4000-8000-000000000000\n".to_vec()
            }
            Err(_) if name.ends_with("-env") => b"B2_ACCOUNT_ID=id\nB2_ACCOUNT_KEY=key\n".to_vec(),
            Err(_) => b"secret\n".to_vec(),
        };
        let target = dir.join(&name);
        std::fs::write(&target, content).expect("write credential");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    }
    dir
}

/// Writes a host's units into `dir` with the stand-in store paths of the programs
/// they start replaced by real ones (the binary under test, /bin/kill), and runs
/// `systemd-analyze verify` on them, which must say nothing.
fn systemd_analyze_verify(host: &Host, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    let package = format!("{}/bin/restic-verify", host.store_path("restic-verify"));
    let kill = format!("{}/bin/kill", host.store_path("coreutils"));
    let mut files = Vec::new();
    for (name, text) in host.units() {
        let text = text
            .replace(&package, &bin.to_string_lossy())
            .replace(&kill, "/bin/kill");
        for (k, v) in section(&text, "Service") {
            assert!(
                !(k.starts_with("Exec") && v.contains("/nix/store")),
                "{name}: {k}={v} starts a program the test does not map to a real one"
            );
        }
        let path = dir.join(&name);
        std::fs::write(&path, text).expect("write unit");
        files.push(path);
    }
    assert!(!files.is_empty(), "no units");
    let out = StdCommand::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect(
            "systemd-analyze not found: install Debian's `systemd` package (scripts/setup.sh does)",
        );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && all.trim().is_empty(),
        "systemd-analyze verify objected to {files:?}:\n{all}"
    );
}

#[test]
fn nix_every_nix_file_parses_and_stand_ins_say_so_in_their_first_line() {
    let Some(nix) = nix() else { return };
    let root = util::manifest_dir();
    let mut files: Vec<PathBuf> = util::walk(&root.join("nix"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    files.push(root.join("flake.nix"));
    files.sort();
    let rel: BTreeSet<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("inside")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "flake.nix",
        "nix/module.nix",
        "nix/toml.nix",
        "nix/package.nix",
        "nix/example.nix",
        "nix/tests/eval.nix",
        "nix/tests/stand-ins/systemd.nix",
        "nix/tests/stand-ins/users.nix",
        "nix/tests/stand-ins/pkgs.nix",
    ] {
        assert!(rel.contains(expected), "{expected} missing from {rel:?}");
    }
    for f in &files {
        let out = nix
            .command()
            .arg("--parse")
            .arg(f)
            .output()
            .expect("nix-instantiate --parse");
        assert!(
            out.status.success(),
            "{} does not parse:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stand_ins = util::walk(&root.join("nix/tests/stand-ins"));
    assert!(stand_ins.len() >= 5, "{stand_ins:?}");
    for f in stand_ins {
        let text = std::fs::read_to_string(&f).expect("read");
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("# Stand-in for "),
            "{}: the first line must say what it stands in for, not {first:?}",
            f.display()
        );
    }
}

#[test]
fn nix_module_check_and_restore_test_jobs_yield_a_service_and_a_timer_each() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", HOST)]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    assert_eq!(host.warnings(), Vec::<String>::new());
    assert_eq!(
        host.unit_names(),
        BTreeSet::from(
            [
                "restic-verify-monthly-restore-test.service",
                "restic-verify-monthly-restore-test.timer",
                "restic-verify-weekly-check.service",
                "restic-verify-weekly-check.timer",
            ]
            .map(String::from)
        ),
    );
    let package = host.store_path("restic-verify");
    for (job, kind, calendar, delay) in [
        ("weekly-check", "check", "weekly", "2h"),
        ("monthly-restore-test", "restore-test", "monthly", "6h"),
    ] {
        let service = host.unit(&format!("restic-verify-{job}.service"));
        assert_eq!(
            value(&service, "Service", "ExecStart"),
            format!("{package}/bin/restic-verify run {job}")
        );
        assert_eq!(value(&service, "Service", "Type"), "oneshot");
        assert!(
            values(&service, "Service", "Environment")
                .contains(&"\"RESTIC_VERIFY_CONFIG=/etc/restic-verify/config.toml\"".to_owned()),
            "{service}"
        );
        assert_eq!(
            value(&service, "Unit", "Description"),
            format!("restic-verify {kind} job {job}")
        );
        // A NixOS switch must not cut a running job short.
        assert_eq!(value(&service, "Unit", "X-RestartIfChanged"), "false");
        assert_eq!(
            credentials(&service),
            [
                ("healthchecks-url", "/run/secrets/healthchecks-url"),
                ("restic-password", "/run/agenix/restic-password"),
            ]
            .map(|(n, p)| (n.to_owned(), p.to_owned()))
        );

        let timer = host.unit(&format!("restic-verify-{job}.timer"));
        assert_eq!(value(&timer, "Timer", "OnCalendar"), calendar);
        assert_eq!(value(&timer, "Timer", "RandomizedDelaySec"), delay);
        assert_eq!(value(&timer, "Timer", "Persistent"), "true");
        assert_eq!(value(&timer, "Install", "WantedBy"), "timers.target");
    }
    assert_eq!(
        host.0["users"]["restic-verify"],
        serde_json::json!({"isSystemUser": true, "group": "restic-verify", "home": "/var/lib/restic-verify"})
    );
    assert_eq!(host.0["groups"], serde_json::json!(["restic-verify"]));
    assert_eq!(
        host.0["profile"]["etc"],
        serde_json::json!(["restic-verify/config.toml"])
    );
}

#[test]
fn nix_module_job_units_carry_exactly_the_shipped_units_hardening() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", HOST)]);
    // What starts the process and which files it reaches differ by design.
    let differ = [
        "ExecStart",
        "Environment",
        "LoadCredential",
        "ReadWritePaths",
    ];

    let shipped_check = shipped_unit("restic-verify-check@.service");
    let check = host.unit("restic-verify-weekly-check.service");
    assert_eq!(
        normalised(&check, "Service", &differ),
        normalised(&shipped_check, "Service", &differ)
    );
    for key in ["Wants", "After"] {
        assert_eq!(
            value(&check, "Unit", key),
            value(&shipped_check, "Unit", key)
        );
    }

    // The ZFS restore test needs `zfs` and /dev/zfs, and nothing else changes.
    let shipped_restore = shipped_unit("restic-verify-restore-test@.service");
    let restore = host.unit("restic-verify-monthly-restore-test.service");
    let mut expected = normalised(&shipped_restore, "Service", &differ);
    expected.insert("PrivateDevices".into(), "false".into());
    expected.insert("DevicePolicy".into(), "closed".into());
    expected.insert("DeviceAllow".into(), "/dev/zfs rw".into());
    // `zfs` was not tried without the rest of /proc.
    expected.remove("ProcSubset");
    assert_eq!(normalised(&restore, "Service", &differ), expected);
    let zfs = values(&restore, "Service", "Environment")
        .into_iter()
        .find(|e| e.starts_with("\"PATH="))
        .expect("a PATH with zfs");
    assert!(zfs.contains("-zfs-user-") && zfs.contains("/bin"), "{zfs}");

    for (timer, shipped) in [
        (
            "restic-verify-weekly-check.timer",
            "restic-verify-check@.timer",
        ),
        (
            "restic-verify-monthly-restore-test.timer",
            "restic-verify-restore-test@.timer",
        ),
    ] {
        let (ours, theirs) = (host.unit(timer), shipped_unit(shipped));
        for sect in ["Timer", "Install"] {
            assert_eq!(
                normalised(&ours, sect, &[]),
                normalised(&theirs, sect, &[]),
                "{timer} [{sect}]"
            );
        }
    }
}

#[test]
fn nix_module_daemon_yields_one_reloadable_service_and_no_timers() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let (base, daemon) = (
        nix_file(&env, "host.nix", HOST),
        nix_file(&env, "daemon.nix", DAEMON),
    );
    let host = nix.host(&[&base, &daemon]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    assert_eq!(
        host.unit_names(),
        BTreeSet::from(["restic-verify.service".to_owned()])
    );
    let unit = host.unit("restic-verify.service");
    let package = host.store_path("restic-verify");
    assert_eq!(
        value(&unit, "Service", "ExecStart"),
        format!("{package}/bin/restic-verify daemon")
    );
    assert_eq!(
        value(&unit, "Service", "ExecReload"),
        format!("{}/bin/kill -HUP $MAINPID", host.store_path("coreutils"))
    );
    assert_eq!(value(&unit, "Install", "WantedBy"), "multi-user.target");
    // A switch that changes the profile reloads (SIGHUP) instead of restarting.
    let profile = host.0["profile"]["source"].as_str().expect("profile path");
    assert!(profile.starts_with("/nix/store/"), "{profile}");
    assert_eq!(value(&unit, "Unit", "X-Reload-Triggers"), profile);

    let differ = [
        "ExecStart",
        "ExecReload",
        "Environment",
        "LoadCredential",
        "ReadWritePaths",
    ];
    let shipped = shipped_unit("restic-verify.service");
    let mut expected = normalised(&shipped, "Service", &differ);
    // The ZFS restore test runs inside the daemon.
    expected.insert("PrivateDevices".into(), "false".into());
    expected.insert("DevicePolicy".into(), "closed".into());
    expected.insert("DeviceAllow".into(), "/dev/zfs rw".into());
    // `zfs` was not tried without the rest of /proc.
    expected.remove("ProcSubset");
    assert_eq!(normalised(&unit, "Service", &differ), expected);

    // With timers, a `schedule` is ignored: the module says so.
    let timers = nix.host(&[
        &base,
        &nix_file(
            &env,
            "schedule.nix",
            r#"{ services.restic-verify.settings.job.weekly-check.schedule = "0 3 * * 0"; }"#,
        ),
    ]);
    let warnings = timers.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("settings.job.weekly-check.schedule is only read by the daemon"),
        "{warnings:?}"
    );
}

#[test]
fn nix_module_units_and_example_units_pass_systemd_analyze_verify() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let base = nix_file(&env, "host.nix", HOST);
    let daemon = nix_file(&env, "daemon.nix", DAEMON);
    let example = util::manifest_dir().join("nix/example.nix");
    systemd_analyze_verify(&nix.host(&[&base]), &env.path("timers"));
    systemd_analyze_verify(&nix.host(&[&base, &daemon]), &env.path("daemon"));
    systemd_analyze_verify(&nix.host(&[&example]), &env.path("example"));
}

#[test]
fn nix_module_renders_settings_as_the_toml_profile_with_its_defaults() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", HOST)]);
    assert_eq!(
        host.profile(),
        r#"[defaults]
password-file = "$CREDENTIALS_DIRECTORY/restic-password"
results = "/var/log/restic-verify/results.jsonl"
state-dir = "/var/lib/restic-verify"
test-dir = "/var/tmp"

[job.monthly-restore-test]
kind = "restore-test"
repositories = ["nas"]
source = "zfs"
zfs-dataset = "tank/home"

[job.weekly-check]
kind = "check"
notify = ["hc"]
read-data-subset = "rotate/12"
repositories = ["nas"]

[notify.hc]
type = "healthchecks"
url-file = "$CREDENTIALS_DIRECTORY/healthchecks-url"

[repository.nas]
url = "/mnt/nas/restic"
"#
    );
    // A key the settings give beats the module's default.
    let own = nix_file(
        &env,
        "own.nix",
        r#"{ services.restic-verify.settings.defaults.state-dir = "/srv/rv-state"; }"#,
    );
    let host = nix.host(&[&env.path("host.nix"), &own]);
    let profile = host.profile_toml();
    assert_eq!(
        profile["defaults"]["state-dir"].as_str(),
        Some("/srv/rv-state")
    );
    assert!(
        values(
            &host.unit("restic-verify-weekly-check.service"),
            "Service",
            "ReadWritePaths"
        )
        .contains(&"-/srv/rv-state".to_owned()),
        "a state-dir outside StateDirectory= must be writable"
    );
}

#[test]
fn nix_toml_renderer_round_trips_strings_tables_lists_and_scalars() {
    let Some(nix) = nix() else { return };
    // Nix writes the same value as TOML (the renderer) and as JSON (builtins.toJSON);
    // the TOML parsed by the toml crate must be that JSON, minus the null key.
    let expr = r#"{ libPath }:
let
  lib = import libPath;
  toml = import ./nix/toml.nix { inherit lib; };
  ctl = builtins.fromJSON "\"\\u0001\\u0008\\u000b\\u000c\\u001b\\u001f\\u007f\"";
  value = {
    plain = "a b";
    tricky = "quote \" backslash \\ newline \n cr \r tab \t dollar-brace \${x} ${ctl} end";
    unicode = "äöü 漢字 🎉";
    empty = "";
    yes = true;
    no = false;
    int = 42;
    negative = -7;
    big = 4611686018427387904;
    float = 0.25;
    dropped = null;
    list = [ "x" 1 true [ "nested" ] { inline = "table"; "odd key" = 2; } ];
    emptyList = [ ];
    "key with spaces" = "k";
    "dotted.key" = "d";
    "ünï" = "u";
    "" = "empty key";
    job.weekly-check = { kind = "check"; repositories = [ "nas" "b2" ]; };
    job."odd name" = { x = 1; };
    notify.hc = { };
    deep.a.b.c = { leaf = "l"; };
  };
in
{ text = toml.render value; json = value; whole = toml.render { f = 1.0; }; }
"#;
    let out = nix.eval(expr, &[], None);
    let text = out["text"].as_str().expect("text");
    let parsed: toml::Table = toml::from_str(text)
        .unwrap_or_else(|e| panic!("the renderer wrote invalid TOML: {e}\n{text}"));
    let mut expected = out["json"].clone();
    expected.as_object_mut().expect("object").remove("dropped");
    assert_eq!(
        serde_json::to_value(&parsed).expect("to JSON"),
        expected,
        "TOML:\n{text}"
    );
    // A whole float stays a float.
    let whole: toml::Table = toml::from_str(out["whole"].as_str().expect("whole")).expect("TOML");
    assert_eq!(whole["f"].as_float(), Some(1.0));
}

#[rstest]
#[case::job_with_neither_timer_nor_daemon(
    r#"{ services.restic-verify.jobs.weekly-check.startAt = [ ]; }"#,
    "services.restic-verify.jobs.weekly-check has no timer (startAt is empty), no afterBackups and services.restic-verify.daemon.enable is off: job `weekly-check` would never run"
)]
#[case::credential_as_path_literal(
    r#"{ lib, ... }: { services.restic-verify.credentials.restic-password = lib.mkForce ./secret; }"#,
    "services.restic-verify.credentials.restic-password is the Nix path literal"
)]
#[case::credential_inside_the_store(
    r#"{ lib, ... }: { services.restic-verify.credentials.restic-password = lib.mkForce "/nix/store/0000000000000000000000000000000a-password"; }"#,
    "services.restic-verify.credentials.restic-password = /nix/store/0000000000000000000000000000000a-password is inside the Nix store"
)]
#[case::secret_setting_inside_the_store(
    r#"{ services.restic-verify.settings.repository.nas.env-file = "/nix/store/0000000000000000000000000000000a-b2.env"; }"#,
    "services.restic-verify.settings.repository.nas.env-file points into the Nix store"
)]
#[case::undeclared_credential(
    r#"{ services.restic-verify.settings.notify.hc.token-file = "$CREDENTIALS_DIRECTORY/hc-token"; }"#,
    "services.restic-verify.settings.notify.hc.token-file refers to $CREDENTIALS_DIRECTORY/hc-token, but services.restic-verify.credentials has no `hc-token`"
)]
#[case::credential_name_not_a_file_name(
    r#"{ services.restic-verify.credentials."a:b" = "/run/agenix/a"; }"#,
    "services.restic-verify.credentials.\"a:b\": a credential name becomes a file name"
)]
#[case::settings_and_config_file(
    r#"{ services.restic-verify.configFile = "/etc/nixos/restic-verify.toml"; }"#,
    "services.restic-verify.settings and services.restic-verify.configFile are both set"
)]
#[case::no_profile(
    r#"{ lib, ... }: { services.restic-verify.settings = lib.mkForce { }; }"#,
    "services.restic-verify is enabled without a profile"
)]
#[case::config_file_job_of_unknown_kind(
    r#"{ lib, ... }: { services.restic-verify = { settings = lib.mkForce { }; credentials = lib.mkForce { }; configFile = "/etc/nixos/restic-verify.toml"; jobs.nightly = { }; }; }"#,
    "Its kind is unknown (the profile comes from configFile): set services.restic-verify.jobs.nightly.kind"
)]
#[case::daemon_job_without_schedule(
    r#"{ services.restic-verify.daemon.enable = true; services.restic-verify.settings.job.weekly-check.schedule = "@weekly"; }"#,
    "services.restic-verify.daemon.enable is set, but services.restic-verify.settings.job.monthly-restore-test has no `schedule`"
)]
#[case::daemon_and_timers(
    r#"{ services.restic-verify = { daemon.enable = true; jobs.weekly-check.startAt = "daily"; settings.job.weekly-check.schedule = "@weekly"; settings.job.monthly-restore-test.schedule = "@monthly"; }; }"#,
    "services.restic-verify.jobs.weekly-check gives job `weekly-check` a timer, but services.restic-verify.daemon.enable runs the jobs on their `schedule`"
)]
#[case::timer_for_a_job_the_profile_lacks(
    r#"{ services.restic-verify.jobs.nightly.kind = "check"; }"#,
    "services.restic-verify.jobs.nightly has a timer, but the settings have no [job.nightly]"
)]
#[case::after_backup_that_does_not_exist(
    r#"{ services.restic-verify.jobs.weekly-check.afterBackups = [ "nas" ]; }"#,
    "services.restic-verify.jobs.weekly-check.afterBackups names `nas`, but services.restic.backups has no `nas`"
)]
#[case::nothing_to_run(
    r#"{ lib, ... }: { services.restic-verify.settings.job = lib.mkForce { }; }"#,
    "services.restic-verify has no job to run"
)]
#[case::job_name_unfit_for_a_unit(
    r#"{ services.restic-verify.settings.job."nightly check" = { kind = "check"; repositories = [ "nas" ]; }; }"#,
    "job `nightly check` (services.restic-verify.settings.job or services.restic-verify.jobs): a job name may only contain"
)]
fn nix_module_impossible_combination_fails_its_assertion(
    #[case] change: &str,
    #[case] message: &str,
) {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let base = nix_file(&env, "host.nix", HOST);
    std::fs::write(env.path("secret"), "password\n").expect("write");
    // The host alone is fine, so the failure below comes from the change.
    assert_eq!(nix.failed_assertions(&[&base]), Vec::<String>::new());
    let failed = nix.failed_assertions(&[&base, &nix_file(&env, "change.nix", change)]);
    assert!(
        failed.iter().any(|m| m.contains(message)),
        "expected an assertion saying\n  {message}\ngot {failed:#?}"
    );
}

#[test]
fn nix_module_secret_paths_stay_out_of_the_store_and_the_profile() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", HOST)]);
    let profile = host.profile();
    let secrets = [
        "/run/agenix/restic-password",
        "/run/secrets/healthchecks-url",
    ];
    for (name, text) in host.units() {
        for (key, v) in section(&text, "Service") {
            if key == "LoadCredential" {
                let (_, path) = v.split_once(':').expect("name:path");
                assert!(secrets.contains(&path), "{name}: {v}");
            } else {
                assert!(
                    !secrets.iter().any(|s| v.contains(s)),
                    "{name}: {key}={v} names a secret's path"
                );
            }
        }
        if name.ends_with(".service") {
            assert_eq!(credentials(&text).len(), 2, "{name}");
        }
    }
    assert!(!secrets.iter().any(|s| profile.contains(s)), "{profile}");
    for name in ["restic-password", "healthchecks-url"] {
        assert!(
            profile.contains(&format!("\"$CREDENTIALS_DIRECTORY/{name}\"")),
            "{profile}"
        );
    }

    // A path literal is refused, and even while it is reported the module does not
    // copy it into the store (toString, never "${./secret}").
    std::fs::write(env.path("secret"), "password\n").expect("write");
    let literal = nix_file(
        &env,
        "literal.nix",
        r#"{ lib, ... }: { services.restic-verify.credentials.restic-password = lib.mkForce ./secret; }"#,
    );
    let host = nix.host(&[&env.path("host.nix"), &literal]);
    assert!(!host.failed_assertions().is_empty());
    let unit = host.unit("restic-verify-weekly-check.service");
    let own = env.path("secret").to_string_lossy().into_owned();
    assert!(
        credentials(&unit).contains(&("restic-password".to_owned(), own.clone())),
        "{unit}"
    );
    for (name, text) in host.units() {
        for line in text.lines().filter(|l| l.contains("/nix/store/")) {
            assert!(
                !line.contains("-secret"),
                "{name} holds a store copy of the secret: {line}"
            );
        }
    }
}

#[rstest]
#[case::flag_with_equals(
    r#"enable = true; enabledCollectors = [ "textfile" ]; extraFlags = [ "--collector.textfile.directory=/var/lib/node-exporter" ];"#,
    Some("/var/lib/node-exporter")
)]
#[case::flag_and_value_in_one_string(
    r#"enable = true; extraFlags = [ "--web.telemetry-path=/metrics --collector.textfile.directory /var/lib/node-exporter" ];"#,
    Some("/var/lib/node-exporter")
)]
#[case::flag_and_value_as_two_flags(
    r#"enable = true; extraFlags = [ "--collector.textfile.directory" "/var/lib/node-exporter" ];"#,
    Some("/var/lib/node-exporter")
)]
#[case::directory_as_collector(
    r#"enable = true; enabledCollectors = [ "systemd" "textfile.directory=/var/lib/node-exporter" ];"#,
    Some("/var/lib/node-exporter")
)]
#[case::textfile_collector_disabled(
    r#"enable = true; disabledCollectors = [ "textfile" ]; extraFlags = [ "--collector.textfile.directory=/var/lib/node-exporter" ];"#,
    None
)]
#[case::no_textfile_directory(r#"enable = true; enabledCollectors = [ "textfile" ];"#, None)]
#[case::exporter_disabled(
    r#"enable = false; extraFlags = [ "--collector.textfile.directory=/var/lib/node-exporter" ];"#,
    None
)]
fn nix_module_metrics_dir_follows_node_exporter_textfile_directory(
    #[case] exporter: &str,
    #[case] expected: Option<&str>,
) {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let base = nix_file(&env, "host.nix", HOST);
    let node = nix_file(
        &env,
        "node.nix",
        &format!("{{ services.prometheus.exporters.node = {{ {exporter} }}; }}"),
    );
    let host = nix.host(&[&base, &node]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    let profile = host.profile_toml();
    let metrics_dir = profile["defaults"]
        .get("metrics-dir")
        .and_then(|v| v.as_str());
    assert_eq!(metrics_dir, expected);
    let unit = host.unit("restic-verify-weekly-check.service");
    let rw = values(&unit, "Service", "ReadWritePaths");
    match expected {
        Some(dir) => {
            assert_eq!(rw, [format!("-{dir}")]);
            assert_eq!(
                host.tmpfiles(),
                [format!("d {dir} 0775 root restic-verify - -")]
            );
            // Textfiles are 0640 with the directory's group: node_exporter reads them
            // as a member of it.
            let exporter = host.unit("prometheus-node-exporter.service");
            assert_eq!(
                values(&exporter, "Service", "SupplementaryGroups"),
                ["restic-verify"]
            );
        }
        None => {
            assert_eq!(rw, Vec::<String>::new());
            assert_eq!(host.tmpfiles(), Vec::<String>::new());
            if host
                .unit_names()
                .contains("prometheus-node-exporter.service")
            {
                let exporter = host.unit("prometheus-node-exporter.service");
                assert_eq!(
                    values(&exporter, "Service", "SupplementaryGroups"),
                    Vec::<String>::new()
                );
            }
        }
    }
}

#[test]
fn nix_module_rendered_profile_passes_validate_and_runs_a_real_check_and_restore_test() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let source = env.source_tree();
    let password = env.fixture_password();
    let (metrics, state, test_dir) = (env.path("metrics"), env.path("state"), env.path("restore"));
    for d in [&metrics, &test_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let host_text = format!(
        r#"{{ ... }}:
{{
  services.restic-verify = {{
    enable = true;
    credentials.restic-password = {password};
    metricsDir = {metrics};
    testDir = {test_dir};
    settings = {{
      defaults = {{
        password-file = "$CREDENTIALS_DIRECTORY/restic-password";
        results = {results};
        state-dir = {state};
      }};
      repository.clean.url = {repo};
      job.weekly-check = {{
        kind = "check";
        repositories = [ "clean" ];
        read-data-subset = "rotate/4";
      }};
      job.monthly-restore-test = {{
        kind = "restore-test";
        repositories = [ "clean" ];
        sample = 5;
        map = [ {map} ];
      }};
    }};
  }};
}}
"#,
        password = nix_str(&password),
        metrics = nix_str(&metrics),
        test_dir = nix_str(&test_dir),
        results = nix_str(&env.path("results.jsonl")),
        state = nix_str(&state),
        repo = nix_str(&repo),
        map = nix_str(Path::new(&format!("/source={}", source.display()))),
    );
    let host = nix.host(&[&nix_file(&env, "host.nix", &host_text)]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    let profile = env.path("config.toml");
    std::fs::write(&profile, host.profile()).expect("write profile");
    // The secret reaches the run as systemd would pass it, not from the profile.
    assert!(!host.profile().contains(&*password.to_string_lossy()));
    let creds = credentials_directory(&env, &host.unit("restic-verify-weekly-check.service"));

    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&profile)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);

    for job in ["weekly-check", "monthly-restore-test"] {
        let service = host.unit(&format!("restic-verify-{job}.service"));
        let exec = value(&service, "Service", "ExecStart");
        let args: Vec<&str> = exec.split(' ').skip(1).collect();
        assert_eq!(args, ["run", job]);
        let out = env
            .cmd()
            .args(&args)
            .env("RESTIC_VERIFY_CONFIG", &profile)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .output()
            .expect("run");
        util::assert_exit(&out, 0);
        assert!(
            metrics.join(format!("restic-verify-{job}.prom")).is_file(),
            "metrics of {job} not in metricsDir"
        );
    }
    let records = env.records();
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["job"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("weekly-check", "pass"), ("monthly-restore-test", "pass")]
    );
}

/// docs/deployment.md's "## NixOS" section: the text between its heading and the next one.
fn readme_nixos_section() -> String {
    let readme = std::fs::read_to_string(util::manifest_dir().join("docs/deployment.md"))
        .expect("docs/deployment.md");
    let headings: Vec<(usize, &str)> = readme
        .match_indices("\n## ")
        .map(|(i, _)| {
            let line = readme[i + 1..].lines().next().unwrap_or("");
            (i + 1, line)
        })
        .collect();
    let at = headings
        .iter()
        .position(|(_, h)| *h == "## NixOS")
        .expect("docs/deployment.md has a `## NixOS` section");
    assert!(
        at > 0 && headings[at - 1].1 == "## systemd timers (or the daemon)",
        "`## NixOS` must follow `## systemd timers (or the daemon)`: {headings:?}"
    );
    let end = headings.get(at + 1).map_or(readme.len(), |(i, _)| *i);
    readme[headings[at].0..end].to_owned()
}

#[test]
fn nix_readme_example_is_nix_example_nix_verbatim() {
    let section = readme_nixos_section();
    let blocks: Vec<&str> = section.split("```nix\n").skip(1).collect();
    assert_eq!(blocks.len(), 1, "one ```nix block in the NixOS section");
    let block = blocks[0].split("```").next().expect("closed block");
    let file =
        std::fs::read_to_string(util::manifest_dir().join("nix/example.nix")).expect("example");
    assert_eq!(
        block, file,
        "the docs/deployment.md example differs from nix/example.nix"
    );
}

#[test]
fn nix_example_host_evaluates_to_two_repositories_weekly_check_monthly_zfs_restore_test_and_notifiers(
) {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&util::manifest_dir().join("nix/example.nix")]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    assert_eq!(host.warnings(), Vec::<String>::new());
    let profile = host.profile_toml();
    let names = |t: &str| -> BTreeSet<String> {
        profile[t]
            .as_table()
            .expect("table")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(
        names("repository"),
        BTreeSet::from(["b2", "nas"].map(String::from))
    );
    assert_eq!(
        names("job"),
        BTreeSet::from(["monthly-restore-test", "weekly-check"].map(String::from))
    );
    let job = |j: &str, k: &str| profile["job"][j][k].as_str().map(str::to_owned);
    assert_eq!(job("weekly-check", "kind").as_deref(), Some("check"));
    assert_eq!(
        job("monthly-restore-test", "kind").as_deref(),
        Some("restore-test")
    );
    assert_eq!(
        job("monthly-restore-test", "source").as_deref(),
        Some("zfs")
    );
    assert_eq!(
        job("monthly-restore-test", "zfs-dataset").as_deref(),
        Some("tank/home")
    );
    let types: BTreeSet<&str> = profile["notify"]
        .as_table()
        .expect("notify")
        .values()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert_eq!(types, BTreeSet::from(["healthchecks", "ntfy"]));
    assert_eq!(
        profile["defaults"]["metrics-dir"].as_str(),
        Some("/var/lib/prometheus-node-exporter")
    );

    let check = host.unit("restic-verify-weekly-check.service");
    let sources: BTreeSet<String> = credentials(&check).into_iter().map(|(_, p)| p).collect();
    assert!(
        sources
            .iter()
            .all(|p| p.starts_with("/run/agenix/") || p.starts_with("/run/secrets/")),
        "{sources:?}"
    );
    assert!(sources.iter().any(|p| p.starts_with("/run/agenix/")));
    assert!(sources.iter().any(|p| p.starts_with("/run/secrets/")));
    let weekly = host.unit("restic-verify-weekly-check.timer");
    assert_eq!(value(&weekly, "Timer", "OnCalendar"), "Sun 02:00");
    let monthly = host.unit("restic-verify-monthly-restore-test.timer");
    assert_eq!(value(&monthly, "Timer", "OnCalendar"), "monthly");
    let restore = host.unit("restic-verify-monthly-restore-test.service");
    assert_eq!(value(&restore, "Service", "DeviceAllow"), "/dev/zfs rw");
    assert!(values(&check, "Service", "ReadWritePaths").contains(&"/mnt/nas/restic".to_owned()));

    // The profile is valid with the credentials systemd would pass.
    let path = env.path("config.toml");
    std::fs::write(&path, host.profile()).expect("write profile");
    let creds = credentials_directory(&env, &check);
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&path)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);
}

#[test]
fn nix_flake_outputs_build_the_package_with_restic_and_wire_overlay_and_module() {
    let Some(nix) = nix() else { return };
    let out = nix.eval(
        "{ libPath }: import ./nix/tests/flake-outputs.nix { lib = import libPath; }",
        &[],
        None,
    );
    assert_eq!(out["inputs"], serde_json::json!(["nixpkgs"]));
    assert_eq!(
        out["systems"],
        serde_json::json!(["aarch64-linux", "x86_64-linux"])
    );
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(util::manifest_dir().join("Cargo.toml")).expect("Cargo.toml"),
    )
    .expect("TOML");
    let pkg = &out["package"];
    assert_eq!(pkg["pname"].as_str(), manifest["package"]["name"].as_str());
    assert_eq!(
        pkg["version"].as_str(),
        manifest["package"]["version"].as_str()
    );
    assert_eq!(pkg["mainProgram"], "restic-verify");
    assert_eq!(pkg["sameAsNamed"], true);
    assert_eq!(
        PathBuf::from(pkg["lockFile"].as_str().expect("lockFile")),
        util::manifest_dir().join("Cargo.lock")
    );
    assert_eq!(
        pkg["nativeBuildInputs"],
        serde_json::json!([out["storePaths"]["makeWrapper"]])
    );
    let post = pkg["postInstall"].as_str().expect("postInstall");
    let restic = out["storePaths"]["restic"].as_str().expect("restic");
    assert!(
        post.contains(&format!(
            "wrapProgram $out/bin/restic-verify --prefix PATH : {restic}/bin"
        )),
        "{post}"
    );
    assert!(post.contains("$out/lib/systemd/system"), "{post}");
    assert_eq!(
        pkg["cargoTestFlags"],
        serde_json::json!(["--lib", "--bins"])
    );
    for (file, kept) in [
        ("Cargo.toml", true),
        ("Cargo.lock", true),
        ("src/main.rs", true),
        ("tests/it/main.rs", true),
        ("systemd/restic-verify.service", true),
        ("target/debug/restic-verify", false),
        ("fixtures/repos/clean.tar.gz", false),
        (".git/HEAD", false),
        ("benches/run.sh", false),
    ] {
        assert_eq!(pkg["source"][file], kept, "source filter on {file}");
    }

    // The overlay's pkgs.restic-verify is the flake's package, and the module runs it.
    let package = pkg["path"].as_str().expect("package path");
    assert_eq!(out["overlayPackage"].as_str(), Some(package));
    let module = &out["module"];
    assert_eq!(module["failedAssertions"], serde_json::json!([]));
    assert_eq!(module["package"].as_str(), Some(package));
    let unit = module["units"]["restic-verify-weekly-check.service"]
        .as_str()
        .expect("the flake's module made the job's service");
    assert_eq!(
        value(unit, "Service", "ExecStart"),
        format!("{package}/bin/restic-verify run weekly-check")
    );
}

/// An audit job of `settings` (issue #24, item 5: the audit is a first-class job).
const AUDIT_HOST: &str = r#"{ ... }:
{
  services.restic-verify = {
    enable = true;
    settings = {
      defaults.password-file = "/etc/restic-verify/password";
      repository.nas.url = "/mnt/nas/restic";
      job.weekly-audit = {
        kind = "audit";
        repositories = [ "nas" ];
        path = [ "/home" ];
      };
    };
  };
}
"#;

// See: issue #24, item 5: the module's `kind` enum knew only check and
// restore-test, so a profile with an audit job did not evaluate.
#[test]
fn nix_module_audit_job_yields_a_weekly_service_and_timer() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", AUDIT_HOST)]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    let package = host.store_path("restic-verify");
    let service = host.unit("restic-verify-weekly-audit.service");
    assert_eq!(
        value(&service, "Service", "ExecStart"),
        format!("{package}/bin/restic-verify run weekly-audit")
    );
    assert_eq!(
        value(&service, "Unit", "Description"),
        "restic-verify audit job weekly-audit"
    );
    let timer = host.unit("restic-verify-weekly-audit.timer");
    assert_eq!(value(&timer, "Timer", "OnCalendar"), "weekly");
    assert_eq!(value(&timer, "Timer", "RandomizedDelaySec"), "2h");
}

/// A host whose `new` check job follows each successful `services.restic.backups.nas`.
const AFTER_BACKUP_HOST: &str = r#"{ ... }:
{
  services.restic.backups.nas = { repository = "/mnt/nas/restic"; paths = [ "/home" ]; };
  services.restic-verify = {
    enable = true;
    credentials.restic-password = "/run/agenix/restic-password";
    settings = {
      defaults.password-file = "$CREDENTIALS_DIRECTORY/restic-password";
      repository.nas.url = "/mnt/nas/restic";
      job.new-packs = { kind = "check"; repositories = [ "nas" ]; read-data-subset = "new"; };
    };
    jobs.new-packs.afterBackups = [ "nas" ];
  };
}
"#;

// See issue #23 ("Right after each backup"): the option hooks the job to the backup
// unit's success (OnSuccess=, never OnFailure= or Wants=), with no timer of its own,
// and systemd-analyze verify accepts both units.
#[test]
fn nix_module_after_backups_starts_the_job_on_the_backup_units_success_only() {
    let Some(nix) = nix() else { return };
    let env = TestEnv::new();
    let host = nix.host(&[&nix_file(&env, "host.nix", AFTER_BACKUP_HOST)]);
    assert_eq!(host.failed_assertions(), Vec::<String>::new());
    assert_eq!(
        host.unit_names(),
        BTreeSet::from(
            [
                "restic-backups-nas.service",
                "restic-verify-new-packs.service"
            ]
            .map(String::from)
        ),
        "no timer: only the backup starts the job"
    );
    let backup = host.unit("restic-backups-nas.service");
    assert_eq!(
        values(&backup, "Unit", "OnSuccess"),
        ["restic-verify-new-packs.service"],
        "{backup}"
    );
    for key in ["OnFailure", "Wants", "Requires", "Before"] {
        assert!(
            values(&backup, "Unit", key).is_empty(),
            "{key}= in\n{backup}"
        );
    }
    let package = host.store_path("restic-verify");
    assert_eq!(
        value(
            &host.unit("restic-verify-new-packs.service"),
            "Service",
            "ExecStart"
        ),
        format!("{package}/bin/restic-verify run new-packs")
    );
    systemd_analyze_verify(&host, &env.path("units"));
}
