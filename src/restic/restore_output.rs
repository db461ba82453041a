//! What a `restic restore` printed, sorted out line by line (pure): per-file errors
//! matched to the restored paths (names may contain `": "`), and the most serious
//! kind of line: damage beats a flaky backend beats a full or unwritable target,
//! and metadata restic could not set is no damage at all; and the progress events
//! of `restic restore --json` (`restore_event`).

use super::classify::{classify, one_line, ResticExit, NETWORK_MARKERS};
use super::json;
use crate::finding::Category;

/// What one line restic printed during a restore is about. The order is the
/// precedence: the most serious line of a run decides what a failed restore means
/// (damage beats a flaky backend beats a full or unwritable target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RestoreLine {
    /// The repository is damaged: a ciphertext or pack ID check failed, a pack is
    /// missing, an index, snapshot or tree cannot be loaded.
    Integrity,
    /// The backend could not be reached (connection refused or reset, retrying).
    Transport,
    /// The restore target filled up.
    NoSpace,
    /// The restore target cannot be written: permission denied, read-only.
    Permission,
    /// Owner, mode, times or extended attributes could not be set: the bytes may
    /// be fine (a non-root restic, a user namespace, `RestrictSUIDSGID=yes`).
    Metadata,
    Other,
}

/// Damage, as restic says it while loading what a restore needs.
const INTEGRITY_MARKERS: [&str; 16] = [
    "ciphertext verification failed",
    "Pack ID does not match",
    "invalid data returned",
    "unexpected end of JSON input",
    "error loading index",
    "LoadIndex returned errors",
    "load <index/",
    "load <snapshot/",
    "load <tree/",
    "LoadRaw(<index/",
    "LoadRaw(<snapshot/",
    "Error loading snapshot",
    "failed to load snapshot",
    "could not load snapshot",
    "not found in repository",
    "not found in index",
];

/// How restic (and a REST or cloud backend) says a file is not there.
const ABSENT_MARKERS: [&str; 4] = [
    "no such file or directory",
    "does not exist",
    "not found",
    "404",
];

/// The first words of per-file errors whose operation only restores metadata
/// (0.14: `Lchown: lchown …`, `UtimesNano: …`; 0.18: `lchown …`, `xattr.LSet …`).
const METADATA_OPS: &str = "lchown chown fchown chmod fchmod lchmod utimesnano utimes lutimes \
    utimensat setxattr lsetxattr fsetxattr xattr.lset xattr.set xattr.fset";

/// Whether a line names a pack file: restic's handle `<data/1a2b3c4d…>` or a pack's
/// path or URL `…/data/1a/<64 hex>` (local, SFTP) or `…/data/<64 hex>` (REST).
fn names_pack(line: &str) -> bool {
    let hex = |s: &str| s.bytes().take_while(u8::is_ascii_hexdigit).count();
    line.match_indices("data/").any(|(i, _)| {
        let rest = &line[i + 5..];
        let before = line[..i].chars().next_back();
        let handle = before == Some('<') && hex(rest) >= 8 && rest[hex(rest)..].starts_with('>');
        let full = hex(rest) >= 64
            || (hex(rest) == 2 && rest[2..].starts_with('/') && hex(&rest[3..]) >= 64);
        handle || (before == Some('/') && full)
    })
}

/// What one stderr line of a restore (or one per-file reason) is about. `target` is
/// the restore target: "permission denied" counts as the target's only when it
/// names it.
pub fn restore_line(line: &str, target: &str) -> RestoreLine {
    let has = |m: &str| line.contains(m);
    let lower = line.to_ascii_lowercase();
    let metadata = line.split(": ").any(|part| {
        let op = part
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        METADATA_OPS.split_whitespace().any(|m| m == op)
    });
    let refused = has("permission denied") || has("operation not permitted");
    if INTEGRITY_MARKERS.iter().any(|m| has(m))
        || (names_pack(line) && ABSENT_MARKERS.iter().any(|m| lower.contains(m)))
    {
        RestoreLine::Integrity
    } else if has("no space left on device") || has("disk quota exceeded") {
        RestoreLine::NoSpace
    } else if has("read-only file system") {
        RestoreLine::Permission
    } else if metadata {
        RestoreLine::Metadata
    } else if refused && !target.is_empty() && has(target) {
        RestoreLine::Permission
    } else if !refused && (NETWORK_MARKERS.iter().any(|m| has(m)) || has("retrying")) {
        RestoreLine::Transport
    } else {
        RestoreLine::Other
    }
}

