//! The damage report of a check: which packs are broken (0.18's `broken_packs`, or
//! the pack IDs in the error lines of either version), which snapshots reference
//! them and which files use them (`restic find --pack`, snapshot by snapshot, within
//! the job's deadline), and a repair recipe for the restic version in use. The
//! recipe is text for the operator; nothing here repairs anything.

use serde::Serialize;

use crate::restic::{self, json::Snapshot, Session, Version};

/// How many affected file paths a record lists.
pub const FILES_CAP: usize = 50;

/// What is broken and what to do about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Damage {
    /// Full IDs of the broken (damaged or missing) packs.
    pub packs: Vec<String>,
    /// IDs of every snapshot that references a broken pack.
    pub snapshots: Vec<String>,
    /// Tree paths whose content uses a broken pack (the first `files_cap`).
    pub files: Vec<String>,
    /// How many more paths there were.
    pub files_truncated: u64,
    pub files_cap: usize,
    /// An index file could not be loaded (no pack named).
    pub index_damaged: bool,
    /// Why the lists may be incomplete (deadline, restic could not search).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What to run, in order, for this restic version.
    pub recipe: Vec<String>,
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
/// run is cancelled or out of time, keeping what it found.
pub async fn locate(
    session: &Session<'_>,
    packs: &[String],
    snapshots: &[Snapshot],
    d: &mut Damage,
) {
    let mut ordered: Vec<&Snapshot> = snapshots.iter().collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.time));
    let mut files: Vec<String> = Vec::new();
    for (i, s) in ordered.iter().enumerate() {
        match session.find_packs_in(packs, &s.id).await {
            Ok(paths) if paths.is_empty() => {}
            Ok(paths) => {
                d.snapshots.push(s.id.clone());
                files.extend(paths);
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
    files.sort();
    files.dedup();
    d.files_cap = FILES_CAP;
    d.files_truncated = files.len().saturating_sub(FILES_CAP) as u64;
    files.truncate(FILES_CAP);
    d.files = files;
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLIPPED: &str = "d8adb7333dfcefc48eb8e93d0b8d5a390697cd9f4000df8ce1aa07c7904349b5";
    const MISSING: &str = "23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b";

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
