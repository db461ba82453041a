//! `restic-verify status` on a JSONL history made by real runs of the binary against
//! the fixtures (passing rotated checks on clean, a failing `--read-data` check on
//! flipped-byte, a restore test on clean, a restore test that finds a mismatch in a
//! file whose name is markup): JSON rows, exit codes, the plain and the coloured
//! table, malformed lines, missing files, and memory that does not follow the
//! length of the history.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use serde_json::Value;

use crate::util::{self, TestEnv};

/// A file name that is markup: the report must show it as text.
pub const MARKUP_NAME: &str = r#"<script>alert("rv") & <b>.txt"#;

/// The jobs × repositories the history holds, and the job that never ran.
pub const ROWS: [(&str, &str); 4] = [
    ("full-check", "flipped-byte"),
    ("injected", "markup"),
    ("monthly-restore", "clean"),
    ("weekly-check", "clean"),
];
pub const NEVER_RUN: (&str, &str) = ("never-run", "clean");

/// A history of real runs, and the profile that made it.
pub struct History {
    pub results: PathBuf,
    pub profile: PathBuf,
}

/// A repository whose only snapshot holds `MARKUP_NAME`; afterwards the source file
/// gets other bytes of the same size and mtime, so a restore test finds a mismatch.
fn markup_repo(env: &TestEnv) -> (PathBuf, PathBuf) {
    let src = env.path("markup-src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let file = src.join(MARKUP_NAME);
    std::fs::write(&file, "original content\n").expect("write");
    let repo = env.path("markup");
    let init = env.restic(&repo).arg("init").output().expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let backup = env
        .restic(&repo)
        .args(["backup", "--host", "markup-host"])
        .arg(&src)
        .output()
        .expect("backup");
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let mtime = std::fs::metadata(&file)
        .expect("stat")
        .modified()
        .expect("mtime");
    std::fs::write(&file, "tampered content\n").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&file)
        .expect("open")
        .set_modified(mtime)
        .expect("set mtime");
    (repo, src)
}

/// Runs the jobs of a profile for real: two rotated checks of clean (pass), a full
/// read of flipped-byte (fail), a restore test of clean (pass) and one of a
/// repository whose file with a markup name was changed behind restic's back (fail).
pub fn real_history(env: &TestEnv) -> History {
    let clean = env.fixture_repo("clean");
    let flipped = env.fixture_repo("flipped-byte");
    let source = env.source_tree();
    let (markup, markup_src) = markup_repo(env);
    let pw = env.fixture_password();
    let results = env.path("logs/results.jsonl");
    std::fs::create_dir_all(env.path("logs")).expect("mkdir");
    std::fs::create_dir_all(env.path("test-dir")).expect("mkdir");
    let profile = env.path("profile.toml");
    std::fs::write(
        &profile,
        format!(
            r#"[defaults]
password-file = "{pw}"
results = "{results}"
state-dir = "{state}"
test-dir = "{test_dir}"

[repository.clean]
url = "{clean}"
[repository.flipped-byte]
url = "{flipped}"
[repository.markup]
url = "{markup}"

[job.weekly-check]
kind = "check"
repositories = ["clean"]
read-data-subset = "rotate/4"

[job.full-check]
kind = "check"
repositories = ["flipped-byte"]
read-data = true

[job.monthly-restore]
kind = "restore-test"
repositories = ["clean"]
sample = 10
map = ["/source={source}"]

[job.injected]
kind = "restore-test"
repositories = ["markup"]
sample = 5

[job.never-run]
kind = "check"
repositories = ["clean"]
"#,
            pw = pw.display(),
            results = results.display(),
            state = env.path("state").display(),
            test_dir = env.path("test-dir").display(),
            clean = clean.display(),
            flipped = flipped.display(),
            markup = markup.display(),
            source = source.display(),
        ),
    )
    .expect("profile");
    let run = |jobs: &[&str]| {
        env.cmd()
            .arg("run")
            .arg("--config")
            .arg(&profile)
            .args(jobs)
            .output()
            .expect("run")
    };
    util::assert_exit(&run(&["weekly-check", "monthly-restore"]), 0);
    util::assert_exit(&run(&["weekly-check"]), 0);
    util::assert_exit(&run(&["full-check", "injected"]), 1);
    let records = util::read_jsonl(&results);
    assert_eq!(records.len(), 5, "{records:#?}");
    let injected = records
        .iter()
        .find(|r| r["job"] == "injected")
        .expect("injected");
    assert_eq!(injected["outcome"], "fail", "{injected}");
    assert!(
        injected["findings"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(MARKUP_NAME)),
        "{injected}"
    );
    let _ = markup_src;
    History { results, profile }
}

fn rows(stdout: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(stdout).expect("status --json prints JSON");
    v.as_array().expect("an array of rows").clone()
}