/// restic's per-file error, as 0.17.1+ prints it with `--json`.
#[derive(serde::Deserialize)]
struct JsonFileError {
    message_type: String,
    error: JsonErrorMessage,
    #[serde(default)]
    item: Option<String>,
}

#[derive(serde::Deserialize)]
struct JsonErrorMessage {
    message: String,
}

/// What a restore printed, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRestore {
    /// Per-file errors matched to an include: (include, reason). A file can have
    /// several (0.14 prints `ciphertext verification failed` and then `UtimesNano`).
    pub errors: Vec<(String, String)>,
    /// Per-file errors that name no include (a directory, a path printed otherwise),
    /// as printed: they are reported, never dropped.
    pub unmatched: Vec<String>,
    /// The most serious kind of line (per-file reasons and every other line).
    pub worst: Option<RestoreLine>,
    /// The first line of that kind.
    pub worst_line: Option<String>,
}

/// Sorts a restore's stderr line by line: per-file errors (text `ignoring error for
/// <path>: <reason>`, or JSON with `item`) are matched to `includes` by exact path
/// (names may contain `": "`: the longest include that the line starts with, followed
/// by `": "`, wins); every line is classified and the most serious kind is kept.
pub fn parse_restore(stderr: &str, includes: &[String], target: &str) -> ParsedRestore {
    fn note(kind: RestoreLine, line: &str, out: &mut ParsedRestore) {
        if out.worst.is_none_or(|w| kind < w) {
            out.worst = Some(kind);
            out.worst_line = Some(line.to_owned());
        }
    }
    let mut out = ParsedRestore::default();
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('{') {
            match serde_json::from_str::<JsonFileError>(line) {
                Ok(e) if e.message_type == "error" => {
                    let reason = e.error.message.trim().to_owned();
                    let kind = restore_line(&reason, target);
                    match e.item.filter(|i| includes.iter().any(|p| p == i)) {
                        Some(item) => out.errors.push((item, reason.clone())),
                        None => out.unmatched.push(reason.clone()),
                    }
                    note(kind, &reason, &mut out);
                }
                _ => {
                    let text = match serde_json::from_str::<json::Message>(line) {
                        Ok(json::Message::ExitError { message, .. }) => one_line(&message),
                        _ => line.to_owned(),
                    };
                    note(restore_line(&text, target), &text, &mut out);
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("ignoring error for ") {
            let matched = includes
                .iter()
                .filter(|p| {
                    rest.strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with(": "))
                })
                .max_by_key(|p| p.len());
            match matched {
                Some(p) => {
                    let reason = rest[p.len() + 2..].to_owned();
                    note(restore_line(&reason, target), &reason, &mut out);
                    out.errors.push((p.clone(), reason));
                }
                None => {
                    note(restore_line(rest, target), rest, &mut out);
                    out.unmatched.push(rest.to_owned());
                }
            }
            continue;
        }
        note(restore_line(line, target), line, &mut out);
    }
    out
}

/// Why a restore failed, line by line: damage beats a flaky backend beats a full or
/// unwritable target; restic's own exit codes (password, lock, missing repository,
/// interrupt) and everything else as `classify` says.
pub fn classify_restore(exit: ResticExit, parsed: &ParsedRestore, stderr: &str) -> Category {
    match exit {
        ResticExit::WrongPassword
        | ResticExit::LockFailed
        | ResticExit::RepositoryMissing
        | ResticExit::Interrupted => return classify(exit, stderr),
        _ => {}
    }
    match parsed.worst {
        Some(RestoreLine::Integrity) => Category::Corruption,
        Some(RestoreLine::Transport) => Category::Network,
        Some(RestoreLine::NoSpace) => Category::NoSpace,
        Some(RestoreLine::Permission) => Category::Permission,
        Some(RestoreLine::Metadata | RestoreLine::Other) | None => classify(exit, stderr),
    }
}

/// What a restore reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreEvent {
    /// restic's periodic status line.
    Status {
        files_restored: u64,
        total_files: u64,
        bytes_restored: u64,
        total_bytes: u64,
    },
    /// An item whose data restic has completely written (tree path relative to the
    /// call's start). restic prints it after the last write of the file's content
    /// returned (`AddProgress` once bytes written reach the size), before it sets
    /// the file's metadata; the content no longer changes.
    Restored(String),
}

