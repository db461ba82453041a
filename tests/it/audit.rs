//! The audit engine (`restic_verify::audit`) against repositories the real restic
//! builds (RESTIC_VERIFY_TEST_RESTIC selects which), in repository format 1 and 2.
//! There is no `audit` subcommand yet, so these call the library directly.

use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use rstest::rstest;
use serde_json::Value;

use restic_verify::audit::{self, AuditOptions, AuditOutcome, Class, ErrorKind};
use restic_verify::finding::Outcome;
use restic_verify::secret::Secret;

use crate::util::{self, TestEnv, FIXTURE_PASSWORD};

/// A repository and a source tree backed up into it.
struct Scene {
    env: TestEnv,
    repo: PathBuf,
    /// The directory the backup ran in; the source is `src` inside it.
    parent: PathBuf,
}

impl Scene {
    /// `restic init --repository-version <v>` and an empty source dir.
    fn new(version: u32) -> Scene {
        let env = TestEnv::new();
        let repo = env.path("repo");
        let parent = env.path("live");
        std::fs::create_dir_all(parent.join("src")).unwrap();
        let s = Scene { env, repo, parent };
        s.restic_ok(&["init", "--repository-version", &version.to_string()]);
        s
    }

    fn src(&self) -> PathBuf {
        self.parent.join("src")
    }

    fn restic(&self, args: &[&str]) -> std::process::Output {
        self.env
            .restic(&self.repo)
            .args(args)
            .current_dir(&self.parent)
            .stdin(Stdio::null())
            .output()
            .expect("restic")
    }

    fn restic_ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.restic(args);
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `restic backup src` from the parent (a relative path: the tree says `/src`).
    fn backup(&self) {
        self.restic_ok(&["backup", "--host", "audit-test", "src"]);
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.src().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn options(&self) -> AuditOptions {
        let mut o = AuditOptions::new(
            Secret::new(self.repo.to_string_lossy()),
            Secret::new(FIXTURE_PASSWORD),
        );
        o.threads = 2;
        o
    }

    fn audit(&self) -> AuditOutcome {
        run(&self.options())
    }
}

fn run(opts: &AuditOptions) -> AuditOutcome {
    audit::run(opts, &tokio_util::sync::CancellationToken::new())
        .unwrap_or_else(|e| panic!("audit failed: {e}"))
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for chunking.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A small tree: files at two levels, an empty file, a symlink, an empty dir.
fn small_tree(s: &Scene) {
    s.write("a.txt", b"alpha\n");
    s.write("b.bin", &bytes(1, 70_000));
    s.write("sub/c.txt", b"gamma\n");
    s.write("sub/deeper/d.bin", &bytes(2, 3000));
    s.write("empty.txt", b"");
    std::os::unix::fs::symlink("a.txt", s.src().join("link")).unwrap();
    std::fs::create_dir_all(s.src().join("empty-dir")).unwrap();
}

/// Flips one bit at `offset`, keeping size and mtime.
fn flip_keep_mtime(path: &Path, offset: u64) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x01;
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&b).unwrap();
    f.set_modified(mtime).unwrap();
}

fn classes(o: &AuditOutcome) -> Vec<(String, Class)> {
    o.entries
        .iter()
        .map(|e| (e.display_path(), e.class))
        .collect()
}

fn nonzero(o: &AuditOutcome) -> Vec<(Class, u64)> {
    o.counts.nonzero().collect()
}

#[rstest]
#[case(1)]
#[case(2)]
fn audit_clean_source_matches_every_entry_and_leaves_the_repository_untouched(#[case] v: u32) {
    let s = Scene::new(v);
    small_tree(&s);
    s.backup();
    let before = util::tree_digest(&s.repo);
    let o = s.audit();
    assert_eq!(
        util::tree_digest(&s.repo),
        before,
        "the audit wrote to the repository"
    );
    assert!(util::locks(&s.repo).is_empty(), "the audit left a lock");
    // /src, a.txt, b.bin, empty-dir, empty.txt, link, sub, sub/c.txt, sub/deeper, d.bin
    assert_eq!(nonzero(&o), vec![(Class::Match, 10)], "{:?}", o.entries);
    assert_eq!(o.verdict(), Outcome::Pass);
    assert_eq!(o.files_verified, 5);
    assert_eq!(o.bytes_verified, 6 + 70_000 + 6 + 3000);
    assert_eq!(o.roots.len(), 1);
    assert_eq!(o.roots[0].tree_path, PathBuf::from("/src"));
    assert_eq!(o.roots[0].source, s.src());
    assert_eq!(o.snapshot.hostname, "audit-test");
}

