//! `check --read-data-subset new`: restic's structural check and, at the same time,
//! the packs the ledger has never seen read, read in process; through backups,
//! damage, a budget and a REST server that goes away (which must stop restic's
//! check too, not leave it retrying). The ledger file in `state-dir` is the witness
//! of what was read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::packread::{backup, damage, damage_where, new_repo, pack_files, write_files, Damage};
use crate::util::{self, TestEnv};

fn run(env: &TestEnv, repo: &Path, extra: &[&str]) -> std::process::Output {
    env.check(repo)
        .arg("--state-dir")
        .arg(env.path("state"))
        .args(["--read-data-subset", "new"])
        .args(extra)
        .output()
        .expect("run")
}

/// The ledger: 16-digit pack ID → (first seen, last read).
fn ledger(env: &TestEnv) -> BTreeMap<String, (i64, Option<i64>)> {
    let file = util::walk(&env.path("state"))
        .into_iter()
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("ledger-") && n.ends_with(".json")
        })
        .expect("a ledger file");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["packs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, p)| (k.clone(), (p["seen"].as_i64().unwrap(), p["read"].as_i64())))
        .collect()
}

fn read_packs(env: &TestEnv) -> BTreeSet<String> {
    ledger(env)
        .into_iter()
        .filter(|(_, (_, r))| r.is_some())
        .map(|(k, _)| k)
        .collect()
}

fn all_packs(repo: &Path) -> BTreeSet<String> {
    pack_files(repo)
        .into_iter()
        .map(|(id, _)| id[..16].to_owned())
        .collect()
}

