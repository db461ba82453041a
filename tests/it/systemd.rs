//! The shipped systemd units, checked without a running systemd: they pass
//! `systemd-analyze verify` with no warning at all (only the binary's path is
//! rewritten, to the binary under test, so that the `ExecStart=` check finds an
//! executable); a template's `ExecStart=`, expanded for a hyphenated instance the
//! way systemd expands it, runs the job of that name; and a stop done the way
//! systemd does it for each unit's `KillMode=`/`KillSignal=` reaches restic only
//! through restic-verify, so restic removes its lock; and a check, a restore test
//! and an audit pass under the units' `SystemCallFilter=` (tests/fakes/syscall-filter
//! loads it with libseccomp) and `ProtectProc=`/`ProcSubset=` (a /proc mounted so).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rstest::rstest;

use crate::util::{self, TestEnv};

/// Where the shipped units expect the binary and the profile.
const SHIPPED_BIN: &str = "/usr/local/bin/restic-verify";
const SHIPPED_CONFIG: &str = "/etc/restic-verify/config.toml";

#[test]
fn systemd_units_pass_systemd_analyze_verify_without_warnings() {
    let env = TestEnv::new();
    let dir = util::manifest_dir().join("systemd");
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    let mut units = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("systemd/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read unit");
        assert!(
            text.contains(SHIPPED_BIN) || name.ends_with(".timer"),
            "{name}"
        );
        // A template is verified as an instance: `x@.service` as `x@weekly-check.service`.
        let instance = name.replace("@.", "@weekly-check.");
        let out = env.path(&instance);
        std::fs::write(&out, text.replace(SHIPPED_BIN, &bin.to_string_lossy())).expect("write");
        units.push(out);
    }
    for kind in ["check", "audit", "restore-test"] {
        for suffix in ["service", "timer"] {
            let want = env.path(&format!("restic-verify-{kind}@weekly-check.{suffix}"));
            assert!(units.contains(&want), "no shipped {want:?}: {units:?}");
        }
    }
    let want = env.path("restic-verify-new@weekly-check.service");
    assert!(units.contains(&want), "no shipped {want:?}: {units:?}");
    let out = StdCommand::new("systemd-analyze")
        .arg("verify")
        .args(&units)
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
        "systemd-analyze verify objected:\n{all}"
    );
}

fn shipped_unit(name: &str) -> String {
    std::fs::read_to_string(util::manifest_dir().join("systemd").join(name)).expect("shipped unit")
}

/// Every value of `key` in the `[Service]` section, in order.
fn service_values(unit: &str, key: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[Service]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("key=value");
            if k == key {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// The one value of `key` in `[Service]`, or `default` when the unit sets none.
fn service_value(unit: &str, key: &str, default: &str) -> String {
    let v = service_values(unit, key);
    assert!(v.len() <= 1, "more than one {key}= in:\n{unit}");
    v.into_iter().next().unwrap_or_else(|| default.to_owned())
}

/// Expands the specifiers of a template unit's line for `instance` as systemd does
/// (systemd.unit(5), "Specifiers"): `%i` is the instance as written, `%I` the
/// instance unescaped (what `systemd-escape -u` prints: `-` becomes `/`), `%%` a
/// percent sign. The shipped units use no other specifier; any other fails here.
fn expand_specifiers(line: &str, instance: &str) -> String {
    let out = StdCommand::new("systemd-escape")
        .arg("-u")
        .arg(instance)
        .output()
        .expect("systemd-escape (Debian's `systemd` package)");
    assert!(out.status.success(), "systemd-escape -u {instance}");
    let unescaped = String::from_utf8(out.stdout).expect("utf-8");
    let mut expanded = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => expanded.push_str(instance),
            Some('I') => expanded.push_str(unescaped.trim_end_matches('\n')),
            Some('%') => expanded.push('%'),
            other => {
                panic!("specifier %{other:?} in {line:?}: teach this test what systemd makes of it")
            }
        }
    }
    expanded
}

