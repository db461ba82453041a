//! `restic-verify audit` and `kind = "audit"` jobs end to end: the real binary on
//! the fixture repositories (made by restic 0.14, read in process) and the fixture
//! source tree, with the verdict, the JSONL `audit` object and the metrics.
//! (tests/it/audit.rs drives the engine itself on repositories both restic
//! versions build.)

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;

use crate::util::{self, TestEnv};

fn audit(env: &TestEnv, repo: &Path, source: &Path) -> Command {
    let pw = env.fixture_password();
    let mut c = env.cmd();
    c.arg("audit")
        .arg("--repo")
        .arg(repo)
        .arg("--password-file")
        .arg(pw)
        .arg("--map")
        .arg(format!("/source={}", source.display()))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"));
    c
}

#[test]
fn audit_clean_snapshot_against_its_source_passes_with_every_file_match() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = audit(&env, &repo, &src).output().expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["kind"], "audit");
    assert_eq!(r["outcome"], "pass", "{r}");
    let a = &r["audit"];
    assert!(a["files_verified"].as_u64().expect("n") >= 30, "{r}");
    assert_eq!(a["counts"]["mismatch"], 0, "{r}");
    assert_eq!(a["counts"]["not_in_backup"], 0, "{r}");
    assert_eq!(a["source"], "live");
    let m = env.metrics();
    assert!(
        m.contains(
            "restic_verify_audit_files{job=\"audit\",repository=\"clean\",class=\"mismatch\"} 0\n"
        ),
        "{m}"
    );
    assert!(m.contains("restic_verify_success{job=\"audit\",repository=\"clean\"} 1\n"));
    util::promtool_check(&m);
}

#[test]
fn audit_bit_rot_in_the_source_fails_naming_the_file() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    // Flip a byte and put the mtime back: size and mtime equal, bytes differ.
    let f = src.join("docs/lorem.txt");
    let reference = env.path("mtime-ref");
    StdCommand::new("touch")
        .arg("-r")
        .arg(&f)
        .arg(&reference)
        .status()
        .expect("touch");
    let mut bytes = std::fs::read(&f).expect("read");
    bytes[10] ^= 0xff;
    std::fs::write(&f, &bytes).expect("write");
    StdCommand::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&f)
        .status()
        .expect("touch");
    let out = audit(&env, &repo, &src).output().expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["audit"]["counts"]["mismatch"], 1, "{r}");
    let files = r["audit"]["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .any(|e| e["class"] == "mismatch" && e["path"] == "/source/docs/lorem.txt"),
        "{r}"
    );
    assert_eq!(r["findings"][0]["kind"], "audit_mismatch", "{r}");
}

#[test]
fn audit_unmounted_source_is_not_verified_never_pass() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let empty = env.path("not-mounted");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = audit(&env, &repo, &empty).output().expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["outcome"], "error");
    assert_eq!(r["error"]["category"], "not_verified", "{r}");
}

#[test]
fn audit_job_in_a_profile_runs_from_run_and_validate_shows_it() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let pw = env.fixture_password();
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\n\n[repository.clean]\nurl = \"{}\"\n\n[job.nightly-audit]\nkind = \"audit\"\nrepositories = [\"clean\"]\nmap = [\"/source={}\"]\n",
            pw.display(),
            env.path("results.jsonl").display(),
            repo.display(),
            src.display()
        ),
    )
    .expect("profile");
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&profile)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("job nightly-audit (kind audit)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["job"], "nightly-audit");
    assert_eq!(r["kind"], "audit");
    assert_eq!(r["outcome"], "pass", "{r}");
}

// See issue #24, item 9: jobs ran alphabetically, not in profile order; audits and
// restore tests said "(read data: none)"; "301 file(s) verified … 312 match" did not
// add up; "1 repositories".
#[test]
fn audit_and_restore_test_run_in_profile_order_with_counts_that_add_up() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\n\n[repository.clean]\nurl = \"{}\"\n\n[job.z-restore]\nkind = \"restore-test\"\nrepositories = [\"clean\"]\nsample = 3\nmap = [\"/source={}\"]\ntest-dir = \"{}\"\n\n[job.a-audit]\nkind = \"audit\"\nrepositories = [\"clean\"]\nmap = [\"/source={}\"]\n",
            env.fixture_password().display(),
            env.path("results.jsonl").display(),
            repo.display(),
            src.display(),
            test_dir.display(),
            src.display()
        ),
    )
    .expect("profile");
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&profile)
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("valid; 1 repository, 2 jobs"), "{text}");
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let jobs: Vec<String> = env
        .records()
        .iter()
        .map(|r| r["job"].as_str().expect("job").to_owned())
        .collect();
    assert_eq!(jobs, ["z-restore", "a-audit"], "profile order");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("read data"),
        "only checks read pack data:\n{err}"
    );
    let audit = env.last_record();
    let total: u64 = audit["audit"]["counts"]
        .as_object()
        .expect("counts")
        .values()
        .map(|n| n.as_u64().expect("count"))
        .sum();
    assert!(
        err.contains(&format!(": {total} entries compared (")),
        "the audit's counts add up to the entries compared ({total}):\n{err}"
    );
    assert!(!err.contains("file(s)"), "{err}");
}