fn metric(env: &TestEnv, name: &str) -> f64 {
    let text = env.metrics();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn repo_with_backup(env: &TestEnv) -> std::path::PathBuf {
    write_files(&env.path("src"), "a", 1, 4, 150_000);
    let repo = new_repo(env, "repo", 2);
    backup(env, &repo);
    repo
}

#[test]
fn check_new_reads_every_pack_then_none_then_exactly_a_backups_new_packs() {
    let env = TestEnv::new();
    let repo = repo_with_backup(&env);
    let first = all_packs(&repo);
    util::assert_exit(&run(&env, &repo, &[]), 0);
    assert_eq!(read_packs(&env), first, "the first run reads every pack");
    let r = env.last_record();
    assert_eq!(r["check"]["read"]["mode"], "new", "{r}");
    assert_eq!(r["check"]["read"]["packs"], first.len(), "{r}");
    let on_disk: u64 = pack_files(&repo)
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(r["check"]["read"]["bytes"], on_disk, "{r}");
    assert_eq!(metric(&env, "restic_verify_unread_packs"), 0.0);
    let before = ledger(&env);

    util::assert_exit(&run(&env, &repo, &[]), 0);
    let r = env.last_record();
    assert_eq!(r["check"]["read"]["packs"], 0, "nothing new: {r}");
    assert_eq!(ledger(&env), before, "no pack read again");

    write_files(&env.path("src"), "b", 2, 3, 150_000);
    backup(&env, &repo);
    let added: BTreeSet<String> = all_packs(&repo).difference(&first).cloned().collect();
    assert!(!added.is_empty());
    util::assert_exit(&run(&env, &repo, &[]), 0);
    let after = ledger(&env);
    let reread: BTreeSet<String> = after
        .iter()
        .filter(|(k, (_, r))| before.get(*k).is_none_or(|(_, b)| b != r))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(reread, added, "exactly the new packs were read");
    assert_eq!(env.last_record()["check"]["read"]["packs"], added.len());
}

#[rstest::rstest]
fn check_new_damage_in_a_new_pack_fails_the_run_and_names_it(
    #[values(Damage::BlobByte, Damage::HeaderByte, Damage::HeaderBlobNotInIndex)] kind: Damage,
) {
    let env = TestEnv::new();
    let repo = repo_with_backup(&env);
    util::assert_exit(&run(&env, &repo, &[]), 0);
    write_files(&env.path("src"), "b", 2, 3, 150_000);
    backup(&env, &repo);
    let first = read_packs(&env);
    let broken = damage_where(&env, &repo, kind, &|id| !first.contains(&id[..16]));
    let broken_key: Vec<String> = broken.iter().map(|b| b[..16].to_owned()).collect();
    assert!(
        broken_key.iter().all(|b| !first.contains(b)),
        "the damaged pack is a new one"
    );
    let out = run(&env, &repo, &[]);
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let packs: BTreeSet<String> = r["damage"]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(packs, broken, "{r}");
    assert_eq!(r["check"]["read"]["broken"], 1, "{r}");
    assert!(
        r["findings"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("in-process read of new packs found 1 broken pack"),
        "{r}"
    );
}

/// Strings of a JSON array.
fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// `restic restore latest --include PATH`: whether restic exits 0 and what it wrote.
fn restore_one(env: &TestEnv, repo: &Path, path: &str, to: &str) -> (bool, Option<Vec<u8>>) {
    let target = env.path(to);
    let out = env
        .restic(repo)
        .args(["restore", "latest", "--include", path, "--target"])
        .arg(&target)
        .output()
        .unwrap();
    let rel = path.trim_start_matches('/');
    (out.status.success(), std::fs::read(target.join(rel)).ok())
}

// See issue #23 ("Damage to the blob"): the one file using the flipped blob is lost,
// the 62 others of the pack at risk, and restic's restore agrees.
#[test]
fn check_new_flipped_blob_names_its_one_file_lost_and_the_packs_others_at_risk() {
    let env = TestEnv::new();
    write_files(&env.path("src"), "many", 7, 60, 1_500);
    write_files(&env.path("src"), "big", 8, 1, 300_000);
    let repo = new_repo(&env, "repo", 2);
    backup(&env, &repo);
    // The biggest blob of the data pack is big/f0.bin's only blob.
    let broken = damage(&env, &repo, Damage::BlobByte);
    let out = run(&env, &repo, &[]);
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let d = &r["damage"];
    assert_eq!(
        strs(&d["packs"]),
        broken.iter().cloned().collect::<Vec<_>>(),
        "{r}"
    );
    assert_eq!(strs(&d["lost"]), ["/src/big/f0.bin"], "{r}");
    assert_eq!(d["lost_total"], 1, "{r}");
    // 60 small files and two notes.txt: capped at 50 in the record, whole in the file.
    assert_eq!(d["at_risk_total"], 62, "{r}");
    let at_risk = strs(&d["at_risk"]);
    assert_eq!(at_risk.len(), 50, "{r}");
    assert!(!at_risk.contains(&"/src/big/f0.bin".to_owned()), "{r}");
    assert_eq!(d["by_pack"][0]["blobs_lost"], 1, "{r}");
    assert_eq!(strs(&d["by_pack"][0]["lost"]), ["/src/big/f0.bin"], "{r}");
    let list = d["files_list"].as_str().expect("files_list");
    assert!(
        list.starts_with(env.path("results.jsonl.damage-").to_str().unwrap()),
        "{list}"
    );
    let full: Value = serde_json::from_str(&std::fs::read_to_string(list).unwrap()).unwrap();
    assert_eq!(strs(&full["lost"]), ["/src/big/f0.bin"]);
    assert_eq!(strs(&full["at_risk"]).len(), 62, "{full}");
    assert_eq!(strs(&full["by_pack"][0]["at_risk"]).len(), 62, "{full}");
    // Lost first in the summary (stderr; notifications send the same text).
    let err = String::from_utf8_lossy(&out.stderr);
    let lost = err.find("lost file(s) (they use a blob that failed): /src/big/f0.bin");
    let risk = err.find("at-risk file(s) (salvageable with `restic repair packs`): /src/");
    assert!(lost.is_some() && risk.is_some() && lost < risk, "{err}");
    // restic agrees: the lost file does not restore, an at-risk one does.
    let (ok, _) = restore_one(&env, &repo, "/src/big/f0.bin", "r1");
    assert!(!ok, "restic restored the lost file");
    let (ok, bytes) = restore_one(&env, &repo, &at_risk[0], "r2");
    let rel = at_risk[0].trim_start_matches("/src/");
    assert!(ok, "restic could not restore the at-risk {}", at_risk[0]);
    assert_eq!(bytes, std::fs::read(env.path("src").join(rel)).ok());
}

#[test]
fn check_new_does_not_read_a_damaged_pack_again_once_read() {
    let env = TestEnv::new();
    let repo = repo_with_backup(&env);
    util::assert_exit(&run(&env, &repo, &[]), 0);
    // The damage comes after the pack was read: `new` does not see it, a full read does.
    let broken = damage(&env, &repo, Damage::BlobByte);
    util::assert_exit(&run(&env, &repo, &[]), 0);
    assert_eq!(env.last_record()["check"]["read"]["packs"], 0);
    let out = env
        .check(&repo)
        .arg("--state-dir")
        .arg(env.path("state"))
        .arg("--read-data")
        .output()
        .unwrap();
    util::assert_exit(&out, 1);
    let r = env.last_record();
    assert_eq!(
        r["damage"]["packs"][0].as_str().map(str::to_owned),
        broken.first().cloned()
    );
}

#[test]
fn check_new_budget_reads_the_oldest_packs_first_and_counts_the_rest() {
    let env = TestEnv::new();
    let repo = repo_with_backup(&env);
    // Only the metadata is known to the ledger before: a structural run sees the packs.
    let out = env
        .check(&repo)
        .arg("--state-dir")
        .arg(env.path("state"))
        .output()
        .unwrap();
    util::assert_exit(&out, 0);
    let old = all_packs(&repo);
    // The new packs must be seen in a later second than the old ones.
    let seen = ledger(&env).values().map(|(s, _)| *s).max().unwrap();
    while chrono::Utc::now().timestamp() <= seen {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    write_files(&env.path("src"), "b", 2, 3, 150_000);
    backup(&env, &repo);
    // The older backup's packs were seen first: a budget of one byte reads the
    // oldest pack only, then the next runs the rest, oldest first.
    util::assert_exit(&run(&env, &repo, &["--read-budget", "1"]), 0);
    let r = env.last_record();
    assert_eq!(r["check"]["read"]["packs"], 1, "{r}");
    let read = read_packs(&env);
    assert_eq!(read.len(), 1);
    assert!(
        old.is_superset(&read),
        "the oldest first: {read:?} of {old:?}"
    );
    let total = all_packs(&repo).len() as f64;
    assert_eq!(metric(&env, "restic_verify_unread_packs"), total - 1.0);
    assert_eq!(r["check"]["read"]["left_packs"], total as u64 - 1, "{r}");
    let budget = 150_000 * 2;
    util::assert_exit(
        &run(&env, &repo, &["--read-budget", &budget.to_string()]),
        0,
    );
    let r = env.last_record();
    // Within the budget, except that the oldest pack is read whatever its size (a
    // budget smaller than one pack must not stall the ledger): restic 0.14 packs the
    // first backup's files into one pack larger than this budget.
    let (bytes, packs) = (&r["check"]["read"]["bytes"], &r["check"]["read"]["packs"]);
    assert!(
        bytes.as_u64().unwrap() <= budget as u64 || packs == 1,
        "{r}"
    );
    let read = read_packs(&env);
    assert!(
        read.len() < old.len() || old.is_subset(&read),
        "older packs before newer ones: {read:?}"
    );
}

#[test]
fn check_new_rest_server_gone_mid_read_is_network_and_marks_nothing_read() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let env = TestEnv::new();
    write_files(&env.path("src"), "a", 1, 3, 1_000_000);
    let repo = new_repo(&env, "repos/r", 2);
    backup(&env, &repo);
    // 200 KiB/s: the 3 MB of packs take about 15 s to arrive.
    let mut server =
        crate::servers::RestServer::start(&env, &env.path("repos"), &["--bwlimit", "200k"]);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("restic-verify"))
        .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
        .env("RESTIC_VERIFY_RUNTIME_DIR", env.dir.path())
        .env("RESTIC_VERIFY_LOG", "info")
        .args(["check", "--repo", &server.url("r"), "--password-file"])
        .arg(env.fixture_password())
        .args([
            "--read-data-subset",
            "new",
            "--timeout",
            "10m",
            "--state-dir",
        ])
        .arg(env.path("state"))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // The in-process read has begun when it says how many packs it reads.
    loop {
        let line = lines.next().expect("the read never started").unwrap();
        seen.push(line.clone());
        if line.contains("new pack(s)") && line.contains("in process") {
            break;
        }
    }
    server.kill();
    let killed_at = Instant::now();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{seen:?}\n{rest:?}");
    assert!(killed_at.elapsed() < Duration::from_secs(300));
    let r = env.last_record();
    assert_eq!(r["error"]["category"], "network", "{r}");
    let ledger_file = env.path("state").join("ledger-r.json");
    if ledger_file.exists() {
        assert!(read_packs(&env).is_empty(), "nothing is marked read");
    }
}
