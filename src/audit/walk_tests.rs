//! Unit tests of the tree-level walk, with an in-memory snapshot.

use super::*;
use rstest::rstest;

fn file(size: u64, mtime: i128, perm: u32) -> Facts {
    Facts {
        kind: Kind::File,
        size,
        mtime_ns: Some(mtime),
        perm: Some(perm),
        link: None,
    }
}

fn other(kind: Kind, perm: u32, link: Option<&str>) -> Facts {
    Facts {
        kind,
        size: 0,
        mtime_ns: Some(1),
        perm: Some(perm),
        link: link.map(|l| l.as_bytes().to_vec()),
    }
}

#[rstest]
#[case::equal_file(file(10, 5, 0o644), file(10, 5, 0o644), Meta::Content { note: None })]
#[case::mode_only(file(10, 5, 0o644), file(10, 5, 0o600), Meta::Content { note: Some("mode 0644 → 0600".into()) })]
#[case::size(file(10, 5, 0o644), file(11, 5, 0o644), Meta::Differs("size 10 → 11".into()))]
#[case::mtime(file(10, 1_000_000_000, 0o644), file(10, 2_500_000_000, 0o644),
    Meta::Differs("mtime 1970-01-01T00:00:01Z → 1970-01-01T00:00:02.500Z".into()))]
#[case::size_and_mode(file(10, 5, 0o644), file(11, 5, 0o600), Meta::Differs("size 10 → 11; mode 0644 → 0600".into()))]
#[case::type_change(file(10, 5, 0o644), other(Kind::Dir, 0o755, None), Meta::Differs("type file → dir".into()))]
#[case::dir_same_ignores_mtime(other(Kind::Dir, 0o755, None), Facts { mtime_ns: Some(9), ..other(Kind::Dir, 0o755, None) }, Meta::Same)]
#[case::dir_mode(other(Kind::Dir, 0o755, None), other(Kind::Dir, 0o700, None), Meta::Differs("mode 0755 → 0700".into()))]
#[case::symlink_same(
    other(Kind::Symlink, 0o777, Some("a")),
    other(Kind::Symlink, 0o777, Some("a")),
    Meta::Same
)]
#[case::symlink_target(other(Kind::Symlink, 0o777, Some("a")), other(Kind::Symlink, 0o777, Some("b")), Meta::Differs("symlink target a → b".into()))]
#[case::fifo(
    other(Kind::Fifo, 0o644, None),
    other(Kind::Fifo, 0o644, None),
    Meta::Same
)]
#[case::setuid(other(Kind::Dir, 0o4755, None), other(Kind::Dir, 0o755, None), Meta::Differs("mode 4755 → 0755".into()))]
fn compare_meta_classifies_differences(
    #[case] snap: Facts,
    #[case] src: Facts,
    #[case] want: Meta,
) {
    assert_eq!(compare_meta(&snap, &src), want);
}

#[rstest]
#[case(10, 20, false, Class::NotInBackup)]
#[case(20, 20, false, Class::New)]
#[case(30, 20, false, Class::New)]
#[case(30, 20, true, Class::NotInBackup)]
fn source_only_class_uses_ctime_against_the_snapshot(
    #[case] ctime: i128,
    #[case] snap: i128,
    #[case] immutable: bool,
    #[case] want: Class,
) {
    assert_eq!(source_only_class(ctime, snap, immutable), want);
}

#[rstest]
#[case(0o644, 0o644)]
#[case(0x8000_01ED, 0o755)] // dir bit + 0755
#[case((1 << 23) | 0o755, 0o4755)]
#[case((1 << 22) | (1 << 20) | 0o775, 0o3775)]
fn go_perm_maps_go_file_mode_to_unix(#[case] go: u32, #[case] unix: u32) {
    assert_eq!(go_perm(go), unix);
}