fn row<'a>(rows: &'a [Value], job: &str, repository: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["job"] == job && r["repository"] == repository)
        .unwrap_or_else(|| panic!("no row {job} × {repository} in {rows:#?}"))
}

#[test]
fn status_of_a_real_history_gives_rows_tables_and_exit_codes() {
    let env = TestEnv::new();
    let h = real_history(&env);

    // --json from --results: one row per job × repository that ran, exit 1 (a fail).
    let out = env
        .cmd()
        .args(["status", "--json", "--results"])
        .arg(&h.results)
        .output()
        .expect("status");
    util::assert_exit(&out, 1);
    let rs = rows(&out.stdout);
    assert_eq!(rs.len(), ROWS.len(), "{rs:#?}");
    for r in &rs {
        for key in ["job", "repository", "outcome", "last_run", "last_success"] {
            assert!(r.get(key).is_some(), "row without `{key}`: {r}");
        }
    }
    let weekly = row(&rs, "weekly-check", "clean");
    assert_eq!(weekly["outcome"], "pass");
    assert_eq!(weekly["kind"], "check");
    assert!(weekly["last_success"].is_string(), "{weekly}");
    assert_eq!(weekly["check_read_data_subset"], "2/4");
    assert_eq!(weekly["check_coverage_ratio"], 0.5);
    assert!(weekly["newest_snapshot_age_seconds"].as_f64().expect("age") > 86400.0);
    assert_eq!(weekly["last_restore_test"]["job"], "monthly-restore");
    let full = row(&rs, "full-check", "flipped-byte");
    assert_eq!(full["outcome"], "fail");
    assert!(full["last_success"].is_null(), "{full}");
    assert_eq!(full["check_coverage_ratio"], 1.0);
    assert!(
        full["findings"][0]
            .as_str()
            .expect("finding")
            .contains("error"),
        "{full}"
    );
    let restore = row(&rs, "monthly-restore", "clean");
    assert_eq!(restore["kind"], "restore-test");
    assert_eq!(restore["last_restore_test"]["files_verified"], 10);
    assert_eq!(restore["last_restore_test"]["files_sampled"], 10);
    assert!(
        restore["last_restore_test"]["estimated_full_restore_seconds"].is_number(),
        "{restore}"
    );

    // --config: every job × repository of the profile, the one that never ran too,
    // with the rotation from the state directory; still exit 1.
    let out = env
        .cmd()
        .args(["status", "--json", "--config"])
        .arg(&h.profile)
        .output()
        .expect("status");
    util::assert_exit(&out, 1);
    let rs = rows(&out.stdout);
    assert_eq!(rs.len(), ROWS.len() + 1, "{rs:#?}");
    let never = row(&rs, NEVER_RUN.0, NEVER_RUN.1);
    assert_eq!(never["outcome"], "none");
    assert!(never["last_run"].is_null());

    // The plain table (stdout is a pipe): every job and repository, no ANSI codes.
    let out = env
        .cmd()
        .args(["status", "--config"])
        .arg(&h.profile)
        .output()
        .expect("status");
    util::assert_exit(&out, 1);
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!table.contains('\x1b'), "ANSI codes on a pipe:\n{table}");
    for (job, repository) in ROWS.iter().chain([&NEVER_RUN]) {
        let block = repository_block(&table, repository);
        assert!(
            block.iter().any(|l| l.trim_start().starts_with(job)),
            "no line for {job} under repository {repository}:\n{table}"
        );
    }
    assert!(table.contains("FAIL full-check on flipped-byte"), "{table}");
    // The same table fits 80 columns.
    let out = env
        .cmd()
        .env("COLUMNS", "80")
        .args(["status", "--config"])
        .arg(&h.profile)
        .output()
        .expect("status");
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert_fits(&table, 80);

    // Only passing runs: exit 0, so `if restic-verify status` works.
    let passing = env.path("passing.jsonl");
    let text = std::fs::read_to_string(&h.results).expect("read");
    std::fs::write(
        &passing,
        text.lines()
            .filter(|l| l.contains("\"outcome\":\"pass\""))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write");
    let out = env
        .cmd()
        .args(["status", "--results"])
        .arg(&passing)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let st = StdCommand::new("sh")
        .arg("-c")
        .arg(r#"if "$0" status --results "$1" >/dev/null 2>&1; then echo verified; else echo "not verified: $?"; fi"#)
        .arg(assert_cmd::cargo::cargo_bin("restic-verify"))
        .arg(&h.results)
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&st.stdout).trim(),
        "not verified: 1"
    );
}

/// The lines of `table` from the line of `repository` to the next blank line.
fn repository_block<'a>(table: &'a str, repository: &str) -> Vec<&'a str> {
    table
        .lines()
        .skip_while(|l| !l.starts_with(&format!("repository {repository}:")))
        .take_while(|l| !l.is_empty())
        .collect()
}