#[rstest]
#[case(1)]
#[case(2)]
fn audit_flipped_byte_with_mtime_kept_is_mismatch_and_fails(#[case] v: u32) {
    let s = Scene::new(v);
    small_tree(&s);
    s.backup();
    flip_keep_mtime(&s.src().join("sub/deeper/d.bin"), 1234);
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/sub/deeper/d.bin".to_owned(), Class::Mismatch)]
    );
    assert!(o.entries[0].failure);
    assert_eq!(o.verdict(), Outcome::Fail);
    assert_eq!(o.files_verified, 4);
}

#[rstest]
#[case(1)]
#[case(2)]
fn audit_flip_in_the_last_blob_of_a_multi_chunk_file_is_mismatch(#[case] v: u32) {
    let s = Scene::new(v);
    let size = 12 << 20;
    s.write("big.bin", &bytes(3, size));
    s.backup();
    flip_keep_mtime(&s.src().join("big.bin"), size as u64 - 10);
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/big.bin".to_owned(), Class::Mismatch)]
    );
    // "blob N of N": the file was split into several blobs and the last one differs.
    let detail = &o.entries[0].detail;
    let words: Vec<&str> = detail.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "blob").expect(detail);
    let (n, of) = (words[at + 1], words[at + 3]);
    assert_eq!(n, of, "{detail}");
    assert!(of.parse::<u32>().unwrap() > 1, "{detail}");
}

#[test]
fn audit_byte_appended_with_mtime_kept_is_changed_by_size_not_mismatch() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let p = s.src().join("a.txt");
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"!").unwrap();
    f.set_modified(mtime).unwrap();
    let o = s.audit();
    assert_eq!(classes(&o), vec![("/src/a.txt".to_owned(), Class::Changed)]);
    assert!(
        o.entries[0].detail.contains("size 6 → 7"),
        "{}",
        o.entries[0].detail
    );
}

#[test]
fn audit_plain_edit_is_changed_and_passes_but_fails_on_an_immutable_source() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.write("sub/c.txt", b"GAMMA\n");
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/sub/c.txt".to_owned(), Class::Changed)]
    );
    assert!(
        o.entries[0].detail.contains("mtime"),
        "{}",
        o.entries[0].detail
    );
    assert_eq!(o.verdict(), Outcome::Pass);

    let mut opts = s.options();
    opts.immutable_source = true;
    let o = run(&opts);
    assert_eq!(
        classes(&o),
        vec![("/src/sub/c.txt".to_owned(), Class::Mismatch)]
    );
    assert_eq!(o.verdict(), Outcome::Fail);
}

#[test]
fn audit_deleted_file_and_directory_are_source_missing_and_pass() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    std::fs::remove_file(s.src().join("a.txt")).unwrap();
    std::fs::remove_dir_all(s.src().join("sub")).unwrap();
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![
            ("/src/a.txt".to_owned(), Class::SourceMissing),
            ("/src/sub".to_owned(), Class::SourceMissing),
        ]
    );
    // sub, sub/c.txt, sub/deeper, sub/deeper/d.bin: one listed entry, four counted.
    assert_eq!(o.counts.get(Class::SourceMissing), 5);
    assert!(
        o.entries[1].detail.contains("3 entries below"),
        "{}",
        o.entries[1].detail
    );
    assert_eq!(o.verdict(), Outcome::Pass);
}

#[test]
fn audit_new_file_is_new_and_excluded_file_is_neither() {
    let s = Scene::new(2);
    small_tree(&s);
    s.write("skip.tmp", b"excluded by the backup");
    s.restic_ok(&[
        "backup",
        "--host",
        "audit-test",
        "--exclude",
        "*.tmp",
        "src",
    ]);
    s.write("later.txt", b"created after the snapshot");
    let o = s.audit();
    assert_eq!(classes(&o), vec![("/src/later.txt".to_owned(), Class::New)]);
    assert_eq!(o.excluded, 1);
    assert_eq!(o.snapshot.excludes, vec!["*.tmp".to_owned()]);
    assert_eq!(o.verdict(), Outcome::Pass);
}

