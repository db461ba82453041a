//! Result files under pressure: a JSONL history on a disk that fills up keeps only
//! whole, valid lines, and the run says it could not record its verdict.

use std::process::Command as StdCommand;

use crate::util::{self, TestEnv};

/// A tmpfs of `size` (e.g. `64k`), unmounted on drop (tests run as root, as in CI).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: std::path::PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = StdCommand::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a small tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg(&self.0).status();
    }
}

fn lines_are_json(text: &str) {
    for (i, l) in text.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l:?}", i + 1));
    }
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
}

#[test]
fn results_on_a_full_disk_keep_only_whole_lines_and_the_run_is_not_a_pass() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let fs = Tmpfs::mount(env.path("full"), "64k");
    let results = fs.0.join("results.jsonl");
    // 4,000 bytes of earlier history: the file's last page has 96 bytes free.
    let earlier = format!("{{\"v\":1,\"pad\":\"{}\"}}\n", "x".repeat(3983));
    assert_eq!(earlier.len(), 4000);
    std::fs::write(&results, &earlier).expect("history");
    // Fill every other page of the file system.
    let _ = StdCommand::new("dd")
        .args(["if=/dev/zero", "bs=4096"])
        .arg(format!("of={}", fs.0.join("filler").display()))
        .output()
        .expect("dd");
    let pw = env.fixture_password();
    let check = |results: &std::path::Path| {
        env.cmd()
            .args(["check", "--repo"])
            .arg(&repo)
            .arg("--password-file")
            .arg(&pw)
            .arg("--results")
            .arg(results)
            .output()
            .expect("run")
    };
    let out = check(&results);
    // The check passed, but its verdict could not be recorded: never exit 0.
    util::assert_exit(&out, 3);
    let text = std::fs::read_to_string(&results).expect("read");
    assert!(
        text == earlier,
        "the partial line was not removed: {} bytes instead of {}, ending {:?}",
        text.len(),
        earlier.len(),
        &text[text.len().saturating_sub(80)..]
    );
    lines_are_json(&text);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could be written"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With room again, the next record lands whole after the earlier history.
    std::fs::remove_file(fs.0.join("filler")).expect("rm filler");
    util::assert_exit(&check(&results), 0);
    let text = std::fs::read_to_string(&results).expect("read");
    lines_are_json(&text);
    assert_eq!(text.lines().count(), 2);
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("line")).expect("json");
    assert_eq!(last["outcome"], "pass");
}

#[test]
fn run_stopped_before_a_repository_started_records_it_as_interrupted() {
    use sha2::{Digest, Sha256};
    let env = TestEnv::new();
    let a = env.fixture_repo("clean");
    let b = env.path("second");
    std::fs::rename(env.fixture_repo("clean"), &b).expect("second copy");
    let run_dir = env.path("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    // Another run holds repository `a` (the per-repository flock of lock.rs).
    let digest = Sha256::digest(a.to_string_lossy().as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let lock = run_dir.join(format!("restic-verify-repo-{hex}.lock"));
    let mut holder = StdCommand::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .expect("flock (util-linux)");
    while !lock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pw = env.fixture_password();
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\nlock-wait = \"5m\"\n\n[repository.a]\nurl = \"{}\"\n\n[repository.b]\nurl = \"{}\"\n\n[job.weekly]\nkind = \"check\"\nrepositories = [\"a\", \"b\"]\n",
            pw.display(),
            env.path("results.jsonl").display(),
            a.display(),
            b.display()
        ),
    )
    .expect("profile");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("restic-verify"))
        .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
        .env("RESTIC_VERIFY_RUNTIME_DIR", &run_dir)
        .args(["run", "--config"])
        .arg(&profile)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // `a` waits for the other run's lock; `b` waits for its turn (max-concurrent 1).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let out = child.wait_with_output().expect("wait");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = env.records();
    let by_repo = |name: &str| {
        records
            .iter()
            .find(|r| r["repository"] == name)
            .unwrap_or_else(|| panic!("no record for `{name}`: {records:?}"))
    };
    for name in ["a", "b"] {
        assert_eq!(by_repo(name)["outcome"], "error");
        assert_eq!(by_repo(name)["error"]["category"], "interrupted", "{name}");
    }
}