fn assert_fits(table: &str, width: usize) {
    for l in table.lines() {
        assert!(
            l.chars().count() <= width,
            "a line of {} characters at {width} columns: {l:?}\n{table}",
            l.chars().count()
        );
    }
}

/// Three jobs with long names on one repository, as the JSONL has them: a passing
/// check, a passing restore test, and an audit that failed afterwards.
fn three_jobs(env: &TestEnv) -> PathBuf {
    let results = env.path("three.jsonl");
    let lines = [
        r#"{"v":1,"ts":"2026-01-01T00:00:00Z","job":"weekly-check-of-the-offsite-nas-repository","kind":"check","repository":"offsite-nas-photos-and-documents","outcome":"pass","duration_seconds":4.2,"findings":[],"check":{"read_data_subset":"3/12","newest_snapshot_age_seconds":7200,"rotation":{"coverage_ratio":0.25},"coverage":{"packs":400,"unread_packs":120,"overdue_packs":0}}}"#,
        r#"{"v":1,"ts":"2026-01-01T01:00:00Z","job":"monthly-restore-test-of-the-home-directories","kind":"restore-test","repository":"offsite-nas-photos-and-documents","outcome":"pass","duration_seconds":30.5,"findings":[],"restore_test":{"sampled":100,"counts":{"match":100},"bytes_restored":1048576,"estimated_full_restore_seconds":5400}}"#,
        r#"{"v":1,"ts":"2026-01-01T02:00:00Z","job":"nightly-audit-of-every-file-against-the-live-source","kind":"audit","repository":"offsite-nas-photos-and-documents","outcome":"fail","duration_seconds":60.0,"findings":[{"severity":"fail","kind":"mismatch","detail":"/home/alice/Pictures/2025/holiday-in-the-mountains/IMG_0001.jpg: content differs from the source although size and mtime are equal"}],"audit":{"counts":{"match":9999,"mismatch":1}}}"#,
    ];
    std::fs::write(&results, lines.map(|l| format!("{l}\n")).concat()).expect("write");
    results
}