#[test]
fn audit_old_file_missing_from_the_snapshot_is_not_in_backup_unless_excluded_by_the_caller() {
    let s = Scene::new(2);
    small_tree(&s);
    s.write(
        "cache/x.bin",
        b"excluded with --exclude-file, which restic does not record",
    );
    std::fs::write(s.env.path("excludes"), "cache\n").unwrap();
    let excludes = s.env.path("excludes");
    s.restic_ok(&[
        "backup",
        "--host",
        "audit-test",
        "--exclude-file",
        excludes.to_str().unwrap(),
        "src",
    ]);
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/cache".to_owned(), Class::NotInBackup)]
    );
    assert_eq!(o.verdict(), Outcome::Fail);

    let mut opts = s.options();
    opts.restic_excludes = vec!["cache".into()];
    let o = run(&opts);
    assert!(o.entries.is_empty(), "{:?}", o.entries);
    assert_eq!(o.excluded, 1);
}

#[test]
fn audit_file_restic_could_not_read_at_backup_time_is_not_in_backup_and_fails() {
    let s = Scene::new(2);
    small_tree(&s);
    s.write("secret.txt", b"mode 000");
    let secret = s.src().join("secret.txt");
    let mode = |p: &Path, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(&secret, 0o000);
    // restic must run unprivileged to be refused; as root, drop to nobody (the repo and
    // the way to it must then be open to nobody).
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        for p in [s.env.dir.path(), &s.parent] {
            mode(p, 0o755);
        }
        StdCommand::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(&s.repo)
            .status()
            .unwrap();
        let mut c = StdCommand::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
        c.arg(util::restic_bin());
        c
    } else {
        StdCommand::new(util::restic_bin())
    };
    let out = cmd
        .args(["backup", "--no-cache", "--host", "audit-test", "src"])
        .env("RESTIC_REPOSITORY", &s.repo)
        .env("RESTIC_PASSWORD", FIXTURE_PASSWORD)
        .current_dir(&s.parent)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Left at 000: a chmod now would make its ctime newer than the snapshot (`new`).
    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/secret.txt".to_owned(), Class::NotInBackup)]
    );
    assert!(
        o.entries[0].detail.contains("could not read"),
        "{}",
        o.entries[0].detail
    );
    assert_eq!(o.verdict(), Outcome::Fail);
}

/// Names with spaces, unicode, glob characters, a backslash, a newline and bytes that
/// are not UTF-8.
#[rstest]
#[case(1)]
#[case(2)]
fn audit_tricky_names_match(#[case] v: u32) {
    let s = Scene::new(v);
    let names: Vec<&[u8]> = vec![
        b"with space.txt",
        b" padded .txt",
        "ünïcødé 日本.txt".as_bytes(),
        b"star*q?[br]ack.txt",
        b"back\\slash.txt",
        b"new\nline.txt",
        b"quote\"and'.txt",
        b"bad\xff\xfeutf8.txt",
        b"glob*dir?[x]",
    ];
    for n in &names {
        let p = s.src().join(OsStr::from_bytes(n));
        if n.starts_with(b"glob") {
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("inner\\n.txt"), b"inner").unwrap();
        } else {
            std::fs::write(&p, n).unwrap();
        }
    }
    s.backup();
    let o = s.audit();
    assert_eq!(nonzero(&o), vec![(Class::Match, 11)], "{:?}", o.entries);
    assert_eq!(o.files_verified, 9);
}

#[test]
fn audit_fixture_clean_repository_with_its_source_tree_matches_every_node() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let mut opts = AuditOptions::new(
        Secret::new(repo.to_string_lossy()),
        Secret::new(FIXTURE_PASSWORD),
    );
    opts.map = vec![("/source".into(), src.clone())];
    let o = run(&opts);
    // 60 nodes counting /source (fixtures/README.md); 1,836,247 bytes of content plus
    // the 33-byte hard link, which the audit reads under both names.
    assert_eq!(nonzero(&o), vec![(Class::Match, 60)], "{:?}", o.entries);
    assert_eq!(o.bytes_verified, 1_836_247 + 33);
    assert_eq!(o.roots[0].tree_path, PathBuf::from("/source"));
    assert_eq!(
        o.roots[0].snapshot_path,
        "/tmp/restic-verify-fixtures/source"
    );
}

