//! The files a run writes and `status` reads, against a hostile or careless file
//! system: a symbolic link planted at the results path is refused (its target
//! untouched, the run's verdict still reported), new results, metrics, state and
//! report files carry no world access under umask 022, and `status` reads a
//! results file with a 20 MB line in bounded memory.
//! See: issue #20, items 3 and 9.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::status::peak_kib;
use crate::util::{self, TestEnv};

/// The binary under test, started by a shell that first sets umask 022.
fn under_umask_022(env: &TestEnv) -> assert_cmd::Command {
    env.cmd_via(&["sh", "-c", "umask 022; exec \"$0\" \"$@\""])
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

#[rstest::rstest]
#[case::to_an_existing_file(true)]
#[case::dangling(false)]
fn check_results_path_a_symlink_is_refused_its_target_untouched_and_the_verdict_reported(
    #[case] target_exists: bool,
) {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let target = env.path("root-only.txt");
    if target_exists {
        std::fs::write(&target, "precious\n").expect("target");
    }
    let results = env.path("results.jsonl");
    std::os::unix::fs::symlink(&target, &results).expect("symlink");
    let out = env.check(&repo).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The verdict could not be recorded: never exit 0, and not a usage error.
    util::assert_exit(&out, 3);
    assert!(
        stderr.contains(&format!(
            "results file {} is a symbolic link",
            results.display()
        )),
        "{stderr}"
    );
    if target_exists {
        assert_eq!(
            std::fs::read_to_string(&target).expect("target"),
            "precious\n"
        );
    } else {
        assert!(!target.exists(), "the dangling link's target was created");
    }
    assert!(std::fs::symlink_metadata(&results)
        .expect("link")
        .file_type()
        .is_symlink());
    // The check ran and said what it found, on stderr and in the metrics.
    assert!(
        stderr.contains("PASS check `check` on repository"),
        "{stderr}"
    );
    assert_eq!(
        util::sample(
            &env.metrics(),
            "restic_verify_success{job=\"check\",repository=\"clean\"}"
        ),
        1.0
    );
}

#[test]
fn new_results_metrics_state_and_report_files_under_umask_022_have_no_world_access() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let state = env.path("state");
    let out = under_umask_022(&env)
        .arg("check")
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"))
        .arg("--state-dir")
        .arg(&state)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let report = env.path("report.html");
    let out = under_umask_022(&env)
        .args(["report", "--results"])
        .arg(env.path("results.jsonl"))
        .arg("--output")
        .arg(&report)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
    let mut files = vec![env.path("results.jsonl"), env.path("metrics.prom"), report];
    let states: Vec<_> = std::fs::read_dir(&state)
        .expect("state dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(!states.is_empty(), "no state file written");
    files.extend(states);
    for f in &files {
        assert_eq!(mode(f) & 0o007, 0, "{} is {:o}", f.display(), mode(f));
    }
    // The textfile is readable by the directory's group (node_exporter's).
    assert_eq!(mode(&env.path("metrics.prom")), 0o640);
    let dir_gid = std::fs::metadata(env.dir.path()).expect("dir").gid();
    assert_eq!(
        std::fs::metadata(env.path("metrics.prom"))
            .expect("metrics")
            .gid(),
        dir_gid
    );
}

#[test]
fn check_existing_results_file_keeps_the_mode_its_operator_gave_it() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let results = env.path("results.jsonl");
    std::fs::write(&results, "").expect("results");
    std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    util::assert_exit(&env.check(&repo).output().expect("run"), 0);
    assert_eq!(mode(&results), 0o604);
    assert_eq!(env.records().len(), 1);
}

#[test]
fn status_over_a_20_mb_line_stays_in_bounded_memory_and_shows_the_other_runs() {
    use std::io::Write;
    let env = TestEnv::new();
    let results = env.path("results.jsonl");
    let record = |job: &str, day: u32, extra: &str| {
        format!(
            r#"{{"v":1,"ts":"2026-01-{day:02}T00:00:00Z","host":"h","job":"{job}","kind":"audit","repository":"r","outcome":"pass"{extra}}}"#
        )
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(&results).expect("create"));
    writeln!(f, "{}", record("before", 1, "")).expect("write");
    // 10 million zeros: 20 MB of `0,`.
    let mut audit = String::with_capacity(20 << 20);
    audit.push_str(",\"audit\":[");
    audit.push_str(&"0,".repeat(10_000_000));
    audit.push_str("0]");
    writeln!(f, "{}", record("huge", 2, &audit)).expect("write");
    writeln!(f, "{}", record("after", 3, "")).expect("write");
    drop(f);
    assert!(std::fs::metadata(&results).expect("stat").len() > 20_000_000);
    let args: Vec<std::ffi::OsString> =
        vec!["status".into(), "--results".into(), results.clone().into()];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let kib = peak_kib(&env, &args);
    assert!(kib < 200 * 1024, "status used {kib} KiB on a 20 MB line");
    let out = env
        .cmd()
        .args(["status", "--json", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let jobs: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["job"].as_str())
        .collect();
    for job in ["before", "after"] {
        assert!(jobs.contains(&job), "{job} missing: {jobs:?}");
    }
}