#[derive(serde::Deserialize)]
struct RestoreJsonLine {
    message_type: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    files_restored: u64,
    #[serde(default)]
    total_files: u64,
    #[serde(default)]
    bytes_restored: u64,
    #[serde(default)]
    total_bytes: u64,
}

/// One stdout line of `restic restore --json` as an event (other lines: `None`).
pub fn restore_event(line: &[u8]) -> Option<RestoreEvent> {
    if line.first() != Some(&b'{') {
        return None;
    }
    let l: RestoreJsonLine = serde_json::from_slice(line).ok()?;
    match (l.message_type.as_str(), l.action.as_deref(), l.item) {
        ("status", _, _) => Some(RestoreEvent::Status {
            files_restored: l.files_restored,
            total_files: l.total_files,
            bytes_restored: l.bytes_restored,
            total_bytes: l.total_bytes,
        }),
        ("verbose_status", Some("restored" | "updated" | "unchanged"), Some(item)) => {
            Some(RestoreEvent::Restored(item))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_event_reads_status_and_completed_items_of_restic_018() {
        let status = br#"{"message_type":"status","percent_done":0.5,"total_files":60,"files_restored":2,"total_bytes":1836247,"bytes_restored":213}"#;
        assert_eq!(
            restore_event(status),
            Some(RestoreEvent::Status {
                files_restored: 2,
                total_files: 60,
                bytes_restored: 213,
                total_bytes: 1_836_247
            })
        );
        let done = br#"{"message_type":"verbose_status","action":"restored","item":"/source/README.txt","size":213}"#;
        assert_eq!(
            restore_event(done),
            Some(RestoreEvent::Restored("/source/README.txt".into()))
        );
        assert_eq!(restore_event(b"restoring <Snapshot> to /t"), None);
        assert_eq!(restore_event(br#"{"message_type":"summary"}"#), None);
    }

    const FLIPPED_0_14: &str = "ignoring error for /source/big/random-1m.bin: ciphertext verification failed\nignoring error for /source/big/random-1m.bin: UtimesNano: no such file or directory\nFatal: There were 2 errors\n";
    const FLIPPED_0_18_JSON: &str = "{\"message_type\":\"error\",\"error\":{\"message\":\"decrypting blob \\u003cdata/28dc95a8\\u003e from d8adb733 failed: ciphertext verification failed\"},\"during\":\"restore\",\"item\":\"/source/big/random-1m.bin\"}\n{\"message_type\":\"error\",\"error\":{\"message\":\"lchown /T/source/big/random-1m.bin: no such file or directory\"},\"during\":\"restore\",\"item\":\"/source/big/random-1m.bin\"}\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: There were 2 errors\\n\"}\n";
    const NO_SPACE_0_14: &str = "ignoring error for /source/big/random-512k.bin: write /T/source/big/random-512k.bin: no space left on device\nignoring error for /source/data/a.txt: write /T/source/data/a.txt: no space left on device\nFatal: There were 2 errors\n";
    const NO_SPACE_0_18_JSON: &str = "{\"message_type\":\"error\",\"error\":{\"message\":\"write /T/source/big/random-512k.bin: no space left on device\"},\"during\":\"restore\",\"item\":\"/source/big/random-512k.bin\"}\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: There were 1 errors\\n\"}\n";
    const MISSING_PACK_0_14: &str = "Load(<data/23f8f25b40>, 62, 80) returned error, retrying after 552.330144ms: open repos/missing-pack/data/23/23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b: no such file or directory\nignoring error for /source/changes/added-in-3.txt: StreamPack: open repos/missing-pack/data/23/23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b: no such file or directory\nignoring error for /source/changes/added-in-3.txt: UtimesNano: no such file or directory\nFatal: There were 2 errors\n";
    const MISSING_PACK_0_18_JSON: &str = "Load(<data/23f8f25b40>, 62, 80) failed: open repos/missing-pack/data/23/23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b: no such file or directory\n{\"message_type\":\"error\",\"error\":{\"message\":\"ReadFull(\\u003cdata/23f8f25b40\\u003e): open repos/missing-pack/data/23/23f8f25b407a26a3dc05b5452fb43848097d54111410daaed14e3a036155c23b: no such file or directory\"},\"during\":\"restore\",\"item\":\"/source/changes/added-in-3.txt\"}\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: There were 1 errors\\n\"}\n";
    const REST_KILLED_0_14: &str = "Load(<data/8711898bbf>, 13126202, 0) returned error, retrying after 8.277195667s: ReadFull: unexpected EOF\nLoad(<data/8711898bbf>, 13126202, 0) returned error, retrying after 10.1s: client.Do: Get \"http://127.0.0.1:23553/r/data/8711898bbf620b77b2a31fe17664b68fc2abc74a33d2532b64409617dcbd49ab\": dial tcp 127.0.0.1:23553: connect: connection refused\nignoring error for /rest/src/big.bin: StreamPack: client.Do: Get \"http://127.0.0.1:23553/r/data/8711898bbf620b77b2a31fe17664b68fc2abc74a33d2532b64409617dcbd49ab\": dial tcp 127.0.0.1:23553: connect: connection refused\nFatal: There were 1 errors\n";
    const USERNS_0_14: &str = "ignoring error for /xsrc/plain.txt: Lchown: lchown /T/xsrc/plain.txt: invalid argument\nFatal: There were 1 errors\n";
    const USERNS_0_18_JSON: &str = "{\"message_type\":\"error\",\"error\":{\"message\":\"lchown /T/xsrc/plain.txt: invalid argument\"},\"during\":\"restore\",\"item\":\"/xsrc/plain.txt\"}\n{\"message_type\":\"error\",\"error\":{\"message\":\"xattr.LSet /T/xsrc/xattr.txt trusted.secret: operation not permitted\"},\"during\":\"restore\",\"item\":\"/xsrc/xattr.txt\"}\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: There were 2 errors\\n\"}\n";
    const READ_ONLY_0_14: &str = "ignoring error for /xsrc: mkdir /T: read-only file system\nignoring error for /xsrc/plain.txt: mkdir /T: read-only file system\nignoring error for /xsrc/plain.txt: UtimesNano: no such file or directory\nignoring error for /xsrc/xattr.txt: xattr.Set /T/xsrc/xattr.txt user.note: no such file or directory\nFatal: There were 4 errors\n";
    const DENIED_0_18: &str = "cannot create target directory: mkdir /T: permission denied\n";
    const LOCK_DENIED_0_18: &str = "Save(<lock/537a78d56e>) failed: open xrepo/locks/537a78d56e675be1d50c5d10421afb8796897a2ec4dece19759720d6a1aebb04-tmp-2998146421: permission denied\nunable to create lock in backend: open xrepo/locks/537a78d56e675be1d50c5d10421afb8796897a2ec4dece19759720d6a1aebb04-tmp-2998146421: permission denied\n";

    fn inc(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn parse_restore_classifies_real_stderr_line_by_line() {
        use Category as C;
        use RestoreLine as L;
        let cases: [(&str, &str, L, C, usize); 12] = [
            (
                FLIPPED_0_14,
                "/source/big/random-1m.bin",
                L::Integrity,
                C::Corruption,
                2,
            ),
            (
                FLIPPED_0_18_JSON,
                "/source/big/random-1m.bin",
                L::Integrity,
                C::Corruption,
                2,
            ),
            (
                NO_SPACE_0_14,
                "/source/data/a.txt",
                L::NoSpace,
                C::NoSpace,
                2,
            ),
            (
                NO_SPACE_0_18_JSON,
                "/source/data/a.txt",
                L::NoSpace,
                C::NoSpace,
                1,
            ),
            (
                MISSING_PACK_0_14,
                "/source/changes/added-in-3.txt",
                L::Integrity,
                C::Corruption,
                2,
            ),
            (
                MISSING_PACK_0_18_JSON,
                "/source/changes/added-in-3.txt",
                L::Integrity,
                C::Corruption,
                1,
            ),
            (
                REST_KILLED_0_14,
                "/rest/src/big.bin",
                L::Transport,
                C::Network,
                1,
            ),
            (USERNS_0_14, "/xsrc/plain.txt", L::Metadata, C::Internal, 1),
            (
                USERNS_0_18_JSON,
                "/xsrc/plain.txt",
                L::Metadata,
                C::Internal,
                2,
            ),
            (
                READ_ONLY_0_14,
                "/xsrc/plain.txt",
                L::Permission,
                C::Permission,
                3,
            ),
            (
                DENIED_0_18,
                "/xsrc/plain.txt",
                L::Permission,
                C::Permission,
                0,
            ),
            // restic cannot write its lock: the user lacks write access to locks/.
            (
                LOCK_DENIED_0_18,
                "/xsrc/plain.txt",
                L::Other,
                C::Permission,
                0,
            ),
        ];
        for (stderr, file, worst, category, matched) in cases {
            let includes = inc(&[file, "/xsrc/xattr.txt", "/source/big/random-512k.bin"]);
            let p = parse_restore(stderr, &includes, "/T");
            assert_eq!(p.worst, Some(worst), "{stderr}");
            assert_eq!(p.errors.len(), matched, "{stderr}");
            assert!(p.errors.iter().all(|(i, _)| includes.contains(i)));
            assert_eq!(classify_restore(ResticExit::Fatal, &p, stderr), category);
        }
    }

    #[test]
    fn parse_restore_keeps_every_reason_of_a_file_and_splits_metadata() {
        let p = parse_restore(FLIPPED_0_14, &inc(&["/source/big/random-1m.bin"]), "/T");
        let reasons: Vec<RestoreLine> = p
            .errors
            .iter()
            .map(|(_, r)| restore_line(r, "/T"))
            .collect();
        assert_eq!(reasons, [RestoreLine::Integrity, RestoreLine::Metadata]);
        let p = parse_restore(
            USERNS_0_18_JSON,
            &inc(&["/xsrc/plain.txt", "/xsrc/xattr.txt"]),
            "/T",
        );
        assert!(p
            .errors
            .iter()
            .all(|(_, r)| restore_line(r, "/T") == RestoreLine::Metadata));
    }

    #[test]
    fn parse_restore_matches_names_containing_colon_space_by_the_longest_include() {
        let stderr = "ignoring error for /src/a: b.txt: ciphertext verification failed\nignoring error for /src/a: lchown /T/src/a: invalid argument\n";
        let p = parse_restore(stderr, &inc(&["/src/a", "/src/a: b.txt"]), "/T");
        assert_eq!(
            p.errors,
            [
                (
                    "/src/a: b.txt".to_owned(),
                    "ciphertext verification failed".to_owned()
                ),
                (
                    "/src/a".to_owned(),
                    "lchown /T/src/a: invalid argument".to_owned()
                ),
            ]
        );
        assert!(p.unmatched.is_empty());
    }

    #[test]
    fn parse_restore_reports_error_lines_that_match_no_include() {
        // A directory's metadata (0.14 text) and a JSON item that is not sampled.
        let stderr = format!(
            "ignoring error for /xsrc: UtimesNano: no such file or directory\n{}",
            USERNS_0_18_JSON
        );
        let p = parse_restore(&stderr, &inc(&["/xsrc/plain.txt"]), "/T");
        assert_eq!(p.errors.len(), 1);
        assert_eq!(
            p.unmatched,
            [
                "/xsrc: UtimesNano: no such file or directory",
                "xattr.LSet /T/xsrc/xattr.txt trusted.secret: operation not permitted"
            ]
        );
    }

    #[test]
    fn parse_restore_mixed_lines_integrity_beats_transport_beats_environment() {
        let mixed = format!("{NO_SPACE_0_14}{REST_KILLED_0_14}");
        assert_eq!(
            parse_restore(&mixed, &[], "/T").worst,
            Some(RestoreLine::Transport)
        );
        let mixed = format!("{REST_KILLED_0_14}{FLIPPED_0_14}{NO_SPACE_0_14}");
        let p = parse_restore(&mixed, &[], "/T");
        assert_eq!(p.worst, Some(RestoreLine::Integrity));
        assert_eq!(
            p.worst_line.as_deref(),
            Some("/source/big/random-1m.bin: ciphertext verification failed")
        );
        // The retry lines of a missing pack say "retrying", yet they report damage.
        assert_eq!(
            restore_line(MISSING_PACK_0_14.lines().next().unwrap_or(""), "/T"),
            RestoreLine::Integrity
        );
        // A path under the target that merely contains `/data/` is no pack.
        assert_eq!(
            restore_line(
                "lchown /T/source/data/deadbeef.txt: no such file or directory",
                "/T"
            ),
            RestoreLine::Metadata
        );
        assert_eq!(
            restore_line("open /T/source/data/x: permission denied", "/T"),
            RestoreLine::Permission
        );
        assert_eq!(
            restore_line("open /elsewhere/x: permission denied", "/T"),
            RestoreLine::Other
        );
    }
}