/// The tree blob of `/src/<dir>` and the pack holding it, from restic's own output.
fn tree_blob_location(s: &Scene, dir: &str) -> (String, String, u64, u64) {
    let json = |args: &[&str]| -> Value {
        serde_json::from_slice(&s.restic_ok(args).stdout).expect("json")
    };
    let snaps = json(&["snapshots", "--json"]);
    let id = snaps[0]["id"].as_str().unwrap().to_owned();
    let snap = json(&["cat", "snapshot", &id]);
    let mut tree = snap["tree"].as_str().unwrap().to_owned();
    for name in ["src", dir] {
        let t = json(&["cat", "blob", &tree]);
        let node = t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in tree {tree}"));
        tree = node["subtree"].as_str().unwrap().to_owned();
    }
    let list = s.restic_ok(&["list", "index"]);
    for idx in String::from_utf8_lossy(&list.stdout).lines() {
        let index = json(&["cat", "index", idx.trim()]);
        for pack in index["packs"].as_array().unwrap() {
            for b in pack["blobs"].as_array().unwrap() {
                if b["id"] == tree.as_str() {
                    return (
                        tree,
                        pack["id"].as_str().unwrap().to_owned(),
                        b["offset"].as_u64().unwrap(),
                        b["length"].as_u64().unwrap(),
                    );
                }
            }
        }
    }
    panic!("tree {tree} in no index");
}

#[rstest]
#[case(1)]
#[case(2)]
fn audit_damaged_tree_blob_is_reported_as_damage_naming_the_subtree(#[case] v: u32) {
    let s = Scene::new(v);
    small_tree(&s);
    s.backup();
    let (tree, pack, offset, length) = tree_blob_location(&s, "sub");
    let file = s.repo.join("data").join(&pack[..2]).join(&pack);
    StdCommand::new("chmod")
        .arg("u+w")
        .arg(&file)
        .status()
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .unwrap();
    let at = offset + length / 2;
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0xff;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
    drop(f);

    let o = s.audit();
    assert_eq!(
        classes(&o),
        vec![("/src/sub".to_owned(), Class::Damaged)],
        "{:?}",
        o.entries
    );
    assert!(
        o.entries[0].detail.contains(&tree),
        "{}",
        o.entries[0].detail
    );
    assert_eq!(o.verdict(), Outcome::Fail);
    // Everything outside the damaged subtree was still verified; /src/sub counts once.
    assert_eq!(o.files_verified, 3);
    assert_eq!(nonzero(&o), vec![(Class::Match, 6), (Class::Damaged, 1)]);
}

#[test]
fn audit_missing_or_empty_source_root_is_not_verified() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    std::fs::rename(s.src(), s.env.path("moved")).unwrap();
    let e = audit::run(&s.options(), &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotVerified, "{e}");
    std::fs::create_dir(s.src()).unwrap();
    let e = audit::run(&s.options(), &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotVerified, "{e}");
    assert!(e.to_string().contains("empty"), "{e}");

    // The same source elsewhere, through a map (and a symlink to it), matches.
    let link = s.env.path("link-to-moved");
    std::os::unix::fs::symlink(s.env.path("moved"), &link).unwrap();
    for to in [s.env.path("moved"), link] {
        let mut opts = s.options();
        opts.map = vec![("/src".into(), to)];
        let o = run(&opts);
        assert_eq!(o.counts.get(Class::Match), 10, "{:?}", o.entries);
        assert_eq!(o.roots[0].source, s.env.path("moved"));
    }
}

#[test]
fn audit_map_that_matches_no_snapshot_path_is_refused() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let mut opts = s.options();
    opts.map = vec![("/elsewhere".into(), s.src())];
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[test]
fn audit_absolute_and_dot_backup_paths_resolve_their_tree_roots() {
    let s = Scene::new(2);
    small_tree(&s);
    let abs = s.src();
    s.restic_ok(&["backup", "--host", "abs", abs.to_str().unwrap()]);
    let out = s
        .env
        .restic(&s.repo)
        .args(["backup", "--host", "dot", "."])
        .current_dir(s.src())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (host, tree) in [("abs", abs.clone()), ("dot", PathBuf::from("/"))] {
        let mut opts = s.options();
        opts.snapshot = audit::SnapshotSelector::Latest(audit::SnapshotFilter {
            hosts: vec![host.into()],
            ..Default::default()
        });
        let o = run(&opts);
        assert_eq!(o.roots[0].tree_path, tree, "{host}");
        assert_eq!(
            nonzero(&o),
            vec![(Class::Match, 10)],
            "{host}: {:?}",
            o.entries
        );
    }
}

#[test]
fn audit_wrong_password_missing_repository_and_unknown_snapshot_are_errors() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let mut opts = s.options();
    opts.password = Secret::new("wrong-password");
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong-password"), "{e}");

    let mut opts = s.options();
    opts.repository = Secret::new(s.env.path("no-repo").to_string_lossy());
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let mut opts = s.options();
    opts.snapshot = audit::SnapshotSelector::Id("deadbeef".into());
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let mut opts = s.options();
    opts.snapshot = audit::SnapshotSelector::Latest(audit::SnapshotFilter {
        hosts: vec!["other-host".into()],
        ..Default::default()
    });
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn audit_cancelled_before_it_starts_is_cancelled() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let e = audit::run(&s.options(), &cancel).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
}

