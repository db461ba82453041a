//! The pack coverage ledger: which packs a completed check has read and when, kept
//! in `state-dir` and shown as metrics; `outdated-after` fails a run when a pack
//! waited too long; `read-budget` reads the packs that waited longest first.

use std::path::Path;

use serde_json::{json, Value};

use crate::util::{self, TestEnv};

/// The repository's pack IDs, as restic lists them.
fn packs(env: &TestEnv, repo: &Path) -> Vec<String> {
    let out = env
        .restic(repo)
        .args(["list", "packs"])
        .output()
        .expect("list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.len() == 64)
        .collect();
    ids.sort();
    ids
}

/// restic's group of a pack in `t` groups: first byte % t + 1.
fn group(id: &str, t: u16) -> u16 {
    u16::from(u8::from_str_radix(&id[..2], 16).expect("hex")) % t + 1
}

/// A metric's value for the repository, from the metrics file.
fn metric(env: &TestEnv, name: &str) -> f64 {
    let text = env.metrics();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line.rsplit(' ')
        .next()
        .expect("value")
        .parse()
        .expect("number")
}

fn run(env: &TestEnv, repo: &Path, args: &[&str]) -> std::process::Output {
    env.check(repo)
        .arg("--state-dir")
        .arg(env.path("state"))
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn coverage_rotation_reads_every_pack_over_a_cycle_and_new_packs_wait() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let ids = packs(&env, &repo);
    let outside = |k: u16| ids.iter().filter(|i| group(i, 3) > k).count() as f64;
    for k in 1..=3u16 {
        util::assert_exit(&run(&env, &repo, &["--read-data-subset", "rotate/3"]), 0);
        let r = env.last_record();
        assert_eq!(r["check"]["read_data_subset"], format!("{k}/3"));
        assert_eq!(
            metric(&env, "restic_verify_unread_packs"),
            outside(k),
            "after group {k}/3"
        );
    }
    assert_eq!(metric(&env, "restic_verify_unread_bytes"), 0.0);
    // A new backup adds packs; the next run reads group 1 again.
    let data = env.path("more");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("new.txt"), "written after the cycle\n").expect("write");
    let st = env
        .restic(&repo)
        .arg("backup")
        .arg(&data)
        .output()
        .expect("backup");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let after = packs(&env, &repo);
    let new: Vec<&String> = after.iter().filter(|i| !ids.contains(i)).collect();
    assert!(!new.is_empty());
    util::assert_exit(&run(&env, &repo, &["--read-data-subset", "rotate/3"]), 0);
    let waiting = new.iter().filter(|i| group(i, 3) != 1).count() as f64;
    assert_eq!(metric(&env, "restic_verify_unread_packs"), waiting);
    let age = metric(&env, "restic_verify_oldest_unread_pack_age_seconds");
    assert!(age.is_finite() && age >= 0.0, "{age}");
    let r = env.last_record();
    assert_eq!(r["check"]["coverage"]["packs"], after.len());
}

/// A ledger file as restic-verify writes it: every pack first seen and last read
/// `days_ago`, except `fresh` packs read just now.
fn write_ledger(env: &TestEnv, repo_name: &str, ids: &[String], days_ago: i64, fresh: &[&String]) {
    let now = chrono::Utc::now().timestamp();
    let old = now - days_ago * 86_400;
    let mut packs = serde_json::Map::new();
    for id in ids {
        let t = if fresh.contains(&id) { now } else { old };
        packs.insert(id[..16].to_owned(), json!({"seen": old, "read": t}));
    }
    let dir = env.path("state");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join(format!("ledger-{repo_name}.json")),
        json!({"v": 1, "packs": packs}).to_string(),
    )
    .expect("ledger");
}

#[test]
fn coverage_outdated_after_fails_a_run_whose_packs_waited_too_long() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let ids = packs(&env, &repo);
    write_ledger(&env, "clean", &ids, 40, &[]);
    // A structure-only check reads no pack: every pack is 40 days unread.
    let out = run(&env, &repo, &["--outdated-after", "35d"]);
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let kinds: Vec<&Value> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| &f["kind"])
        .collect();
    assert!(kinds.contains(&&json!("coverage_outdated")), "{r}");
    assert_eq!(r["check"]["coverage"]["overdue_packs"], ids.len());
    // Reading every pack brings the repository back within the window.
    util::assert_exit(
        &run(&env, &repo, &["--outdated-after", "35d", "--read-data"]),
        0,
    );
    assert_eq!(metric(&env, "restic_verify_read_within_window_ratio"), 1.0);
}

#[test]
fn coverage_read_budget_reads_the_group_that_waited_longest() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let ids = packs(&env, &repo);
    // Every pack was read just now except the one in the highest group of 256.
    let oldest = ids
        .iter()
        .max_by_key(|i| group(i, 256))
        .expect("a pack")
        .clone();
    let fresh: Vec<&String> = ids.iter().filter(|i| **i != oldest).collect();
    write_ledger(&env, "clean", &ids, 10, &fresh);
    // One byte: as many groups as restic allows, so one group is a pack or two.
    util::assert_exit(&run(&env, &repo, &["--read-budget", "1"]), 0);
    let r = env.last_record();
    let want = format!("{}/256", group(&oldest, 256));
    assert_eq!(r["check"]["read_data_subset"], want, "{r}");
    assert_eq!(r["check"]["budget"]["groups"], json!([want]));
    assert!(r["check"]["budget"]["bytes"].as_u64().expect("bytes") > 0);
    // The pack that waited longest has now been read.
    assert_eq!(metric(&env, "restic_verify_unread_packs"), 0.0);
    let age = metric(&env, "restic_verify_oldest_unread_pack_age_seconds");
    assert!(age < 3600.0, "the 10-day-old read was replaced: {age}");
}

#[test]
fn coverage_read_budget_without_state_dir_is_a_usage_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = env
        .check(&repo)
        .args(["--read-budget", "5G"])
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--read-budget needs --state-dir"), "{err}");
}
