//! The damage report of a check: which packs are broken (0.18's `broken_packs`, or
//! the pack IDs in the error lines of either version, or the in-process reader's
//! broken packs), which snapshots reference them and which files use them (`restic
//! find --pack`, snapshot by snapshot, within the job's deadline), and a repair
//! recipe for the restic version in use. The recipe is text for the operator;
//! nothing here repairs anything.
//!
//! Files are split by what is known (`split`, pure): a file whose content uses a
//! blob the in-process reader found failed is **lost**; the other files of a broken
//! pack are **at risk** (`restic repair packs` salvages their blobs). restic's own
//! check names packs, not blobs, so the files of a pack only it found are at risk
//! too, with a reason that says some of them may be lost. Each list in the record
//! holds at most `FILES_CAP` paths with its total beside it; the complete lists
//! travel in `full` for the results writer (`report/`) to put in a file.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::packread::BrokenPack;
use crate::restic::{self, json::Snapshot, Session, Version};

/// How many file paths each list of a record holds.
pub const FILES_CAP: usize = 50;

/// Why the at-risk files of packs the in-process reader read are at risk.
pub const AT_RISK_SALVAGEABLE: &str = "these files use a broken pack but none of its blobs that failed: `restic repair packs` (restic 0.16+) salvages them";
/// Why the files of packs only restic's check found are at risk.
pub const AT_RISK_UNKNOWN: &str = "restic's check names broken packs, not the blobs that failed: any of these files may be lost, the others are salvageable with `restic repair packs` (restic 0.16+)";

/// What is broken and what to do about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Damage {
    /// Full IDs of the broken (damaged or missing) packs.
    pub packs: Vec<String>,
    /// IDs of every snapshot that references a broken pack.
    pub snapshots: Vec<String>,
    /// Tree paths whose content uses a blob that failed: lost for certain (the
    /// first `files_cap`, in tree order).
    pub lost: Vec<String>,
    pub lost_total: u64,
    /// The other tree paths that use a broken pack (the first `files_cap`).
    pub at_risk: Vec<String>,
    pub at_risk_total: u64,
    /// Why the `at_risk` files are at risk, and whether some may be lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk_reason: Option<String>,
    /// Per pack the in-process reader found broken: its lost and at-risk files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_pack: Vec<PackDamage>,
    /// Every affected path, lost ones first (the first `files_cap`; schema 1's
    /// list, kept for readers of it).
    pub files: Vec<String>,
    /// How many more paths there were.
    pub files_truncated: u64,
    pub files_cap: usize,
    /// The file next to the results that holds every list whole (a list was capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_list: Option<String>,
    /// An index file could not be loaded (no pack named).
    pub index_damaged: bool,
    /// Why the lists may be incomplete (deadline, restic could not search).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What to run, in order, for this restic version.
    pub recipe: Vec<String>,
    /// The complete lists, when one in the record is capped (for `files_list`).
    #[serde(skip)]
    pub full: Option<FullLists>,
}

/// One pack the in-process reader found broken, and the files using it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackDamage {
    pub pack: String,
    /// What was wrong with it.
    pub reason: String,
    /// Indexed blobs of the pack whose content failed.
    pub blobs_lost: u64,
    /// Paths using one of those blobs (the first `files_cap`).
    pub lost: Vec<String>,
    pub lost_total: u64,
    /// Paths using only its other blobs, and not lost through another pack.
    pub at_risk: Vec<String>,
    pub at_risk_total: u64,
}

/// Every list of a damage report, uncapped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FullLists {
    pub packs: Vec<String>,
    pub lost: Vec<String>,
    pub at_risk: Vec<String>,
    pub by_pack: Vec<PackFiles>,
}

/// One pack's files, uncapped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackFiles {
    pub pack: String,
    pub lost: Vec<String>,
    pub at_risk: Vec<String>,
}

