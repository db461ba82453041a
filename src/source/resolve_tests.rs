//! Unit tests of the resolver: symlinks anywhere below the root refused, `..`
//! refused, the component walk (no `openat2`) and the by-name reopen (no `/proc`)
//! behaving as the fast paths do, and special files looked at without being opened
//! (inotify sees no open).

use super::*;
use rstest::rstest;
use std::io::Read;
use std::os::fd::AsFd;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// `root/a/b/f` ("data"), `root/a/link` -> `root/a/b`, `root/a/b/flink` -> `f`,
/// `root/a/fifo`.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
    std::fs::write(root.join("a/b/f"), b"data").expect("write");
    std::os::unix::fs::symlink(root.join("a/b"), root.join("a/link")).expect("symlink");
    std::os::unix::fs::symlink("f", root.join("a/b/flink")).expect("symlink");
    nix::unistd::mkfifo(&root.join("a/fifo"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
    (dir, root)
}

fn errno(r: io::Result<OwnedFd>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[rstest]
fn open_dir_below_refuses_a_symlink_in_any_component(#[values(true, false)] with_openat2: bool) {
    let (_dir, root) = tree();
    let switch = AtomicBool::new(with_openat2);
    let root_fd = open_root(&root).expect("root");
    let open = |rel: &str| open_dir_below_with(&switch, root_fd.as_fd(), Path::new(rel));
    assert!(open("a/b").is_ok());
    assert!(open("").is_ok(), "the root itself");
    assert!(open("./a/./b").is_ok(), "`.` is skipped");
    // In the middle and at the end.
    assert_eq!(errno(open("a/link")), Some(nix::libc::ELOOP));
    std::fs::create_dir(root.join("a/b/c")).expect("mkdir");
    assert_eq!(errno(open("a/link/c")), Some(nix::libc::ELOOP));
    assert_eq!(errno(open("a/nope/c")), Some(nix::libc::ENOENT));
    assert_eq!(errno(open("a/b/f/c")), Some(nix::libc::ENOTDIR));
    // The switch is left as it was: this kernel has openat2, and a turned-off
    // switch stays off (the component walk answered every case above).
    assert_eq!(switch.load(Ordering::Relaxed), with_openat2);
}

#[rstest]
fn open_dir_below_refuses_dot_dot_even_where_it_stays_inside(
    #[values(true, false)] with_openat2: bool,
) {
    let (_dir, root) = tree();
    let switch = AtomicBool::new(with_openat2);
    let root_fd = open_root(&root).expect("root");
    for rel in ["a/../a", "..", "a/b/../../..", "../root/a"] {
        let e = open_dir_below_with(&switch, root_fd.as_fd(), Path::new(rel)).expect_err(rel);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{rel}: {e}");
        assert!(e.to_string().contains("`..`"), "{e}");
    }
}

#[test]
fn open_root_follows_a_symlink_the_operator_chose() {
    let (dir, root) = tree();
    let link = dir.path().join("root-link");
    std::os::unix::fs::symlink(&root, &link).expect("symlink");
    let fd = open_root(&link).expect("root through a link");
    assert!(open_dir_below(fd.as_fd(), Path::new("a/b")).is_ok());
}

/// An inotify watch on `path` counting opens (an `O_PATH` descriptor is no open).
fn watch(path: &Path) -> Inotify {
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).expect("inotify");
    ino.add_watch(path, AddWatchFlags::IN_OPEN).expect("watch");
    ino
}

fn opens(ino: &Inotify) -> usize {
    match ino.read_events() {
        Ok(events) => events.len(),
        Err(Errno::EAGAIN) => 0,
        Err(e) => panic!("inotify: {e}"),
    }
}

#[rstest]
fn open_regular_opens_a_regular_file_and_nothing_else(#[values(true, false)] with_proc: bool) {
    let (_dir, root) = tree();
    let switch = AtomicBool::new(with_proc);
    let dir = open_dir_below(open_root(&root).expect("root").as_fd(), Path::new("a")).expect("a");
    let b = open_dir_below(dir.as_fd(), Path::new("b")).expect("b");
    let open = |d: &OwnedFd, name: &str| {
        open_regular_with(&switch, d.as_fd(), OsStr::new(name), OFlag::empty())
    };

    let f = watch(&root.join("a/b/f"));
    let Ok(Found::File(mut file, m)) = open(&b, "f") else {
        panic!("a regular file is opened");
    };
    let mut got = String::new();
    file.read_to_string(&mut got).expect("read");
    assert_eq!((got.as_str(), m.len()), ("data", 4));
    assert_eq!(opens(&f), 1, "opened once, by the reopen");

    let fifo = watch(&root.join("a/fifo"));
    match open(&dir, "fifo") {
        Ok(Found::Other(m)) => {
            use std::os::unix::fs::FileTypeExt;
            assert!(m.file_type().is_fifo());
        }
        other => panic!("a FIFO is set aside: {other:?}"),
    }
    assert_eq!(opens(&fifo), 0, "the FIFO was opened");

    // A symlink is looked at, not followed; its target is not opened.
    assert!(matches!(open(&b, "flink"), Ok(Found::Other(m)) if m.file_type().is_symlink()));
    assert_eq!(opens(&f), 0, "the link's target was opened");
    assert_eq!(
        open(&b, "nope").map(|_| ()).map_err(|e| e.kind()),
        Err(io::ErrorKind::NotFound)
    );

    // A device is looked at, not opened.
    let dev = open_root(Path::new("/dev")).expect("/dev");
    assert!(
        matches!(open(&dev, "null"), Ok(Found::Other(m)) if !m.is_file()),
        "a device is set aside"
    );
    assert_eq!(switch.load(Ordering::Relaxed), with_proc);
}

#[test]
fn open_parent_of_a_root_that_is_a_file_looks_in_the_roots_directory() {
    let (_dir, root) = tree();
    let p = SourcePath {
        root: root.join("a/b/f"),
        rel: PathBuf::new(),
    };
    let (dir, name) = open_parent(&p).expect("parent");
    assert_eq!(name, "f");
    assert!(matches!(
        open_regular(dir.as_fd(), name, OFlag::empty()),
        Ok(Found::File(..))
    ));
    let p = SourcePath {
        root: root.clone(),
        rel: "a/link/f".into(),
    };
    assert_eq!(
        open_parent(&p).err().and_then(|e| e.raw_os_error()),
        Some(nix::libc::ELOOP)
    );
    assert_eq!(p.full(), root.join("a/link/f"));
}