/// The process a unit's `ExecStart=` starts, for `instance` (a template) or none,
/// with the unit's `Environment=`, the binary under test in place of the shipped
/// path and `profile` in place of /etc/restic-verify/config.toml. The environment
/// is sealed like `TestEnv::cmd`, and `RUNTIME_DIRECTORY` is a 0700 directory, as
/// `RuntimeDirectory=` with `RuntimeDirectoryMode=0700` gives the service.
fn exec_start(env: &TestEnv, unit: &str, instance: Option<&str>, profile: &Path) -> StdCommand {
    let expand = |line: &str| match instance {
        Some(i) => expand_specifiers(line, i),
        None => line.to_owned(),
    };
    let exec = expand(&service_value(unit, "ExecStart", ""));
    // Prefixes (`-`, `@`, `+`, `!`) and quoting would change the command line.
    assert!(
        exec.starts_with('/') && !exec.contains(['"', '\'', '\\', '$']),
        "ExecStart={exec}: teach this test systemd's quoting"
    );
    let mut argv = exec.split_whitespace();
    assert_eq!(argv.next(), Some(SHIPPED_BIN), "{exec}");
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"));
    cmd.args(argv);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(k);
        }
    }
    for assignment in service_values(unit, "Environment") {
        let assignment = expand(&assignment);
        assert!(!assignment.contains(['"', ' ']), "Environment={assignment}");
        let (k, v) = assignment.split_once('=').expect("KEY=VALUE");
        let v = if v == SHIPPED_CONFIG {
            profile.to_string_lossy().into_owned()
        } else {
            v.to_owned()
        };
        cmd.env(k, v);
    }
    let runtime = env.path("run");
    std::fs::create_dir_all(&runtime).expect("mkdir");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    cmd.env("RUNTIME_DIRECTORY", &runtime)
        .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
        .env("RESTIC_VERIFY_LOG", "info")
        .current_dir(env.dir.path())
        .stdin(Stdio::null());
    cmd
}

/// A profile's `[defaults]` writing into the test's directory.
fn defaults(env: &TestEnv) -> String {
    format!(
        "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\nmetrics-dir = \"{}\"\nstate-dir = \"{}\"\n\n",
        env.fixture_password().display(),
        env.path("results.jsonl").display(),
        env.dir.path().display(),
        env.path("state").display()
    )
}

// See: issue #20, item 1: `%I` turned `weekly-check` into `weekly/check`, an
// unknown job (exit 2), so the shipped timers never ran the README's own jobs.
#[rstest]
#[case("restic-verify-check@.service", "weekly-check")]
#[case("restic-verify-restore-test@.service", "monthly-restore-test")]
#[case("restic-verify-audit@.service", "weekly-audit")]
#[case("restic-verify-new@.service", "new-packs")]
fn systemd_template_expanded_for_a_hyphenated_instance_runs_that_job(
    #[case] unit: &str,
    #[case] instance: &str,
) {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let source = env.source_tree();
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "{}[repository.nas]\nurl = \"{}\"\n\n[job.weekly-check]\nkind = \"check\"\nrepositories = [\"nas\"]\n\n[job.monthly-restore-test]\nkind = \"restore-test\"\nrepositories = [\"nas\"]\nsample = 5\nmap = [\"/source={}\"]\ntest-dir = \"{}\"\n\n[job.weekly-audit]\nkind = \"audit\"\nrepositories = [\"nas\"]\nmap = [\"/source={}\"]\n\n[job.new-packs]\nkind = \"check\"\nrepositories = [\"nas\"]\nread-data-subset = \"new\"\n",
            defaults(&env),
            repo.display(),
            source.display(),
            test_dir.display(),
            source.display()
        ),
    )
    .expect("write profile");

    let out = exec_start(&env, &shipped_unit(unit), Some(instance), &profile)
        .output()
        .expect("run ExecStart");
    util::assert_exit(&out, 0);
    let records = env.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["job"], instance, "{}", records[0]);
    assert_eq!(records[0]["outcome"], "pass", "{}", records[0]);
}