/// The first `FILES_CAP` of `list` and its total.
fn capped(list: &[String]) -> (Vec<String>, u64) {
    (
        list.iter().take(FILES_CAP).cloned().collect(),
        list.len() as u64,
    )
}

/// Splits the uses `restic find` reported (path, blob ID) into lost and at-risk
/// files, per pack where the in-process reader has blob detail (`detail`), and
/// fills `d`'s lists (capped, with totals; `full` when one is capped). A path that
/// uses a failed blob of any pack is lost; every other path is at risk. The paths
/// of a pack without detail (found by restic's check) are at risk, and the reason
/// says some may be lost.
pub fn split(d: &mut Damage, uses: &[(String, String)], detail: &[BrokenPack]) {
    // blob → (pack index, the blob failed); a failed copy wins over an intact one.
    let mut blobs: HashMap<&str, (usize, bool)> = HashMap::new();
    for (i, b) in detail.iter().enumerate() {
        for l in &b.lost {
            blobs.insert(l.id.as_str(), (i, true));
        }
        for x in &b.intact {
            blobs.entry(x.as_str()).or_insert((i, false));
        }
    }
    let mut lost: BTreeSet<&str> = BTreeSet::new();
    let mut per_pack: Vec<(BTreeSet<&str>, BTreeSet<&str>)> =
        vec![Default::default(); detail.len()];
    let mut all: BTreeSet<&str> = BTreeSet::new();
    let mut unattributed = false;
    for (path, blob) in uses {
        all.insert(path);
        match blobs.get(blob.as_str()) {
            Some(&(i, true)) => {
                lost.insert(path);
                per_pack[i].0.insert(path);
            }
            Some(&(i, false)) => {
                per_pack[i].1.insert(path);
            }
            None => unattributed = true,
        }
    }
    let owned = |s: &BTreeSet<&str>| s.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    let at_risk: Vec<String> = all.difference(&lost).map(|p| (*p).to_owned()).collect();
    let lost = owned(&lost);
    let mut full = FullLists {
        packs: d.packs.clone(),
        lost: lost.clone(),
        at_risk: at_risk.clone(),
        by_pack: Vec::new(),
    };
    let mut cut = lost.len() > FILES_CAP || at_risk.len() > FILES_CAP;
    d.by_pack.clear();
    for (b, (l, r)) in detail.iter().zip(&per_pack) {
        let l = owned(l);
        let r: Vec<String> = r
            .iter()
            .filter(|p| full.lost.binary_search_by(|x| x.as_str().cmp(p)).is_err())
            .map(|p| (*p).to_owned())
            .collect();
        cut |= l.len() > FILES_CAP || r.len() > FILES_CAP;
        let (lost, lost_total) = capped(&l);
        let (at_risk, at_risk_total) = capped(&r);
        d.by_pack.push(PackDamage {
            pack: b.id.clone(),
            reason: b.reason.clone(),
            blobs_lost: b.lost.len() as u64,
            lost,
            lost_total,
            at_risk,
            at_risk_total,
        });
        full.by_pack.push(PackFiles {
            pack: b.id.clone(),
            lost: l,
            at_risk: r,
        });
    }
    (d.lost, d.lost_total) = capped(&lost);
    (d.at_risk, d.at_risk_total) = capped(&at_risk);
    d.at_risk_reason = match (at_risk.is_empty(), unattributed || detail.is_empty()) {
        (true, _) => None,
        (false, true) => Some(AT_RISK_UNKNOWN.to_owned()),
        (false, false) => Some(AT_RISK_SALVAGEABLE.to_owned()),
    };
    let every: Vec<String> = lost.into_iter().chain(at_risk).collect();
    d.files_cap = FILES_CAP;
    (d.files, _) = capped(&every);
    d.files_truncated = every.len().saturating_sub(FILES_CAP) as u64;
    d.full = cut.then_some(full);
}

