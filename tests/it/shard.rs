//! Shards (issue #25): the same profile on n hosts, each with its own `--shard k/n`,
//! covers every repository exactly once, for n = 1..7; a repository added later
//! moves no other one; `--shard` beats `[defaults] shard` and bad values are usage
//! errors naming the flag and the range. Seen through `validate --json --shard` (the
//! plan a host runs) and one `run`; the run calls restic only on repositories that
//! do not exist, so nothing here depends on restic's version.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rstest::rstest;
use serde_json::Value;

use crate::util::{assert_exit, read_jsonl, TestEnv};

/// Repository names as people write them: numbered, short, dotted, underscored.
fn names() -> Vec<String> {
    let mut names: Vec<String> = (1..=20).map(|i| format!("customer-{i:03}")).collect();
    names.extend(["nas", "b2.photos", "offsite_mirror", "k8s-ns-prod-pvc-data"].map(String::from));
    names
}

/// A profile over `names`: every repository a local path under the env (absent:
/// a run records "could not verify"), one job on all of them, one on the first two.
fn write_profile(env: &TestEnv, names: &[String], defaults: &str) -> PathBuf {
    let pw = env.password_file("pw", "secret\n");
    let mut text = format!(
        "[defaults]\npassword-file = {pw:?}\nresults = {:?}\n{defaults}\n",
        env.path("results.jsonl")
    );
    for (i, name) in names.iter().enumerate() {
        text += &format!(
            "\n[repository.{name:?}]\nurl = {:?}\n",
            env.path(&format!("repos/r{i}"))
        );
    }
    let list = |names: &[String]| format!("{names:?}");
    text += &format!(
        "\n[job.all]\nkind = \"check\"\nrepositories = {}\n\n[job.pair]\nkind = \"check\"\nrepositories = {}\n",
        list(names),
        list(&names[..2])
    );
    let p = env.path("config.toml");
    std::fs::write(&p, text).expect("write profile");
    p
}

/// `validate --json --shard k/n`: the repositories the plan of shard k holds.
fn taken(env: &TestEnv, profile: &Path, k: u32, n: u32) -> BTreeSet<String> {
    let out = env
        .cmd()
        .args(["--json", "validate", "--config"])
        .arg(profile)
        .args(["--shard", &format!("{k}/{n}")])
        .output()
        .expect("validate");
    assert_exit(&out, 0);
    let plan: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let repos: BTreeSet<String> = plan["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(plan["shard"]["k"], k);
    assert_eq!(plan["shard"]["n"], n);
    let listed: BTreeSet<String> = plan["shard"]["shards"][(k - 1) as usize]["repositories"]
        .as_array()
        .expect("the shard's list")
        .iter()
        .map(|r| r.as_str().expect("name").to_owned())
        .collect();
    assert_eq!(
        listed, repos,
        "the shard list and the plan agree for {k}/{n}"
    );
    for job in plan["jobs"].as_array().expect("jobs") {
        let on: Vec<&str> = job["repositories"]
            .as_array()
            .expect("job repositories")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !on.is_empty(),
            "a job without repositories is planned: {job}"
        );
        assert!(
            on.iter().all(|r| repos.contains(*r)),
            "{job} outside {repos:?}"
        );
    }
    repos
}

/// Every shard of n: which shard takes each repository, asserting none is taken twice.
fn placement(env: &TestEnv, profile: &Path, n: u32) -> BTreeMap<String, u32> {
    let mut place = BTreeMap::new();
    for k in 1..=n {
        for name in taken(env, profile, k, n) {
            if let Some(other) = place.insert(name.clone(), k) {
                panic!("`{name}` is taken by shards {other}/{n} and {k}/{n}");
            }
        }
    }
    place
}

#[test]
fn shard_k_of_n_covers_every_repository_once_and_a_new_repository_moves_none() {
    let env = TestEnv::new();
    let mut names = names();
    let profile = write_profile(&env, &names, "");
    let all: BTreeSet<String> = names.iter().cloned().collect();
    let mut before = Vec::new();
    for n in 1..=7 {
        let place = placement(&env, &profile, n);
        let covered: BTreeSet<String> = place.keys().cloned().collect();
        assert_eq!(covered, all, "n = {n}: every repository exactly once");
        before.push(place);
    }
    names.push("added-later".to_owned());
    let profile = write_profile(&env, &names, "");
    for (n, old) in (1..=7).zip(before) {
        let mut place = placement(&env, &profile, n);
        assert!(
            place.remove("added-later").is_some(),
            "n = {n}: the new repository is taken"
        );
        assert_eq!(place, old, "n = {n}: adding a repository moved another");
    }
}

#[test]
fn shard_flag_beats_the_profile_and_run_verifies_only_that_shards_repositories() {
    let env = TestEnv::new();
    let names = names();
    let profile = write_profile(&env, &names, "shard = \"2/2\"");
    let first: BTreeSet<String> = taken(&env, &profile, 1, 2);
    assert!(!first.is_empty() && first.len() < names.len(), "{first:?}");
    let out = env
        .cmd()
        .args(["run", "all", "--shard", "1/2", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    // The repositories do not exist: every run is recorded as could not verify.
    assert_exit(&out, 3);
    let ran: BTreeSet<String> = read_jsonl(&env.path("results.jsonl"))
        .iter()
        .map(|r| r["repository"].as_str().expect("repository").to_owned())
        .collect();
    assert_eq!(ran, first, "the flag's shard 1/2, not the profile's 2/2");
}

#[test]
fn shard_from_the_environment_is_taken_and_the_text_plan_lists_every_shard() {
    let env = TestEnv::new();
    let profile = write_profile(&env, &names(), "");
    let first = taken(&env, &profile, 1, 3);
    let out = env
        .cmd()
        .env("RESTIC_VERIFY_SHARD", "1/3")
        .args(["validate", "--config"])
        .arg(&profile)
        .output()
        .expect("validate");
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "shard 1/3: this host takes {} of {} repositories",
            first.len(),
            names().len()
        )),
        "{text}"
    );
    let mine = text
        .lines()
        .find(|l| l.trim_start().starts_with("1/3: "))
        .expect("shard 1's line");
    assert!(mine.ends_with("<- this host"), "{mine}");
    for name in &first {
        assert!(mine.contains(name.as_str()), "{name} not in {mine}");
    }
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("3/3: ")),
        "{text}"
    );
}

#[rstest]
#[case("validate", "4/3", "k must be in 1..=3")]
#[case("run", "0/2", "k must be in 1..=2")]
#[case("daemon", "1/0", "n must be at least 1")]
#[case("validate", "two", "is not k/n")]
fn shard_flag_out_of_range_is_a_usage_error_naming_the_flag_and_range(
    #[case] command: &str,
    #[case] value: &str,
    #[case] want: &str,
) {
    let env = TestEnv::new();
    let profile = write_profile(&env, &names(), "");
    let out = env
        .cmd()
        .args([command, "--shard", value, "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--shard") && err.contains(want) && err.contains("1..=n"),
        "{err}"
    );
}

#[test]
fn shard_key_out_of_range_is_a_config_error_with_its_line() {
    let env = TestEnv::new();
    let profile = write_profile(&env, &names(), "shard = \"3/2\"");
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:4:", profile.display());
    assert!(
        err.contains(&at) && err.contains("[defaults] `shard`") && err.contains("1..=2"),
        "{err}"
    );
}
