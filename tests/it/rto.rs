//! The recovery-time estimate of restore tests against the real restic: every
//! restore call is timed in the record; without a state dir there is no calibration
//! and so no estimate (null, with the reason, NaN in the metric); with one, the
//! clean fixture is small enough to be restored whole, so its recovery time is
//! measured, and the calls are remembered in the state file. A snapshot too large
//! for that (`wide_repo`, built here) is calibrated by restoring graded subtrees;
//! calls remembered in the state file are fitted instead of calibrating again, and
//! the model's estimate reaches the record, the metric, `status` and `report`; calls
//! the model cannot trust, or a sampled file that failed to restore, give no
//! estimate, with the reason.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, sample, TestEnv};

const RTO_SERIES: &str =
    "restic_verify_restore_test_estimated_full_restore_seconds{job=\"restore-test\",repository=\"clean\"}";

/// The sampled calls' file counts summed, and the calls after them: how a sample
/// splits into calls depends on the seed (a file `--include` cannot name, such as
/// one with a newline, is fetched with `restic dump`, one call of its own), but
/// every sampled file is in exactly one timed call, and calibration comes last.
fn sampled_then(r: &Value) -> (u64, usize, Vec<(String, u64)>) {
    let all = calls(r);
    let n = all.iter().take_while(|(k, _)| k == "sample").count();
    let files = all[..n].iter().map(|(_, f)| f).sum();
    (files, n, all[n..].to_vec())
}

fn calls(r: &Value) -> Vec<(String, u64)> {
    r["restore_test"]["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| {
            assert!(c["seconds"].as_f64().expect("seconds") > 0.0, "{c}");
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["files"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn rto_without_a_state_dir_is_null_with_the_reason_and_nan_in_the_metric() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .args(["--sample", "5"])
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    let t = &r["restore_test"];
    let (sampled, n, after) = sampled_then(&r);
    assert_eq!((sampled, after.len()), (5, 0), "{t}");
    assert!(t["estimated_full_restore_seconds"].is_null(), "{t}");
    assert!(t["rto"]["seconds"].is_null());
    assert!(t["rto"]["basis"].is_null());
    let reason = t["rto"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("state-dir"), "{reason}");
    assert!(
        reason.contains(&format!("{n} sampled call(s) are not used")),
        "{reason}"
    );
    assert!(sample(&env.metrics(), RTO_SERIES).is_nan());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no RTO estimate"), "{stderr}");
    assert!(!stderr.contains("full restore ~"), "{stderr}");
}

#[test]
fn rto_of_a_small_snapshot_with_a_state_dir_is_measured_by_restoring_it_whole() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let state = env.path("state");
    let out = env
        .restore_test(&repo, &src)
        .args(["--sample", "5", "--state-dir"])
        .arg(&state)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    let t = &r["restore_test"];
    // 38 regular files: the calibration call restores all of them.
    let (sampled, n, after) = sampled_then(&r);
    assert_eq!(sampled, 5, "{t}");
    assert_eq!(after, [("full".to_owned(), 38)], "{t}");
    assert_eq!(t["rto"]["basis"], "measured", "{t}");
    let full = t["calls"][n]["seconds"].as_f64().unwrap();
    assert_eq!(t["rto"]["seconds"].as_f64(), Some(full));
    assert_eq!(t["estimated_full_restore_seconds"].as_f64(), Some(full));
    assert_eq!(sample(&env.metrics(), RTO_SERIES), full);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(measured)"), "{stderr}");
    // The call is remembered for later fits; nothing is left in the test dir.
    let state_file = std::fs::read_to_string(state.join("restore-test.clean.json")).unwrap();
    let s: Value = serde_json::from_str(&state_file).unwrap();
    let remembered = s["restore_calls"].as_array().expect("restore_calls");
    assert_eq!(remembered.len(), 1, "{s}");
    assert_eq!(remembered[0]["kind"], "full");
    assert_eq!(remembered[0]["files"], 38);
    assert!(remembered[0]["restic"].as_str().unwrap().starts_with("0."));
    assert!(env.test_dir_entries().is_empty());
}

/// Graded subtrees of the wide snapshot (directory, files): what `rto::probe` picks
/// for calibration (about 4× apart, the largest at most an eighth of the snapshot),
/// in the order it restores them.
const GRADED: [(&str, u64); 3] = [("big", 2_000), ("mid", 500), ("small", 120)];
/// Directories of 1,000 files that take the snapshot past what is restored whole.
const FILL_DIRS: u64 = 18;
/// Every file holds 16 bytes.
const FILE_BYTES: u64 = 16;
const WIDE_FILES: u64 = 2_000 + 500 + 120 + FILL_DIRS * 1_000;

/// A repository `wide` whose one snapshot (tree paths `/wide-src/…`) holds
/// `WIDE_FILES` small files, more than a snapshot restored whole for calibration;
/// returns it and the source tree.
fn wide_repo(env: &TestEnv) -> (PathBuf, PathBuf) {
    const { assert!(WIDE_FILES > restic_verify::rto::probe::WHOLE_FILES) };
    let src = env.path("wide-src");
    let dirs = GRADED
        .iter()
        .map(|(d, n)| ((*d).to_owned(), *n))
        .chain((0..FILL_DIRS).map(|i| (format!("fill/{i:02}"), 1_000)));
    for (dir, n) in dirs {
        let d = src.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            std::fs::write(d.join(format!("f{i:04}")), format!("{i:015}\n")).unwrap();
        }
    }
    let repo = env.path("wide");
    let init = env.restic(&repo).arg("init").output().expect("init");
    assert!(init.status.success(), "{init:?}");
    let backup = env
        .restic(&repo)
        .args(["backup", "--host", "wide", "wide-src"])
        .current_dir(env.dir.path())
        .output()
        .expect("backup");
    assert!(backup.status.success(), "{backup:?}");
    (repo, src)
}