/// Full pack IDs named in restic's check output: 0.18's `broken_packs`, and in
/// either version's error lines `pack <id>: does not exist`, `pack <id> contains N
/// errors` and `Pack ID does not match, want <id>`.
pub fn broken_packs(errors: &[String], summary: Option<&[String]>) -> Vec<String> {
    let mut out: Vec<String> = summary.unwrap_or_default().to_vec();
    for line in errors {
        for marker in ["pack ", "want "] {
            for (i, _) in line.match_indices(marker) {
                let id: String = line[i + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                if id.len() == 64 {
                    out.push(id);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether the output says an index file cannot be loaded.
pub fn index_damaged(errors: &[String], suggest_repair_index: bool) -> bool {
    suggest_repair_index
        || errors
            .iter()
            .any(|l| l.contains("error loading index") || l.contains("LoadIndex returned errors"))
}

/// The repair recipe for `version`: commands to run in order (never run here).
pub fn recipe(version: Version, d: &Damage) -> Vec<String> {
    let repair = version >= Version::new(0, 16, 0);
    let mut steps = Vec::new();
    if d.index_damaged {
        steps.push(if repair {
            "restic repair index".to_owned()
        } else {
            "restic rebuild-index".to_owned()
        });
    }
    if !d.packs.is_empty() {
        if repair {
            steps.push(format!("restic repair packs {}", d.packs.join(" ")));
            steps.push("restic repair index".to_owned());
        } else {
            steps.push(format!(
                "move the damaged pack files out of the repository if they still exist (data/<first two hex digits>/<id> for {}), then: restic rebuild-index",
                d.packs.join(", ")
            ));
        }
        steps.push(
            "restic backup ... (a new backup of the same paths stores the lost data again while the source still has it)"
                .to_owned(),
        );
        if !d.snapshots.is_empty() {
            steps.push(if repair {
                "restic repair snapshots --forget (removes the lost files from the affected snapshots)".to_owned()
            } else {
                format!(
                    "restic forget {} (restic 0.14 cannot repair snapshots; upgrade to 0.16+ for `restic repair snapshots`)",
                    d.snapshots.join(" ")
                )
            });
        }
    }
    if !d.files.is_empty() {
        steps.push(
            "restore the affected files from another repository or an older copy if you have one, before forgetting anything"
                .to_owned(),
        );
    }
    steps.push("restic check --read-data".to_owned());
    steps
}

/// The damage report of a restore test: it names files, not packs (restic restores
/// by blob), so the first step is `restic check --read-data` to find the packs.
/// With a live source a mismatch may also be bit rot in the source; a ZFS snapshot
/// source cannot have changed.
pub fn from_restore(
    snapshot: &str,
    mut files: Vec<String>,
    version: Option<Version>,
    immutable_source: bool,
) -> Damage {
    files.sort();
    files.dedup();
    let truncated = files.len().saturating_sub(FILES_CAP) as u64;
    files.truncate(FILES_CAP);
    let mut d = Damage {
        snapshots: vec![snapshot.to_owned()],
        files,
        files_truncated: truncated,
        files_cap: FILES_CAP,
        note: Some(if immutable_source {
            "a restore test names the files, not the packs: `restic check --read-data` names the broken packs".to_owned()
        } else {
            "a restore test names the files, not the packs: `restic check --read-data` names the broken packs (if it finds none, the live source may have rotted instead: compare with another copy)".to_owned()
        }),
        ..Damage::default()
    };
    let mut recipe = vec![
        "restic check --read-data (names the broken packs; then follow its recipe)".to_owned(),
    ];
    recipe.extend(self::recipe(version.unwrap_or(Version::new(0, 14, 0)), &d));
    recipe.dedup();
    d.recipe = recipe;
    d
}

/// Finds the snapshots and files that use `packs`, newest snapshot first, asking
/// restic snapshot by snapshot; stops early (with a note) when restic fails or the
/// run is cancelled or out of time, keeping what it found. The files are split
/// into lost and at risk with the reader's blob detail (`split`).
pub async fn locate(
    session: &Session<'_>,
    packs: &[String],
    snapshots: &[Snapshot],
    detail: &[BrokenPack],
    d: &mut Damage,
) {
    let mut ordered: Vec<&Snapshot> = snapshots.iter().collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.time));
    let mut uses: Vec<(String, String)> = Vec::new();
    for (i, s) in ordered.iter().enumerate() {
        match session.find_packs_in(packs, &s.id).await {
            Ok(found) if found.is_empty() => {}
            Ok(found) => {
                d.snapshots.push(s.id.clone());
                uses.extend(found);
            }
            Err(e) => {
                d.note = Some(format!(
                    "searched {i} of {} snapshots: {}",
                    ordered.len(),
                    match e {
                        restic::Error::TimedOut { .. } => "the job's timeout ran out".to_owned(),
                        restic::Error::Interrupted { .. } => "interrupted".to_owned(),
                        other => other.to_string(),
                    }
                ));
                break;
            }
        }
    }
    uses.sort();
    uses.dedup();
    split(d, &uses, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLIPPED: &str = "d8adb7333dfcefc48eb8e93d0b8d5a390697cd9f4000df8ce1aa07c7904349b5";
    const MISSING: &str = "23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b";

    fn pack(id: &str, lost: &[&str], intact: &[&str]) -> BrokenPack {
        BrokenPack {
            id: id.into(),
            reason: "blob x: MAC check failed".into(),
            lost: lost
                .iter()
                .map(|b| crate::packread::BlobFailure {
                    id: (*b).into(),
                    tree: false,
                    reason: "MAC check failed".into(),
                })
                .collect(),
            intact: intact.iter().map(|b| (*b).into()).collect(),
        }
    }

    fn uses(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, b)| ((*p).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn split_with_blob_detail_names_the_failed_blobs_files_lost_and_the_others_at_risk() {
        let mut d = Damage {
            packs: vec!["p1".into()],
            ..Damage::default()
        };
        // /b uses the failed blob and an intact one; /a and /c only intact ones.
        let found = uses(&[("/a", "i1"), ("/b", "i1"), ("/b", "x"), ("/c", "i2")]);
        split(&mut d, &found, &[pack("p1", &["x"], &["i1", "i2"])]);
        assert_eq!(d.lost, ["/b"]);
        assert_eq!(d.at_risk, ["/a", "/c"]);
        assert_eq!((d.lost_total, d.at_risk_total), (1, 2));
        assert_eq!(d.at_risk_reason.as_deref(), Some(AT_RISK_SALVAGEABLE));
        assert_eq!(d.files, ["/b", "/a", "/c"], "lost first");
        assert_eq!(d.by_pack[0].lost, ["/b"]);
        assert_eq!(d.by_pack[0].at_risk, ["/a", "/c"]);
        assert_eq!(d.by_pack[0].blobs_lost, 1);
        assert!(d.full.is_none(), "nothing capped");
    }

    #[test]
    fn split_without_blob_detail_calls_every_file_at_risk_and_says_some_may_be_lost() {
        let mut d = Damage::default();
        split(&mut d, &uses(&[("/a", "b1"), ("/b", "b2")]), &[]);
        assert!(d.lost.is_empty());
        assert_eq!(d.at_risk, ["/a", "/b"]);
        assert_eq!(d.at_risk_reason.as_deref(), Some(AT_RISK_UNKNOWN));
        assert!(d.by_pack.is_empty());
    }

    #[test]
    fn split_caps_each_list_with_its_total_and_keeps_the_whole_lists() {
        let mut d = Damage::default();
        let found: Vec<(String, String)> = (0..FILES_CAP + 7)
            .map(|i| (format!("/f{i:03}"), "ok".to_owned()))
            .chain([("/z".to_owned(), "x".to_owned())])
            .collect();
        split(&mut d, &found, &[pack("p1", &["x"], &["ok"])]);
        assert_eq!(d.at_risk.len(), FILES_CAP);
        assert_eq!(d.at_risk_total, (FILES_CAP + 7) as u64);
        assert_eq!(d.by_pack[0].at_risk.len(), FILES_CAP);
        assert_eq!(d.files.first().map(String::as_str), Some("/z"));
        assert_eq!(d.files_truncated, 8);
        let full = d.full.expect("whole lists kept");
        assert_eq!(full.at_risk.len(), FILES_CAP + 7);
        assert_eq!(full.lost, ["/z"]);
        assert_eq!(full.by_pack[0].at_risk.len(), FILES_CAP + 7);
    }

    #[test]
    fn broken_packs_reads_both_versions_error_lines_and_the_summary() {
        // restic 0.14 `check --read-data` on a flipped byte, and a missing pack.
        let v014 = vec![
            format!("Pack ID does not match, want {FLIPPED}, got 1cb7ac688de8a1d5aaf32006198071afc63a0cf8f4aac2bb7b54ce2a44a6f932"),
            format!("pack {MISSING}: does not exist"),
        ];
        assert_eq!(broken_packs(&v014, None), [MISSING, FLIPPED]);
        // restic 0.18: the error message and broken_packs.
        let v018 = vec![format!("pack {FLIPPED} contains 2 errors: [blob 28dc95a8058967149de55809846e89dedb5c85c53df8a977e6431538fb7e4973: decrypting blob <data/28dc95a8> from d8adb733 failed: ciphertext verification failed unexpected pack id 1cb7ac688de8a1d5aaf32006198071afc63a0cf8f4aac2bb7b54ce2a44a6f932]")];
        assert_eq!(broken_packs(&v018, Some(&[FLIPPED.to_owned()])), [FLIPPED]);
        assert!(broken_packs(&["Fatal: repository contains errors".into()], None).is_empty());
    }

    #[test]
    fn index_damage_is_seen_in_either_version() {
        assert!(index_damaged(
            &["error: error loading index ec84867610: load <index/ec84867610>: invalid data returned".into()],
            false
        ));
        assert!(index_damaged(&[], true));
        assert!(!index_damaged(&["pack x: does not exist".into()], false));
    }

    #[test]
    fn recipe_follows_the_restic_version() {
        let d = Damage {
            packs: vec![FLIPPED.into()],
            snapshots: vec!["1156ede0".into()],
            files: vec!["/source/README.txt".into()],
            ..Damage::default()
        };
        let new = recipe(Version::new(0, 18, 0), &d).join("\n");
        assert!(
            new.contains(&format!("restic repair packs {FLIPPED}")),
            "{new}"
        );
        assert!(new.contains("restic repair snapshots --forget"), "{new}");
        assert!(new.ends_with("restic check --read-data"), "{new}");
        let old = recipe(Version::new(0, 14, 0), &d).join("\n");
        assert!(
            old.contains("restic rebuild-index") && !old.contains("restic repair packs"),
            "{old}"
        );
        assert!(old.contains("restic forget 1156ede0"), "{old}");
        let index = Damage {
            index_damaged: true,
            ..Damage::default()
        };
        assert_eq!(
            recipe(Version::new(0, 17, 0), &index),
            ["restic repair index", "restic check --read-data"]
        );
    }

    #[test]
    fn from_restore_names_the_snapshot_and_files_and_starts_with_a_full_read() {
        let d = from_restore(
            "1156ede093ffb848",
            vec!["/b".into(), "/a".into(), "/a".into()],
            Some(Version::new(0, 18, 0)),
            false,
        );
        assert_eq!(d.snapshots, ["1156ede093ffb848"]);
        assert_eq!(d.files, ["/a", "/b"]);
        assert!(d.packs.is_empty());
        assert!(
            d.recipe[0].starts_with("restic check --read-data"),
            "{:?}",
            d.recipe
        );
        assert!(d.note.expect("note").contains("source may have rotted"));
    }
}
