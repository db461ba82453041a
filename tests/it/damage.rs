//! The damage report: a check that finds damage names the broken packs, every
//! snapshot that references them, the files that use them, and a repair recipe for
//! the restic version in use, in the JSONL record, the metrics and the summary.
//! IDs come from the fixtures' manifest (fixtures/README.md).

use serde_json::Value;

use crate::util::{self, TestEnv};

fn manifest(repo: &str) -> Value {
    let text = std::fs::read_to_string(util::manifest_dir().join("fixtures/repos/manifest.json"))
        .expect("manifest");
    let m: Value = serde_json::from_str(&text).expect("json");
    m["repositories"][repo].clone()
}

fn snapshot_id(repo: &Value, n: usize) -> String {
    repo["snapshots"][n - 1]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn damaged_pack(repo: &Value) -> String {
    let file = repo["damage"]["damaged_file"]
        .as_str()
        .expect("damaged_file");
    file.rsplit('/').next().expect("id").to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

fn restic_018() -> bool {
    let out = std::process::Command::new(util::restic_bin())
        .arg("version")
        .output()
        .expect("restic version");
    !String::from_utf8_lossy(&out.stdout).contains("restic 0.14")
}

#[test]
fn damage_flipped_byte_names_the_pack_every_snapshot_and_the_files() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("flipped-byte");
    let m = manifest("flipped-byte");
    let out = env.check(&repo).arg("--read-data").output().expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let d = &r["damage"];
    assert_eq!(strings(&d["packs"]), [damaged_pack(&m)], "{r}");
    // Backup 1's data pack holds blobs every snapshot still uses.
    let mut want: Vec<String> = (1..=3).map(|n| snapshot_id(&m, n)).collect();
    want.sort();
    let mut got = strings(&d["snapshots"]);
    got.sort();
    assert_eq!(got, want);
    let files = strings(&d["files"]);
    assert!(
        files.contains(&"/source/big/random-1m.bin".to_owned()),
        "{files:?}"
    );
    // restic's check names packs, not blobs: its files are at risk, none called lost.
    assert!(strings(&d["lost"]).is_empty(), "{r}");
    assert!(
        strings(&d["at_risk"]).contains(&"/source/big/random-1m.bin".to_owned()),
        "{r}"
    );
    assert!(
        d["at_risk_reason"]
            .as_str()
            .is_some_and(|w| w.contains("any of these files may be lost")),
        "{r}"
    );
    let recipe = strings(&d["recipe"]).join("\n");
    if restic_018() {
        assert!(
            recipe.contains(&format!("restic repair packs {}", damaged_pack(&m))),
            "{recipe}"
        );
    } else {
        assert!(recipe.contains("restic rebuild-index"), "{recipe}");
    }
    assert!(recipe.ends_with("restic check --read-data"), "{recipe}");
    let metrics = env.metrics();
    assert!(
        metrics
            .contains("restic_verify_damaged_packs{job=\"check\",repository=\"flipped-byte\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "restic_verify_damaged_snapshots{job=\"check\",repository=\"flipped-byte\"} 3\n"
        ),
        "{metrics}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("to repair")
            && err.contains("affected snapshot(s)")
            && err.contains("at-risk file(s) (restic's check does not say which blobs failed: some may be lost)"),
        "{err}"
    );
}

#[test]
fn damage_missing_pack_found_by_a_plain_check_names_only_the_snapshot_using_it() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("missing-pack");
    let m = manifest("missing-pack");
    let out = env.check(&repo).output().expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let d = &r["damage"];
    assert_eq!(strings(&d["packs"]), [damaged_pack(&m)], "{r}");
    assert_eq!(strings(&d["snapshots"]), [snapshot_id(&m, 3)], "{r}");
    assert_eq!(
        strings(&d["files"]),
        [
            "/source/changes/added-in-3.txt",
            "/source/changes/changing.txt"
        ]
    );
}

#[test]
fn damage_unreadable_index_is_reported_with_its_recipe() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("truncated-index");
    let out = env.check(&repo).output().expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    let d = &r["damage"];
    assert_eq!(d["index_damaged"], true, "{r}");
    let recipe = strings(&d["recipe"]);
    let first = if restic_018() {
        "restic repair index"
    } else {
        "restic rebuild-index"
    };
    assert_eq!(
        recipe.first().map(String::as_str),
        Some(first),
        "{recipe:?}"
    );
}

#[test]
fn damage_clean_repository_has_no_damage_object_and_zero_metrics() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    util::assert_exit(
        &env.check(&repo).arg("--read-data").output().expect("run"),
        0,
    );
    let r = env.last_record();
    assert!(r.get("damage").is_none(), "{r}");
    assert!(env
        .metrics()
        .contains("restic_verify_damaged_packs{job=\"check\",repository=\"clean\"} 0\n"));
}