/// The `[Unit]` assignments of a unit file or drop-in, in order.
fn unit_section(text: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[Unit]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("key=value");
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

// See issue #23 ("Right after each backup"): the shipped drop-in hooks the `new`
// job to a backup unit's success only. Offline, this is what can be checked:
// systemd-analyze verify loads the drop-in with the backup unit and the template
// instance it names and objects to nothing (an unknown or misspelt key would be
// reported); the drop-in's only link is `OnSuccess=` (systemd starts it after the
// unit succeeded, never after a failure; no Wants=/Requires=/OnFailure=), nothing
// else pulls the instance in (no [Install]); and the instance's ExecStart runs the job.
#[test]
fn systemd_after_backup_drop_in_starts_the_new_job_only_on_the_backup_units_success() {
    let env = TestEnv::new();
    let drop_in = std::fs::read_to_string(
        util::manifest_dir().join("systemd/restic-verify-after-backup.conf"),
    )
    .expect("shipped drop-in");
    let links = unit_section(&drop_in);
    assert_eq!(
        links,
        [(
            "OnSuccess".to_owned(),
            "restic-verify-new@new-packs.service".to_owned()
        )],
        "{drop_in}"
    );
    let template = shipped_unit("restic-verify-new@.service");
    // No [Install]: no target pulls the instance in; only the backup's success does.
    assert!(
        !template.contains("[Install]"),
        "nothing but OnSuccess= may start it"
    );
    // A backup unit as a user has it, with the drop-in installed next to it.
    let dir = env.path("units");
    std::fs::create_dir_all(dir.join("restic-backup.service.d")).expect("mkdir");
    std::fs::write(
        dir.join("restic-backup.service"),
        "[Unit]\nDescription=restic backup\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("restic-backup.service.d/restic-verify.conf"),
        &drop_in,
    )
    .expect("write");
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    std::fs::write(
        dir.join("restic-verify-new@new-packs.service"),
        template.replace(SHIPPED_BIN, &bin.to_string_lossy()),
    )
    .expect("write");
    let out = StdCommand::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("restic-backup.service"))
        .arg(dir.join("restic-verify-new@new-packs.service"))
        .output()
        .expect("systemd-analyze");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && all.trim().is_empty(), "{all}");
    let exec = expand_specifiers(&service_value(&template, "ExecStart", ""), "new-packs");
    assert_eq!(exec, format!("{SHIPPED_BIN} run new-packs"));
}

/// Parent of each live process, from `/proc/<pid>/stat`.
fn parents() -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            out.insert(pid, ppid);
        }
    }
    out
}

/// `main` and every process below it: the unit's control group, had systemd
/// started `main`.
fn control_group(main: u32) -> BTreeSet<u32> {
    let parents = parents();
    let mut group = BTreeSet::from([main]);
    loop {
        let more: Vec<u32> = parents
            .iter()
            .filter(|(pid, ppid)| group.contains(ppid) && !group.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            return group;
        }
        group.extend(more);
    }
}

fn is_restic(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "restic")
}

/// `restic check` or `restic restore`: the long call of a job, so a stop now cuts
/// the job short (a signal just as a short `snapshots` ends could find it done).
fn is_restic_at_work(pid: u32) -> bool {
    is_restic(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            c.split(|b| *b == 0)
                .any(|arg| arg == b"check" || arg == b"restore")
        })
}