#[rstest]
#[case("/tmp/x/src", true, &["/tmp/x/src", "/x/src", "/src", "/"])]
#[case("/tmp/x/src", false, &["/tmp/x/src", "/x/src", "/src"])]
#[case("/", true, &["/"])]
fn root_candidates_are_suffixes_longest_first(
    #[case] path: &str,
    #[case] single: bool,
    #[case] want: &[&str],
) {
    let got: Vec<PathBuf> = root_candidates(path, single);
    let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
    assert_eq!(got, want);
}

#[rstest]
#[case("/src", "/tmp/x/src", &[], "/tmp/x/src", None)]
#[case("/src", "/tmp/x/src", &[("/src", "/mnt/s")], "/mnt/s", Some(0))]
#[case("/tank/data", "/tank/data", &[("/tank", "/snap/tank"), ("/tank/data", "/z")], "/z", Some(1))]
#[case("/tank/data", "/tank/data", &[("/tank", "/snap/tank")], "/snap/tank/data", Some(0))]
#[case("/src", "/tmp/x/src", &[("/tmp/x", "/m")], "/m/src", Some(0))]
#[case("/srcx", "/tmp/srcx", &[("/src", "/m")], "/tmp/srcx", None)]
fn map_root_takes_the_longest_whole_component_prefix(
    #[case] tree: &str,
    #[case] snap: &str,
    #[case] maps: &[(&str, &str)],
    #[case] want: &str,
    #[case] used: Option<usize>,
) {
    let maps: Vec<(String, PathBuf)> = maps
        .iter()
        .map(|(f, t)| ((*f).to_owned(), PathBuf::from(t)))
        .collect();
    assert_eq!(
        map_root(Path::new(tree), Path::new(snap), &maps),
        (PathBuf::from(want), used)
    );
}

/// A snapshot held in memory for the walker: trees by ID, blob lengths.
#[derive(Default)]
struct FakeTrees {
    trees: std::collections::HashMap<rustic_core::TreeId, Vec<Node>>,
    blobs: std::collections::HashMap<rustic_core::DataId, u32>,
    damaged: Vec<rustic_core::TreeId>,
}

impl Trees for FakeTrees {
    fn load(&self, id: &rustic_core::TreeId) -> Result<Vec<Named>, String> {
        if self.damaged.contains(id) {
            return Err(format!("tree {id} cannot be loaded"));
        }
        Ok(super::super::repo::named(self.trees[id].clone()))
    }
    fn blob_len(&self, id: &rustic_core::DataId) -> Option<u32> {
        self.blobs.get(id).copied()
    }
}

fn tree_id(n: u8) -> rustic_core::TreeId {
    rustic_core::Id::new([n; 32]).into()
}

/// Snapshot nodes mirroring what is on disk under `dir` now (recursively),
/// minus the names in `drop`; returns the root tree's ID.
fn mirror(fake: &mut FakeTrees, dir: &Path, next: &mut u8, drop: &[&[u8]]) -> rustic_core::TreeId {
    use sha2::Digest;
    let mut nodes = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if drop.contains(&e.file_name().as_bytes()) {
            continue;
        }
        let m = e.metadata().unwrap();
        let mut meta = rustic_core::repofile::Metadata {
            mode: Some(m.mode() & 0o777),
            mtime: Some(
                rustic_core::jiff::Timestamp::from_nanosecond(
                    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                )
                .unwrap(),
            ),
            ..Default::default()
        };
        let node = if m.is_dir() {
            let id = mirror(fake, &e.path(), next, drop);
            let mut n = Node::new_node(&e.file_name(), NodeType::Dir, meta);
            n.subtree = Some(id);
            n
        } else {
            let data = std::fs::read(e.path()).unwrap();
            meta.size = data.len() as u64;
            let id: rustic_core::DataId =
                rustic_core::Id::new(sha2::Sha256::digest(&data).into()).into();
            fake.blobs.insert(id, data.len() as u32);
            let mut n = Node::new_node(&e.file_name(), NodeType::File, meta);
            n.content = Some(if data.is_empty() { vec![] } else { vec![id] });
            n
        };
        nodes.push(node);
    }
    *next += 1;
    let id = tree_id(*next);
    fake.trees.insert(id, nodes);
    id
}