/// An audit of the fixture repository as `rclone:<path>`, with rclone started
/// through tests/fakes/rclone-recorder (as `rclone.program`), which records how it
/// was started in `record` (named by the env file, the only way it can learn it).
struct RcloneAudit {
    record: std::path::PathBuf,
    env_file: std::path::PathBuf,
    url: String,
}

impl RcloneAudit {
    fn new(env: &TestEnv, repo: &Path) -> RcloneAudit {
        let record = env.path("rclone-record");
        std::fs::create_dir_all(&record).expect("mkdir");
        let env_file = env.path("rclone.env");
        std::fs::write(
            &env_file,
            format!(
                "RECORD_DIR={}\nRVTEST_FROM_ENV_FILE=reached\n",
                record.display()
            ),
        )
        .expect("env file");
        RcloneAudit {
            record,
            env_file,
            url: format!("rclone:{}", repo.display()),
        }
    }

    /// `restic-verify audit` arguments after the binary, with this password file.
    fn args(&self, env: &TestEnv, src: &Path, password: &Path) -> Vec<std::ffi::OsString> {
        let wrapper = util::manifest_dir().join("tests/fakes/rclone-recorder");
        let mut a: Vec<std::ffi::OsString> = vec!["audit".into(), "--repo".into()];
        a.push(self.url.clone().into());
        a.push("--password-file".into());
        a.push(password.into());
        a.push("--env-file".into());
        a.push(self.env_file.clone().into());
        a.push("--option".into());
        a.push(format!("rclone.program={}", wrapper.display()).into());
        a.push("--map".into());
        a.push(format!("/source={}", src.display()).into());
        a.push("--results".into());
        a.push(env.path("results.jsonl").into());
        a
    }

    fn recorded(&self, what: &str) -> String {
        std::fs::read_to_string(self.record.join(what))
            .unwrap_or_else(|e| panic!("rclone was not started through the recorder ({what}: {e})"))
    }

    /// rclone's PID once it is recorded.
    fn pid(&self) -> u32 {
        self.recorded("pid").trim().parse().expect("pid")
    }

    /// Asserts that rclone is gone (or a zombie nobody collected yet).
    fn assert_gone(&self) {
        let pid = self.pid();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().chars().next());
        assert!(
            stat.is_empty() || state == Some(Some('Z')),
            "rclone (pid {pid}) is still running: {stat}"
        );
    }
}

#[test]
fn audit_rclone_repository_passes_with_rclone_started_through_the_process_door() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let rclone = RcloneAudit::new(&env, &repo);
    let out = env
        .cmd()
        .args(rclone.args(&env, &src, &env.fixture_password()))
        .env("RVTEST_CANARY", "must-not-reach-rclone")
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["outcome"], "pass", "{r}");
    assert!(
        r["audit"]["files_verified"].as_u64().expect("n") >= 30,
        "{r}"
    );
    let vars = rclone.recorded("env");
    assert!(vars.contains("RVTEST_FROM_ENV_FILE=reached\n"), "{vars}");
    assert!(
        !vars.contains("RVTEST_CANARY"),
        "caller's variable leaked: {vars}"
    );
    assert!(
        !vars.contains("RESTIC_"),
        "restic's variables reached rclone: {vars}"
    );
    let pass = vars
        .lines()
        .find_map(|l| l.strip_prefix("RCLONE_PASS="))
        .expect("RCLONE_PASS");
    assert!(pass.len() >= 16, "{pass}");
    assert!(vars.contains("RCLONE_USER="), "{vars}");
    assert_eq!(rclone.recorded("stdin").trim(), "/dev/null");
    // Its own process group, as every child of the process door.
    assert_eq!(
        rclone.recorded("pgid").trim(),
        rclone.recorded("pid").trim()
    );
    let argv = rclone.recorded("argv");
    assert!(argv.contains("--addr 127.0.0.1:0"), "{argv}");
    assert!(!argv.contains("--stdio"), "{argv}");
    assert!(
        !argv.contains(pass),
        "rclone's password in its argv: {argv}"
    );
    let shown = format!("{}{r}", String::from_utf8_lossy(&out.stderr));
    assert!(!shown.contains(pass), "rclone's password shown: {shown}");
    rclone.assert_gone();
}

#[test]
fn audit_rclone_repository_wrong_password_is_an_error_and_stops_rclone() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let wrong = env.path("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").expect("password file");
    let rclone = RcloneAudit::new(&env, &repo);
    let out = env
        .cmd()
        .args(rclone.args(&env, &src, &wrong))
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["error"]["category"], "auth", "{r}");
    rclone.assert_gone();
}

#[test]
fn audit_rclone_repository_sigint_mid_audit_is_interrupted_and_stops_rclone() {
    use std::io::BufRead;
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let rclone = RcloneAudit::new(&env, &repo);
    // One request a second: the audit is still reading the repository when rclone
    // has said it listens (the state this test waits for).
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(rclone.args(&env, &src, &env.fixture_password()))
        .args([
            "--option",
            "rclone.args=serve restic --stdio --tpslimit 1 --tpslimit-burst 1",
        ])
        .env("RESTIC_VERIFY_LOG", "restic_verify=debug")
        .current_dir(env.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut log = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read");
        assert!(n > 0, "restic-verify ended before rclone listened:\n{log}");
        log.push_str(&line);
        if line.contains("rclone serves") {
            break;
        }
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{log}{rest}");
    assert_eq!(
        env.last_record()["error"]["category"],
        "interrupted",
        "{log}{rest}"
    );
    rclone.assert_gone();
}
