//! The daemon end to end with schedules that fire every few seconds, against the
//! real restic: it runs jobs and writes JSONL and metrics, keeps the old profile on a
//! bad SIGHUP and takes a good one, runs everything on SIGUSR1, exits 0 on SIGTERM
//! mid-restore with nothing left behind, catches up a missed run, and never runs two
//! jobs on one repository at once. Also `validate`'s fire times and schedule errors.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::util::{self, TestEnv};

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(env: &TestEnv, profile: &Path) -> Daemon {
        let log = env.path("daemon.log");
        let err = std::fs::File::create(&log).unwrap();
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(k);
            }
        }
        let child = c
            .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
            .env("RESTIC_VERIFY_LOG", "info")
            .arg("daemon")
            .arg("--config")
            .arg(profile)
            .current_dir(env.dir.path())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let log = self.log.clone();
        self.wait(timeout, &format!("log line {needle:?}"), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(needle)
        });
    }

    /// Waits for `cond`, failing when the daemon exits or the time runs out.
    fn wait(&mut self, timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) while waiting for {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; daemon log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status (within `timeout`).
    fn stop(mut self, timeout: Duration) -> (i32, String) {
        self.signal(Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status.code().unwrap_or(-1), self.log());
            }
            assert!(
                start.elapsed() < timeout,
                "daemon did not stop after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn records_of(env: &TestEnv, job: &str) -> Vec<Value> {
    util::read_jsonl(&env.path("results.jsonl"))
        .into_iter()
        .filter(|r| r["job"] == job)
        .collect()
}

fn header(env: &TestEnv, max_concurrent: u32) -> String {
    format!(
        "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\nmetrics-dir = \"{}\"\nstate-dir = \"{}\"\nmax-concurrent = {max_concurrent}\n\n",
        env.fixture_password().display(),
        env.path("results.jsonl").display(),
        env.dir.path().display(),
        env.path("state").display()
    )
}

#[test]
fn daemon_schedules_reloads_runs_on_sigusr1_and_stops_cleanly_mid_restore() {
    let env = TestEnv::new();
    let clean = env.fixture_repo("clean");
    let big = util::big_repo(&env);
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).unwrap();
    let repos = format!(
        "[repository.clean]\nurl = \"{}\"\n\n[repository.big]\nurl = \"{}\"\n\n[job.restore]\nkind = \"restore-test\"\nrepositories = [\"big\"]\nsample = 1\ntest-dir = \"{}\"\n\n",
        clean.display(),
        big.display(),
        test_dir.display()
    );
    let tick =
        "[job.tick]\nkind = \"check\"\nrepositories = [\"clean\"]\nschedule = \"*/2 * * * * *\"\n";
    let p = env.path("config.toml");
    std::fs::write(&p, format!("{}{repos}{tick}", header(&env, 2))).unwrap();

    let mut d = Daemon::start(&env, &p);
    d.wait_log("next run of `tick`", Duration::from_secs(20));
    assert!(d.log().contains("`restore` has no schedule"), "{}", d.log());
    d.wait(Duration::from_secs(40), "two scheduled runs", || {
        records_of(&env, "tick").len() >= 2
    });
    let m = std::fs::read_to_string(env.path("restic-verify-tick.prom")).expect("metrics of tick");
    util::promtool_check(&m);
    assert_eq!(
        util::sample(
            &m,
            "restic_verify_success{job=\"tick\",repository=\"clean\"}"
        ),
        1.0
    );
    assert!(records_of(&env, "tick")
        .iter()
        .all(|r| r["outcome"] == "pass"));

    // A bad profile is reported and the running one kept.
    std::fs::write(
        &p,
        format!("{}{repos}{tick}schedule-typo = 1\n", header(&env, 2)),
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_log(
        "reload failed, keeping the running profile",
        Duration::from_secs(10),
    );
    let before = records_of(&env, "tick").len();
    d.wait(
        Duration::from_secs(30),
        "ticks after the bad reload",
        || records_of(&env, "tick").len() > before,
    );

    // A good one is taken: a new scheduled job appears.
    let tock = "\n[job.tock]\nkind = \"check\"\nrepositories = [\"clean\"]\nschedule = \"*/2 * * * * *\"\n";
    std::fs::write(&p, format!("{}{repos}{tick}{tock}", header(&env, 2))).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_log("reloaded", Duration::from_secs(10));
    d.wait(Duration::from_secs(40), "a run of the new job", || {
        !records_of(&env, "tock").is_empty()
    });

    // SIGUSR1 runs every job, the unscheduled restore test among them.
    d.signal(Signal::SIGUSR1);
    d.wait_log("starting `restore` (SIGUSR1)", Duration::from_secs(10));
    let td = test_dir.clone();
    d.wait(
        Duration::from_secs(120),
        "restic writing the restored file",
        || util::walk(&td).iter().any(|p| p.is_file()),
    );
    let (code, log) = d.stop(Duration::from_secs(120));
    assert_eq!(code, 0, "daemon exit status after SIGTERM:\n{log}");
    assert!(log.contains("daemon stopped"), "{log}");
    let restore = records_of(&env, "restore");
    let last = restore
        .last()
        .expect("a record of the cut-short restore test");
    assert_eq!(last["error"]["category"], "interrupted", "{last}");
    assert!(
        util::walk(&test_dir).is_empty(),
        "restored data left: {:?}",
        util::walk(&test_dir)
    );
    assert!(
        util::locks(&big).is_empty(),
        "lock left in the big repository"
    );
    assert!(
        util::locks(&clean).is_empty(),
        "lock left in the clean repository"
    );
}

#[test]
fn daemon_catches_up_a_run_missed_while_it_was_down() {
    let env = TestEnv::new();
    let clean = env.fixture_repo("clean");
    let p = env.path("config.toml");
    std::fs::write(
        &p,
        format!(
            "{}[repository.clean]\nurl = \"{}\"\n\n[job.nightly]\nkind = \"check\"\nrepositories = [\"clean\"]\nschedule = \"0 3 * * *\"\n",
            header(&env, 1),
            clean.display()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .arg("run")
        .arg("--config")
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&out, 0);
    // Pretend that run happened three days ago: the 03:00 runs since were missed.
    let state = env.path("state/nightly.clean.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    s["last_run"] = Value::String(old.clone());
    s["last_success"] = Value::String(old);
    std::fs::write(&state, s.to_string()).unwrap();

    let mut d = Daemon::start(&env, &p);
    d.wait_log(
        "catch-up: `nightly` missed its run",
        Duration::from_secs(20),
    );
    d.wait(Duration::from_secs(40), "the catch-up run", || {
        records_of(&env, "nightly").len() >= 2
    });
    d.wait_log("next run of `nightly`", Duration::from_secs(10));
    let (code, log) = d.stop(Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    // Exactly one catch-up, not one per missed day.
    assert_eq!(records_of(&env, "nightly").len(), 2, "{log}");
}

#[test]
fn daemon_never_runs_two_jobs_on_one_repository_at_once() {
    let env = TestEnv::new();
    let clean = env.fixture_repo("clean");
    let p = env.path("config.toml");
    let job = |name: &str| {
        format!("[job.{name}]\nkind = \"check\"\nrepositories = [\"clean\"]\nread-data = true\nschedule = \"*/2 * * * * *\"\n\n")
    };
    std::fs::write(
        &p,
        format!(
            "{}[repository.clean]\nurl = \"{}\"\n\n{}{}",
            header(&env, 4),
            clean.display(),
            job("a"),
            job("b")
        ),
    )
    .unwrap();
    let mut d = Daemon::start(&env, &p);
    d.wait(Duration::from_secs(90), "three runs of each job", || {
        records_of(&env, "a").len() >= 3 && records_of(&env, "b").len() >= 3
    });
    let (code, log) = d.stop(Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    let span = |r: &Value| {
        let start = chrono::DateTime::parse_from_rfc3339(r["ts"].as_str().unwrap()).unwrap();
        let secs = r["duration_seconds"].as_f64().unwrap();
        (
            start,
            start + chrono::Duration::milliseconds((secs * 1000.0) as i64),
        )
    };
    let a: Vec<_> = records_of(&env, "a").iter().map(span).collect();
    let b: Vec<_> = records_of(&env, "b").iter().map(span).collect();
    for (a0, a1) in &a {
        for (b0, b1) in &b {
            assert!(
                a1 <= b0 || b1 <= a0,
                "runs overlapped: a {a0}..{a1}, b {b0}..{b1}"
            );
        }
    }
    let all = records_of(&env, "a")
        .into_iter()
        .chain(records_of(&env, "b"));
    for r in all.filter(|r| r["error"]["category"] != "interrupted") {
        assert_eq!(r["outcome"], "pass", "{r}");
    }
}

/// Writes `config.toml`: the common header, then `body`.
fn write_profile(env: &TestEnv, max_concurrent: u32, body: &str) -> PathBuf {
    let p = env.path("config.toml");
    std::fs::write(&p, format!("{}{body}", header(env, max_concurrent))).unwrap();
    p
}

#[test]
fn daemon_without_scheduled_jobs_refuses_to_start() {
    let env = TestEnv::new();
    let p = write_profile(
        &env,
        1,
        "[repository.r]\nurl = \"/nonexistent\"\n\n[job.j]\nkind = \"check\"\nrepositories = [\"r\"]\n",
    );
    let out = env
        .cmd()
        .arg("daemon")
        .arg("--config")
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no job in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_prints_next_five_fire_times_of_each_scheduled_job() {
    let env = TestEnv::new();
    let p = write_profile(
        &env,
        3,
        "[repository.r]\nurl = \"/srv/restic\"\n\n[job.weekly]\nkind = \"check\"\nrepositories = [\"r\"]\nschedule = \"0 3 * * 0\"\njitter = \"30m\"\n\n[job.manual]\nkind = \"check\"\nrepositories = [\"r\"]\n",
    );
    let out = env
        .cmd()
        .env("TZ", "UTC")
        .args(["validate", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("schedule `0 3 * * 0`, jitter up to 30m; next fire times:"),
        "{text}"
    );
    let sundays: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().ends_with("03:00:00 +00:00 (Sun)"))
        .collect();
    assert_eq!(sundays.len(), 5, "{text}");
    assert!(text.contains("schedule: none"), "{text}");
    assert!(text.contains("max-concurrent: 3"), "{text}");
}

#[test]
fn validate_reports_every_schedule_and_notifier_problem_with_its_line() {
    let env = TestEnv::new();
    let p = env.path("config.toml");
    let body = format!(
        "{}[repository.r]\nurl = \"/srv/restic\"\n\n\
[job.a]\nkind = \"check\"\nrepositories = [\"r\"]\nschedule = \"0 3 * *\"\n\n\
[job.b]\nkind = \"check\"\nrepositories = [\"r\"]\nschedule = \"0 0 30 2 *\"\n\n\
[job.c]\nkind = \"check\"\nrepositories = [\"r\"]\nschedule = \"@daily\"\njitter = \"2d\"\nnotify = [\"hc\", \"mial\"]\n\n\
[notify.hc]\ntype = \"healthchecks\"\nurl-file = \"{}\"\n\n\
[notify.mail]\ntype = \"email\"\nsmtp-host = \"mail.example.org\"\nfrom = \"rv@example.org\"\nto = \"a@example.org\"\n",
        header(&env, 1),
        env.path("missing-hc-url").display()
    );
    std::fs::write(&p, &body).unwrap();
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| body.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, message) in [
        (
            "schedule = \"0 3 * *\"",
            "cron expression `0 3 * *` has 4 fields",
        ),
        ("schedule = \"0 0 30 2 *\"", "never fires"),
        (
            "jitter = \"2d\"",
            "is not shorter than the shortest interval",
        ),
        (
            "notify = [\"hc\", \"mial\"]",
            "names `mial`, which no [notify.*] table defines; did you mean `mail`?",
        ),
    ] {
        let want = format!("config.toml:{}:", line_of(needle));
        assert!(
            err.lines()
                .any(|l| l.contains(&want) && l.contains(message)),
            "expected {message:?} at {want}:\n{err}"
        );
    }

    // With the profile fixed, the missing URL file is what validate reports.
    let fixed = body
        .replace("schedule = \"0 3 * *\"", "schedule = \"0 3 * * *\"")
        .replace("schedule = \"0 0 30 2 *\"", "schedule = \"@weekly\"")
        .replace("jitter = \"2d\"", "jitter = \"1h\"")
        .replace("\"mial\"", "\"mail\"");
    std::fs::write(&p, fixed).unwrap();
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[notify.hc] `url-file`") && err.contains("missing-hc-url"),
        "{err}"
    );
}