/// Runs the walker over `root` (source dir `src`), hashing jobs inline.
fn walk(fake: &FakeTrees, root: rustic_core::TreeId, src: &Path, snapshot_ns: i128) -> Collector {
    let tally = Mutex::new(Collector::new(100, false));
    let jobs = std::cell::RefCell::new(Vec::new());
    let submit = |j: Job| {
        jobs.borrow_mut().push(j);
        Ok(())
    };
    let (sel, exc) = (Selection::default(), ResticExcludes::default());
    let w = Walk {
        trees: fake,
        selection: &sel,
        excludes: &exc,
        snapshot_ns,
        immutable: false,
        cancel: &CancellationToken::new(),
        tally: &tally,
        submit: &submit,
    };
    let mut top = Node::new_node(OsStr::new("src"), NodeType::Dir, Default::default());
    top.subtree = Some(root);
    top.meta.mode = Some(std::fs::metadata(src).unwrap().mode() & 0o777);
    let named = Named {
        name: "src".into(),
        node: top,
    };
    w.root(named, "/src".into(), src.to_owned(), src.to_owned())
        .unwrap();
    let mut t = tally.into_inner().unwrap();
    for j in jobs.into_inner() {
        let v = super::super::content::check_job(
            fake,
            &j,
            false,
            &mut super::super::content::Reader::with_block(64),
            &|| false,
        )
        .unwrap();
        t.record(j.tree_path, j.source, v.class, v.detail);
    }
    t
}

fn listed(t: Collector) -> Vec<(String, Class)> {
    t.into_entries()
        .0
        .into_iter()
        .map(|e| (e.display_path(), e.class))
        .collect()
}

use std::ffi::OsStr;

fn touch(dir: &Path, name: &[u8], data: &[u8]) {
    let p = dir.join(OsStr::from_bytes(name));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

#[rstest]
// Source-only entries older than the snapshot were missed; newer ones are new.
#[case::missed(i128::MAX, Class::NotInBackup)]
#[case::created_later(0, Class::New)]
fn walk_merges_by_name_bytes_and_classifies_one_sided_entries(
    #[case] snapshot_ns: i128,
    #[case] source_only: Class,
) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    // Names around the byte order traps: uppercase before lowercase, a dot, a
    // space, non-ASCII UTF-8 and bytes that are not UTF-8.
    for n in [
        &b"B"[..],
        b"a",
        b"a b",
        b"a.b",
        b"ab",
        b"\xc3\xa9",
        b"\xff\xfe",
        b"z/inner",
    ] {
        touch(src, n, n);
    }
    let mut fake = FakeTrees::default();
    let mut next = 0;
    let root = mirror(&mut fake, src, &mut next, &[]);
    // Only in the snapshot: a file and a directory with two entries.
    let mut gone = Node::new_node(OsStr::new("a-gone"), NodeType::File, Default::default());
    gone.content = Some(vec![]);
    let sub = tree_id(200);
    fake.trees.insert(
        sub,
        vec![gone.clone(), {
            let mut g = gone.clone();
            g.name = "b-gone".into();
            g
        }],
    );
    let mut gone_dir = Node::new_node(OsStr::new("\u{e9}-dir"), NodeType::Dir, Default::default());
    gone_dir.subtree = Some(sub);
    fake.trees
        .get_mut(&root)
        .unwrap()
        .extend([gone.clone(), gone_dir]);
    // Only in the source.
    touch(src, b"a-new", b"n");
    touch(src, b"\xff\xfe-new/x", b"x");
    let t = walk(&fake, root, src, snapshot_ns);
    assert_eq!(t.counts.get(Class::Match), 10, "{:?}", t);
    assert_eq!(t.counts.get(Class::SourceMissing), 4);
    assert_eq!(t.counts.get(source_only), 3);
    assert_eq!(listed(t), {
        let mut want = vec![
            ("/src/a-gone".to_owned(), Class::SourceMissing),
            ("/src/a-new".to_owned(), source_only),
            ("/src/\u{e9}-dir".to_owned(), Class::SourceMissing),
            ("/src/\u{fffd}\u{fffd}-new".to_owned(), source_only),
        ];
        if source_only == Class::NotInBackup {
            // Failures are listed first.
            want = vec![
                want[1].clone(),
                want[3].clone(),
                want[0].clone(),
                want[2].clone(),
            ];
        }
        want
    });
}