#[test]
fn audit_include_and_exclude_globs_narrow_what_is_compared() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    flip_keep_mtime(&s.src().join("b.bin"), 5);
    let glob = |p: &str| {
        let mut b = globset::GlobSetBuilder::new();
        b.add(globset::Glob::new(p).unwrap());
        b.build().unwrap()
    };
    let mut opts = s.options();
    opts.exclude = Some(glob("/src/b.bin"));
    let o = run(&opts);
    assert!(o.entries.is_empty(), "{:?}", o.entries);
    assert_eq!(o.counts.get(Class::Match), 9);

    let mut opts = s.options();
    opts.include = Some(glob("/src/sub/**"));
    let o = run(&opts);
    assert_eq!(nonzero(&o), vec![(Class::Match, 2)], "{:?}", o.entries);
}

/// `rclone serve restic` on a loopback port, serving `dir`; stopped when dropped.
struct RcloneRest {
    child: std::process::Child,
    port: u16,
}

impl RcloneRest {
    fn start(dir: &Path) -> RcloneRest {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = StdCommand::new("rclone")
            .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("rclone: {e}; install Debian's `rclone`"));
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "rclone exited");
            assert!(start.elapsed().as_secs() < 30, "rclone did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        RcloneRest { child, port }
    }

    fn url(&self, name: &str) -> String {
        format!("rest:http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for RcloneRest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn audit_over_rest_matches_and_reports_a_flip_like_a_local_repository() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let server = RcloneRest::start(s.env.dir.path());
    let mut opts = s.options();
    opts.repository = Secret::new(server.url("repo"));
    flip_keep_mtime(&s.src().join("b.bin"), 69_999);
    // The way the caller runs it: on tokio's blocking pool.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let o = rt
        .block_on(async {
            let cancel = tokio_util::sync::CancellationToken::new();
            tokio::task::spawn_blocking(move || audit::run(&opts, &cancel)).await
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        classes(&o),
        vec![("/src/b.bin".to_owned(), Class::Mismatch)]
    );
    assert_eq!(o.counts.get(Class::Match), 9);
}

#[test]
fn audit_over_rest_missing_repository_is_not_found_and_no_server_is_network() {
    let s = Scene::new(2);
    small_tree(&s);
    s.backup();
    let server = RcloneRest::start(s.env.dir.path());
    let mut opts = s.options();
    opts.repository = Secret::new(server.url("no-such-repo"));
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let port = server.port;
    drop(server);
    let mut opts = s.options();
    opts.repository = Secret::new(format!("rest:http://user:s3cret-pw@127.0.0.1:{port}/repo"));
    opts.backend_options.insert("retry".into(), "false".into());
    let e = audit::run(&opts, &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
    assert!(!e.to_string().contains("s3cret-pw"), "{e}");
}

/// See: issue #20 (item 2). `src/d/null` was backed up; `src/d` is now a symlink to
/// a directory holding `null` with the same bytes, size and mtime (a root-only file)
/// or a FIFO. The audit opens nothing behind the link (inotify) and calls `d` a
/// change: nothing is `match`ed, nothing is damage.
#[rstest]
fn audit_directory_replaced_by_a_symlink_is_changed_and_nothing_behind_it_is_opened(
    #[values(false, true)] fifo: bool,
) {
    let s = Scene::new(2);
    s.write("d/null", b"the bytes the backup read\n");
    s.backup();
    let elsewhere = s.env.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let target = elsewhere.join("null");
    if fifo {
        nix::unistd::mkfifo(&target, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    } else {
        let orig = s.src().join("d/null");
        std::fs::copy(&orig, &target).unwrap();
        let mtime = std::fs::metadata(&orig).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    std::fs::remove_dir_all(s.src().join("d")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.src().join("d")).unwrap();
    let watch = crate::restore_test::OpenWatch::new(&target);
    let o = s.audit();
    assert_eq!(watch.opens(), 0, "the file behind the link was opened");
    assert_eq!(classes(&o), vec![("/src/d".to_owned(), Class::Changed)]);
    assert_eq!(o.files_verified, 0);
    assert_eq!(o.verdict(), Outcome::Pass, "a changed source is not damage");
}