/// A lock file restic has finished writing (named by its ID): restic 0.14 writes
/// `locks/<id>-tmp-<n>` first, and SIGINT in that moment leaves the temporary file
/// (issue #20, item 11, not what this test is about).
fn has_written_lock(repo: &Path) -> bool {
    util::locks(repo).iter().any(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// Who gets `KillSignal=` when systemd stops the unit (systemd.kill(5)):
/// `control-group` (the default) every process of the control group, `mixed` and
/// `process` the main process only (`mixed` sends SIGKILL to the rest only after
/// `TimeoutStopSec=`), `none` nobody.
fn stop_signal_recipients(kill_mode: &str, main: u32, group: &BTreeSet<u32>) -> BTreeSet<u32> {
    match kill_mode {
        "control-group" => group.clone(),
        "mixed" | "process" => BTreeSet::from([main]),
        "none" => BTreeSet::new(),
        other => panic!("KillMode={other} is not one systemd knows"),
    }
}

/// Waits for `cond`, failing when `child` exits first or after `timeout`.
fn wait_while_running(
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !cond() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "exited ({status}) while waiting for {what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// See: issue #20, item 5: with the default KillMode=control-group, systemd's stop
// signal reached restic too (SIGTERM from the daemon unit: restic 0.14 dies and
// leaves its lock). Each service unit is started from its own ExecStart= and
// Environment=, and stopped the way systemd stops it, while restic holds a lock.
#[test]
fn systemd_stop_reaches_restic_only_through_restic_verify_and_leaves_no_lock() {
    let env = TestEnv::new();
    let big = util::big_repo(&env);
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let profile = env.path("config.toml");
    // The check reads every pack; the daemon runs it every second.
    std::fs::write(
        &profile,
        format!(
            "{}[repository.big]\nurl = \"{}\"\n\n[job.weekly-check]\nkind = \"check\"\nrepositories = [\"big\"]\nread-data-subset = \"100%\"\nschedule = \"* * * * * *\"\n\n[job.monthly-restore-test]\nkind = \"restore-test\"\nrepositories = [\"big\"]\nsample = 1\ntest-dir = \"{}\"\n",
            defaults(&env),
            big.display(),
            test_dir.display()
        ),
    )
    .expect("write profile");

    for (name, instance, job, exit) in [
        ("restic-verify.service", None, "weekly-check", 0),
        (
            "restic-verify-check@.service",
            Some("weekly-check"),
            "weekly-check",
            130,
        ),
        (
            "restic-verify-restore-test@.service",
            Some("monthly-restore-test"),
            "monthly-restore-test",
            130,
        ),
    ] {
        let unit = shipped_unit(name);
        let log = env.path(&format!("{name}.log"));
        let mut child = exec_start(&env, &unit, instance, &profile)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start ExecStart");
        let main = child.id();
        let mut group = BTreeSet::new();
        wait_while_running(
            &mut child,
            &log,
            Duration::from_secs(300),
            &format!("{name}: restic checking or restoring, holding its lock"),
            || {
                group = control_group(main);
                group.iter().any(|p| is_restic_at_work(*p)) && has_written_lock(&big)
            },
        );

        let kill_mode = service_value(&unit, "KillMode", "control-group");
        let signal: Signal = service_value(&unit, "KillSignal", "SIGTERM")
            .parse()
            .expect("KillSignal= names a signal");
        assert!(
            matches!(signal, Signal::SIGINT | Signal::SIGTERM),
            "{name}: KillSignal={signal} is not one restic-verify stops cleanly on"
        );
        assert_eq!(service_value(&unit, "SendSIGHUP", "no"), "no", "{name}");
        let recipients = stop_signal_recipients(&kill_mode, main, &group);
        let direct: Vec<u32> = recipients
            .iter()
            .copied()
            .filter(|p| is_restic(*p))
            .collect();
        assert!(
            direct.is_empty(),
            "{name}: a stop would send {signal} to restic {direct:?} directly (KillMode={kill_mode}); restic-verify must be the only one to signal it"
        );
        assert!(
            recipients.contains(&main),
            "{name}: a stop would not signal restic-verify"
        );
        for pid in &recipients {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), signal);
        }

        let timeout: u64 = service_value(&unit, "TimeoutStopSec", "90")
            .parse()
            .expect("seconds");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(timeout),
                "{name}: still running {timeout}s after {signal} (systemd would SIGKILL it now)"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(exit), "{name}:\n{text}");
        assert!(
            util::locks(&big).is_empty(),
            "{name}: restic left its lock:\n{text}"
        );
        let last = env
            .records()
            .into_iter()
            .rev()
            .find(|r| r["job"] == job)
            .unwrap_or_else(|| panic!("{name}: no record of `{job}`:\n{text}"));
        assert_eq!(last["error"]["category"], "interrupted", "{name}: {last}");
        assert!(
            util::walk(&test_dir).is_empty(),
            "{name}: restored data left"
        );
    }
}

