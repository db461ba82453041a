//! The recovery-time estimate of restore tests against the real restic: every
//! restore call is timed in the record; without a state dir there is no calibration
//! and so no estimate (null, with the reason, NaN in the metric); with one, the
//! clean fixture is small enough to be restored whole, so its recovery time is
//! measured, and the calls are remembered in the state file.

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