#[test]
fn walk_type_change_lists_the_entry_once_and_summarises_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    touch(src, b"d/one", b"1");
    touch(src, b"d/two", b"2");
    touch(src, b"f", b"f");
    let mut fake = FakeTrees::default();
    let mut next = 0;
    let root = mirror(&mut fake, src, &mut next, &[]);
    std::fs::remove_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d"), b"now a file").unwrap();
    let t = walk(&fake, root, src, 0);
    let (entries, _) = t.into_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].display_path(), "/src/d");
    assert_eq!(entries[0].class, Class::Changed);
    assert_eq!(
        entries[0].detail,
        "type dir → file; 2 entries below (2 source_missing)"
    );
}

#[test]
fn walk_damaged_subtree_is_damage_and_the_rest_is_still_compared() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    touch(src, b"d/one", b"1");
    touch(src, b"e/two", b"2");
    let mut fake = FakeTrees::default();
    let mut next = 0;
    let root = mirror(&mut fake, src, &mut next, &[]);
    let d = fake.trees[&root]
        .iter()
        .find(|n| n.name == "d")
        .and_then(|n| n.subtree)
        .unwrap();
    fake.damaged.push(d);
    fake.blobs.clear();
    let t = walk(&fake, root, src, 0);
    // Each entry counted once: /src and /src/e match, /src/d and e/two damaged.
    assert_eq!(
        t.counts.nonzero().collect::<Vec<_>>(),
        vec![(Class::Match, 2), (Class::Damaged, 2)]
    );
    // e/two's blob is gone from the index too: per-file damage, not a crash.
    assert_eq!(
        listed(t),
        vec![
            ("/src/d".to_owned(), Class::Damaged),
            ("/src/e/two".to_owned(), Class::Damaged),
        ]
    );
}

#[test]
fn walk_deleted_directory_with_damage_below_counts_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    touch(src, b"d/e/f", b"f");
    touch(src, b"d/g", b"g");
    let mut fake = FakeTrees::default();
    let mut next = 0;
    let root = mirror(&mut fake, src, &mut next, &[]);
    let d = fake.trees[&root][0].subtree.unwrap();
    let e = fake.trees[&d]
        .iter()
        .find(|n| n.name == "e")
        .and_then(|n| n.subtree)
        .unwrap();
    fake.damaged.push(e);
    std::fs::remove_dir_all(src.join("d")).unwrap();
    let t = walk(&fake, root, src, 0);
    assert_eq!(
        t.counts.nonzero().collect::<Vec<_>>(),
        vec![
            (Class::Match, 1),
            (Class::SourceMissing, 2),
            (Class::Damaged, 1)
        ]
    );
    let (entries, _) = t.into_entries();
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.display_path(), e.class, e.detail.clone()))
        .collect();
    assert_eq!(got[0].0, "/src/d/e");
    assert_eq!(got[0].1, Class::Damaged);
    assert_eq!(
        got[1],
        (
            "/src/d".to_owned(),
            Class::SourceMissing,
            "not in the source; 1 entry below (1 source_missing)".to_owned()
        )
    );
}