/// A wrapper that starts a command the way the units confine it: `/proc` mounted
/// with the units' `ProtectProc=`/`ProcSubset=` (a new mount and PID namespace,
/// which needs root), then the units' `SystemCallFilter=` (tests/fakes/syscall-filter).
/// `None` when this machine cannot make the namespace (not root).
fn confined(filter: &str, proc_options: &str) -> Option<Vec<String>> {
    let namespace = |script: &str| -> Vec<String> {
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mount = format!("mount -t proc -o {proc_options} proc /proc");
    let probe = StdCommand::new(&namespace(&mount)[0])
        .args(&namespace(&mount)[1..])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            !util::ci(),
            "cannot mount /proc with {proc_options} in a new namespace: run the suite as root"
        );
        eprintln!("skipped: mounting /proc in a new namespace needs root");
        return None;
    }
    let mut wrapper = namespace(&format!("{mount} && exec \"$@\""));
    wrapper.push(
        util::manifest_dir()
            .join("tests/fakes/syscall-filter")
            .to_string_lossy()
            .into_owned(),
    );
    wrapper.push(filter.to_owned());
    wrapper.push("--".to_owned());
    Some(wrapper)
}

// See: issue #20 (unit hardening): SystemCallFilter=, ProtectProc= and ProcSubset=
// must leave restic-verify and restic (Go) everything a check, a restore test and
// an audit need.
#[test]
fn systemd_units_syscall_filter_and_proc_subset_let_check_restore_test_and_audit_pass() {
    let mut confinements = BTreeSet::new();
    for name in [
        "restic-verify.service",
        "restic-verify-check@.service",
        "restic-verify-restore-test@.service",
        "restic-verify-audit@.service",
    ] {
        let unit = shipped_unit(name);
        let filter = service_values(&unit, "SystemCallFilter").join(" ");
        assert!(
            filter.starts_with('@') && !filter.contains('~'),
            "{name}: expected an allow-list SystemCallFilter=, got {filter:?}"
        );
        let hidepid = match service_value(&unit, "ProtectProc", "default").as_str() {
            "default" => "hidepid=off",
            "invisible" => "hidepid=invisible",
            "ptraceable" => "hidepid=ptraceable",
            other => panic!("{name}: ProtectProc={other}"),
        };
        let subset = match service_value(&unit, "ProcSubset", "all").as_str() {
            "all" => String::new(),
            "pid" => ",subset=pid".to_owned(),
            other => panic!("{name}: ProcSubset={other}"),
        };
        confinements.insert((filter, format!("{hidepid}{subset}")));
    }
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let source = env.source_tree();
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let pw = env.fixture_password();
    for (filter, proc_options) in confinements {
        let Some(wrapper) = confined(&filter, &proc_options) else {
            return;
        };
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        // The confinement holds: a call outside the filter kills, /proc/sys is gone.
        let (program, args) = wrapper.split_first().expect("wrapper");
        let denied = StdCommand::new(program)
            .args(args)
            .args(["unshare", "--mount", "true"])
            .output()
            .expect("run");
        // unshare(2) is in @system-service; the mount(2) that follows is not.
        assert!(!denied.status.success(), "{filter}: mount(2) was allowed");
        if proc_options.contains("subset=pid") {
            let sys = StdCommand::new(program)
                .args(args)
                .args(["test", "-e", "/proc/sys"])
                .status()
                .expect("run");
            assert!(!sys.success(), "{proc_options}: /proc/sys is still there");
        }

        let map = format!("/source={}", source.display());
        let runs: [&[&str]; 3] = [
            &["check", "--read-data-subset", "100%"],
            &[
                "restore-test",
                "--map",
                &map,
                "--test-dir",
                &test_dir.to_string_lossy(),
            ],
            &["audit", "--map", &map],
        ];
        for run in runs {
            let out = env
                .cmd_via(&wrapper)
                .args(run)
                .arg("--repo")
                .arg(&repo)
                .arg("--password-file")
                .arg(&pw)
                .arg("--results")
                .arg(env.path("results.jsonl"))
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "`{}` under {filter} and /proc {proc_options}: {}\n{}",
                run[0],
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let last = env.last_record();
            assert_eq!(last["outcome"], "pass", "{last}");
        }
    }
}