/// A restore test of 5 files of the wide snapshot, keeping state in `state/`.
fn wide_restore_test(env: &TestEnv, repo: &Path, src: &Path) -> std::process::Output {
    wide_restore_test_cmd(env, repo, src).output().expect("run")
}

fn wide_restore_test_cmd(env: &TestEnv, repo: &Path, src: &Path) -> assert_cmd::Command {
    std::fs::create_dir_all(env.path("test-dir")).unwrap();
    let mut c = env.cmd();
    c.args(["restore-test", "--sample", "5", "--repo"])
        .arg(repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--map")
        .arg(format!("/wide-src={}", src.display()))
        .arg("--test-dir")
        .arg(env.path("test-dir"))
        .arg("--state-dir")
        .arg(env.path("state"))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"));
    c
}

const WIDE_SERIES: &str =
    "restic_verify_restore_test_estimated_full_restore_seconds{job=\"restore-test\",repository=\"wide\"}";

/// The restic version the state file records, of the restic under test.
fn restic_version_text() -> String {
    let (major, minor) = util::restic_version();
    format!("{major}.{minor}.0")
}

#[test]
fn rto_of_a_large_snapshot_is_calibrated_by_restoring_graded_subtrees_that_are_remembered() {
    let env = TestEnv::new();
    let (repo, src) = wide_repo(&env);
    // The real restic, through a wrapper that notes how many directories the test
    // dir holds when each restore starts.
    let seen = env.path("test-dir-entries.log");
    let wrapper = env.path("restic-counting");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" restore \"*) ls -A '{}' | wc -l >> '{}';; esac\nexec '{}' \"$@\"\n",
            env.path("test-dir").display(),
            seen.display(),
            util::restic_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = wide_restore_test_cmd(&env, &repo, &src)
        .env("RESTIC_VERIFY_RESTIC", &wrapper)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    let t = &r["restore_test"];
    let (sampled, n, after) = sampled_then(&r);
    assert_eq!(sampled, 5, "{t}");
    // The graded subtrees, then the largest once more; never the whole snapshot.
    let mut want: Vec<(String, u64)> = GRADED
        .iter()
        .map(|(_, f)| ("subtree".to_owned(), *f))
        .collect();
    want.push(("subtree".to_owned(), GRADED[0].1));
    assert_eq!(after, want, "{t}");
    // No calibration call runs right after the removal of an earlier one's files
    // (slow on ext4 without a journal): each finds its predecessors still there.
    let entries: Vec<u64> = std::fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(entries.len(), n + after.len(), "{entries:?}");
    assert_eq!(entries[n..], [1, 2, 3, 4], "{entries:?}");
    for c in &t["calls"].as_array().unwrap()[n..] {
        assert_eq!(
            c["bytes"].as_u64(),
            Some(c["files"].as_u64().unwrap() * FILE_BYTES)
        );
    }
    let rto = &t["rto"];
    assert_eq!(rto["snapshot_files"], WIDE_FILES, "{rto}");
    assert_eq!(rto["snapshot_bytes"], WIDE_FILES * FILE_BYTES, "{rto}");
    // Real timings on a shared host: a model of the four calls, or none and why;
    // either way the record, the field and the metric agree, and never "measured".
    match rto["seconds"].as_f64() {
        Some(s) => {
            assert_eq!(rto["basis"], "model", "{rto}");
            assert_eq!(rto["calls"], 4, "{rto}");
            assert!(s > 0.0);
            assert_eq!(t["estimated_full_restore_seconds"].as_f64(), Some(s));
            assert_eq!(sample(&env.metrics(), WIDE_SERIES), s);
        }
        None => {
            assert!(rto["basis"].is_null(), "{rto}");
            assert!(rto["reason"].is_string(), "{rto}");
            assert!(t["estimated_full_restore_seconds"].is_null(), "{t}");
            assert!(sample(&env.metrics(), WIDE_SERIES).is_nan());
        }
    }
    // Remembered for later fits (unless the repeated call said the host was too
    // busy); nothing left in the test dir.
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(env.path("state/restore-test.wide.json")).unwrap(),
    )
    .unwrap();
    let too_busy = rto["reason"]
        .as_str()
        .is_some_and(|r| r.contains("too busy"));
    let remembered: Vec<(String, u64)> = s["restore_calls"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["kind"].as_str().unwrap().to_owned(),
                        c["files"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if too_busy {
        assert!(remembered.is_empty(), "{s}");
    } else {
        assert_eq!(remembered, want, "{s}");
    }
    assert!(env.test_dir_entries().is_empty());
}

/// A dense call as the state file keeps it, made a day ago with the restic under
/// test.
fn remembered(files: u64, bytes: u64, seconds: f64) -> Value {
    serde_json::json!({
        "at": (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339(),
        "restic": restic_version_text(),
        "kind": "subtree",
        "files": files,
        "bytes": bytes,
        "seconds": seconds,
    })
}

fn write_state(env: &TestEnv, calls: &[Value]) {
    std::fs::create_dir_all(env.path("state")).unwrap();
    let state = serde_json::json!({
        "v": 1, "last_run": null, "last_success": null, "restore_calls": calls,
    });
    std::fs::write(env.path("state/restore-test.wide.json"), state.to_string()).unwrap();
}

/// Seconds of a call under known costs: 1.3 s a call, 190 µs a file, 5.4 ns a byte.
fn modelled(files: u64, bytes: u64) -> f64 {
    1.3 + 1.9e-4 * files as f64 + 5.4e-9 * bytes as f64
}

fn exactly(files: u64, bytes: u64) -> Value {
    remembered(files, bytes, modelled(files, bytes))
}

#[test]
fn rto_from_remembered_calls_is_their_model_applied_to_the_snapshot_and_status_and_report_show_it()
{
    let env = TestEnv::new();
    let (repo, src) = wide_repo(&env);
    // Three calls that fit the costs exactly, with bytes per file far apart.
    write_state(
        &env,
        &[
            exactly(120, 500_000),
            exactly(2_000, 8_000_000),
            exactly(1, 64 << 20),
        ],
    );
    let out = wide_restore_test(&env, &repo, &src);
    util::assert_exit(&out, 0);
    let r = env.last_record();
    let t = &r["restore_test"];
    // Enough recent calls are remembered: no calibration in this run.
    let (sampled, _, after) = sampled_then(&r);
    assert_eq!((sampled, after.len()), (5, 0), "{t}");
    let rto = &t["rto"];
    let want = modelled(WIDE_FILES, WIDE_FILES * FILE_BYTES);
    let got = rto["seconds"].as_f64().expect("an estimate");
    assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}: {rto}");
    assert_eq!(rto["basis"], "model");
    assert_eq!(rto["calls"], 3, "the sampled calls are not fitted");
    assert!(rto["reason"].is_null(), "{rto}");
    assert!((rto["per_call_seconds"].as_f64().unwrap() - 1.3).abs() < 1e-6);
    assert!((rto["per_file_seconds"].as_f64().unwrap() - 1.9e-4).abs() < 1e-9);
    assert_eq!(t["estimated_full_restore_seconds"].as_f64(), Some(got));
    assert_eq!(sample(&env.metrics(), WIDE_SERIES), got);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("full restore ~5s (model of 3 calibration call(s))"),
        "{stderr}"
    );

    // `status` reads the estimate back from the record: JSON and the table.
    let results = env.path("results.jsonl");
    let out = env
        .cmd()
        .args(["status", "--json", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows[0]["last_restore_test"]["estimated_full_restore_seconds"].as_f64(),
        Some(got),
        "{rows}"
    );
    let out = env
        .cmd()
        .args(["status", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("5/5 files, RTO 5s"), "{table}");

    // `report` charts it: a point on the RTO chart, titled with the job and value.
    let page = env.path("report.html");
    let out = env
        .cmd()
        .args(["report", "--results"])
        .arg(&results)
        .arg("--output")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    let rto_section = section(&html, "<h3>RTO estimate", "<h3>");
    assert!(
        rto_section.contains("<title>restore-test: 5s ("),
        "{rto_section}"
    );
}

/// The text of `html` from `start` to the next `end` after it.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html.find(start).unwrap_or_else(|| panic!("no {start}"));
    let rest = &html[i + start.len()..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn rto_from_remembered_calls_the_model_cannot_trust_is_null_with_the_reason() {
    let env = TestEnv::new();
    let (repo, src) = wide_repo(&env);
    let inconsistent = [
        remembered(100, 400_000, 9.0), // the smallest took longest: a busy host
        exactly(1_000, 4_000_000),
        remembered(8_000, 32_000_000, 1.0),
    ];
    let alike = [
        exactly(1_000, 4 << 20),
        exactly(1_500, 6 << 20),
        exactly(2_000, 8 << 20),
    ];
    let drowned = [exactly(1, 4096), exactly(10, 40_960), exactly(50, 204_800)];
    for (calls, why) in [
        (
            &inconsistent,
            "the model does not explain the 3 calibration calls",
        ),
        (&alike, "too little spread"),
        (&drowned, "per-call cost"),
    ] {
        write_state(&env, calls);
        let out = wide_restore_test(&env, &repo, &src);
        util::assert_exit(&out, 0);
        let r = env.last_record();
        let t = &r["restore_test"];
        let (_, _, after) = sampled_then(&r);
        assert!(after.is_empty(), "no calibration: {t}");
        let rto = &t["rto"];
        assert!(rto["seconds"].is_null(), "{why}: {rto}");
        assert!(rto["basis"].is_null(), "{rto}");
        let reason = rto["reason"].as_str().expect("a reason");
        assert!(reason.contains(why), "{why}: {reason}");
        assert!(t["estimated_full_restore_seconds"].is_null(), "{t}");
        assert!(sample(&env.metrics(), WIDE_SERIES).is_nan());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("no RTO estimate: {reason}")),
            "{stderr}"
        );
        assert!(!stderr.contains("full restore ~"), "{stderr}");
    }
}

#[test]
fn rto_after_a_sampled_file_failed_to_restore_is_null_and_nothing_is_calibrated() {
    let env = TestEnv::new();
    // Backup 3's data pack (the `changes/` files new in snapshot 3) is deleted.
    let repo = env.fixture_repo("missing-pack");
    let src = env.source_tree();
    let state = env.path("state");
    let out = env
        .restore_test(&repo, &src)
        .args([
            "--sample",
            "1",
            "--always",
            "/source/changes/added-in-3.txt",
        ])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let t = &r["restore_test"];
    // With a state dir the clean fixture's snapshot would be restored whole and
    // measured; a failed restore has no recovery time.
    let (_, _, after) = sampled_then(&r);
    assert!(
        after.is_empty(),
        "no calibration after a failed sample: {t}"
    );
    let reason = t["rto"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("failed to restore"), "{reason}");
    assert!(t["rto"]["seconds"].is_null(), "{t}");
    assert!(t["estimated_full_restore_seconds"].is_null(), "{t}");
    let series = RTO_SERIES.replace("\"clean\"", "\"missing-pack\"");
    assert!(sample(&env.metrics(), &series).is_nan());
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("restore-test.missing-pack.json")).unwrap(),
    )
    .unwrap();
    assert!(s.get("restore_calls").is_none(), "{s}");
    assert!(env.test_dir_entries().is_empty());
}