#[test]
fn status_at_80_columns_fits_and_shows_each_jobs_own_outcome() {
    let env = TestEnv::new();
    let results = three_jobs(&env);
    let out = env
        .cmd()
        .env("COLUMNS", "80")
        .args(["status", "--color", "never", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    util::assert_exit(&out, 1);
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert_fits(&table, 80);
    // Long names are cut with an ellipsis, never silently.
    assert!(table.contains("weekly-check-of…"), "{table}");
    // Each job row shows its own latest outcome: the audit's fail stays on the
    // audit's row; the repository's facts are on its own line, not in the rows.
    let block = repository_block(&table, "offsite-nas-photos-and-documents");
    assert!(block[0].contains("newest snapshot"), "{table}");
    let row = |prefix: &str| {
        block
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no row {prefix}:\n{table}"))
            .to_owned()
    };
    for (job, outcome) in [("weekly", "pass"), ("monthly", "pass"), ("nightly", "fail")] {
        let r = row(job);
        let words: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(words.get(2), Some(&outcome), "{job}: {r:?}\n{table}");
        let other = if outcome == "pass" { "fail" } else { "pass" };
        assert!(!words.contains(&other), "{job}: {r:?}\n{table}");
    }
    // A wider terminal gets the whole names.
    let out = env
        .cmd()
        .env("COLUMNS", "200")
        .args(["status", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    let wide = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        wide.contains("nightly-audit-of-every-file-against-the-live-source"),
        "{wide}"
    );
    assert_fits(&wide, 200);
}

/// Runs `status` on a pseudo-terminal (util-linux `script`), as a person would.
fn on_tty(env: &TestEnv, results: &Path, no_color: bool) -> String {
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    let mut c = StdCommand::new("script");
    c.args(["-qec"])
        .arg(format!(
            "'{}' status --results '{}'",
            bin.display(),
            results.display()
        ))
        .arg("/dev/null")
        .env_remove("NO_COLOR")
        .current_dir(env.dir.path());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c
        .output()
        .expect("script (util-linux) runs status on a pty");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_on_a_terminal_is_coloured_unless_no_color() {
    let env = TestEnv::new();
    let results = env.path("r.jsonl");
    std::fs::write(
        &results,
        concat!(
            r#"{"v":1,"ts":"2026-01-01T00:00:00Z","job":"weekly","kind":"check","repository":"nas","outcome":"pass","findings":[]}"#,
            "\n",
            r#"{"v":1,"ts":"2026-01-01T00:00:00Z","job":"weekly","kind":"check","repository":"b2","outcome":"error","findings":[],"error":{"category":"network","message":"dial tcp: timeout","retryable":true}}"#,
            "\n"
        ),
    )
    .expect("write");
    let tty = on_tty(&env, &results, false);
    assert!(tty.contains("\x1b[32mpass\x1b[0m"), "{tty:?}");
    assert!(tty.contains("\x1b[33merror\x1b[0m"), "{tty:?}");
    let plain = on_tty(&env, &results, true);
    assert!(
        plain.contains("weekly") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let forced = env
        .cmd()
        .args(["status", "--color", "always", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    util::assert_exit(&forced, 3);
    assert!(String::from_utf8_lossy(&forced.stdout).contains("\x1b[1m"));
}

#[test]
fn status_skips_malformed_lines_with_their_number_and_names_a_missing_file() {
    let env = TestEnv::new();
    let results = env.path("r.jsonl");
    std::fs::write(
        &results,
        concat!(
            r#"{"v":1,"ts":"2026-01-01T00:00:00Z","job":"weekly","kind":"check","repository":"nas","outcome":"pass","findings":[]}"#,
            "\n",
            "this is not json\n",
            "\n",
            r#"{"v":1,"ts":"2026-01-02T00:00:00Z","job":"weekly","kind":"che"#,
            "\n",
            "\u{0}\u{1}\n",
            r#"{"v":1,"ts":"2026-01-03T00:00:00Z","job":"monthly","kind":"restore-test","repository":"nas","outcome":"pass","findings":[]}"#,
            "\n",
            r#"{"v":1,"ts":"2026-01-04T00:00:00Z","job":"weekly","kind":"check","repository":"nas","outc"#,
        ),
    )
    .expect("write");
    let out = env
        .cmd()
        .args(["status", "--json", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let rs = rows(&out.stdout);
    assert_eq!(rs.len(), 2, "{rs:#?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in [2, 4, 5, 7] {
        assert!(
            stderr.contains(&format!("r.jsonl: line {n} skipped")),
            "no warning for line {n}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("line 3 "),
        "an empty line is not malformed:\n{stderr}"
    );

    let missing = env.path("nope/results.jsonl");
    let out = env
        .cmd()
        .args(["status", "--results"])
        .arg(&results)
        .arg("--results")
        .arg(&missing)
        .output()
        .expect("status");
    util::assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    let out = env
        .cmd()
        .args(["status", "--results"])
        .arg(env.dir.path())
        .output()
        .expect("status");
    util::assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read results file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `n` records (a few hundred bytes each, with a restic error line list)
/// for 10 jobs × 5 repositories.
pub fn synthetic_history(path: &Path, n: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..n {
        let day = i / 50;
        let outcome = if i % 97 == 0 { "fail" } else { "pass" };
        writeln!(
            f,
            r#"{{"v":1,"ts":"{}","host":"h","job":"job-{}","kind":"check","repository":"repo-{}","outcome":"{outcome}","duration_seconds":12.5,"check":{{"read_data_subset":"{}/12","errors":["pack {i:064x}: does not exist"],"snapshots":40,"newest_snapshot_age_seconds":3600,"rotation":{{"group":1,"groups":12,"coverage_ratio":0.5}}}},"findings":[{{"severity":"fail","kind":"check_error","detail":"pack {}: does not exist"}}]}}"#,
            (chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z").expect("t")
                + chrono::Duration::minutes(i as i64 * 29))
            .to_rfc3339(),
            i % 10,
            (i / 10) % 5,
            day % 12 + 1,
            i % 3,
        )
        .expect("write");
    }
}

/// Peak resident memory in KiB of one run of the binary, from GNU time.
pub fn peak_kib(env: &TestEnv, args: &[&std::ffi::OsStr]) -> u64 {
    let out = StdCommand::new("/usr/bin/time")
        .arg("-f")
        .arg("peak-kib=%M")
        .arg(assert_cmd::cargo::cargo_bin("restic-verify"))
        .args(args)
        .current_dir(env.dir.path())
        .output()
        .expect("/usr/bin/time not found: install Debian's `time` package (scripts/setup.sh does)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in:\n{stderr}"))
}

#[test]
fn status_memory_does_not_grow_with_the_length_of_the_history() {
    let env = TestEnv::new();
    let small = env.path("small.jsonl");
    let large = env.path("large.jsonl");
    synthetic_history(&small, 1_000);
    synthetic_history(&large, 100_000);
    assert!(std::fs::metadata(&large).expect("stat").len() > 40 << 20);
    let args = |p: &Path| {
        vec![
            std::ffi::OsString::from("status"),
            "--json".into(),
            "--results".into(),
            p.into(),
        ]
    };
    let a = args(&small);
    let b = args(&large);
    let small_kib = peak_kib(&env, &a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    let large_kib = peak_kib(&env, &b.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(
        large_kib < small_kib + 8 * 1024,
        "status used {large_kib} KiB on 100,000 records and {small_kib} KiB on 1,000"
    );
}
