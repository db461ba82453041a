//! Unit tests of the content level: hashing in blob lengths, and `verify` on real
//! files (edits, replacements, FIFOs, sockets, files listed as regular).

use super::*;
use proptest::prelude::*;
use rstest::rstest;

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Blobs for `data` cut at `cuts` (lengths).
fn blobs(data: &[u8], cuts: &[usize]) -> Vec<Blob> {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in cuts {
        out.push((sha(&data[at..at + n]), n as u32));
        at += n;
    }
    out
}

fn check(data: &[u8], bl: &[Blob], block: usize) -> BlobCheck {
    let mut buf = vec![0u8; block];
    check_blobs(&mut &data[..], bl, &mut buf, None, &|| false).unwrap()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[rstest]
#[case(1)]
#[case(3)]
#[case(4096)]
#[case(BLOCK)]
fn check_blobs_equal_file_is_equal_at_any_block_size(#[case] block: usize) {
    let d = data(10_000);
    let bl = blobs(&d, &[1, 4000, 5999]);
    assert_eq!(check(&d, &bl, block), BlobCheck::Equal { bytes: 10_000 });
}

#[test]
fn check_blobs_empty_file_with_no_blobs_is_equal() {
    assert_eq!(check(&[], &[], 16), BlobCheck::Equal { bytes: 0 });
}

#[test]
fn check_blobs_flip_in_last_blob_names_the_last_blob() {
    let d = data(9000);
    let bl = blobs(&d, &[3000, 3000, 3000]);
    let mut bad = d.clone();
    bad[8999] ^= 1;
    assert_eq!(
        check(&bad, &bl, 1024),
        BlobCheck::Differs {
            index: 2,
            count: 3,
            offset: 6000
        }
    );
}

#[rstest]
#[case(1)]
#[case(1024)]
fn check_blobs_extra_trailing_bytes_are_longer(#[case] block: usize) {
    let d = data(5000);
    let bl = blobs(&d, &[2500, 2500]);
    let mut longer = d.clone();
    longer.push(0);
    assert_eq!(check(&longer, &bl, block), BlobCheck::Longer { at: 5000 });
}

#[test]
fn check_blobs_missing_tail_is_short() {
    let d = data(5000);
    let bl = blobs(&d, &[2500, 2500]);
    assert_eq!(
        check(&d[..4000], &bl, 700),
        BlobCheck::Short { index: 1, at: 4000 }
    );
}

/// Counts the reads that reach the data.
struct Counting<'a>(&'a [u8], usize);

impl Read for Counting<'_> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.1 += 1;
        self.0.read(b)
    }
}

#[test]
fn check_blobs_skips_the_eof_read_only_where_the_known_length_ends() {
    let d = data(5000);
    let bl = blobs(&d, &[2500, 2500]);
    let mut buf = vec![0u8; 8192];
    let mut r = Counting(&d, 0);
    let c = check_blobs(&mut r, &bl, &mut buf, Some(5000), &|| false).unwrap();
    assert_eq!((c, r.1), (BlobCheck::Equal { bytes: 5000 }, 1));
    let mut r = Counting(&d, 0);
    let c = check_blobs(&mut r, &bl, &mut buf, None, &|| false).unwrap();
    assert_eq!(
        (c, r.1),
        (BlobCheck::Equal { bytes: 5000 }, 2),
        "EOF proven"
    );
    // The file had grown by the time it was opened: its length says so, the
    // extra read is made and finds the bytes.
    let mut longer = d.clone();
    longer.extend_from_slice(&[0; 3]);
    let mut small = vec![0u8; 2500];
    let mut r = Counting(&longer, 0);
    let c = check_blobs(&mut r, &bl, &mut small, Some(5003), &|| false).unwrap();
    assert_eq!(c, BlobCheck::Longer { at: 5000 });
    // Bytes already buffered past the last blob are found without a read.
    let mut r = Counting(&longer, 0);
    let c = check_blobs(&mut r, &bl, &mut buf, Some(5000), &|| false).unwrap();
    assert_eq!((c, r.1), (BlobCheck::Longer { at: 5000 }, 1));
}

#[test]
fn check_blobs_stops_when_cancelled() {
    let d = data(5000);
    let bl = blobs(&d, &[5000]);
    let mut buf = vec![0u8; 64];
    let r = check_blobs(&mut &d[..], &bl, &mut buf, None, &|| true);
    assert!(matches!(r, Err(ReadStop::Cancelled)));
}

proptest! {
    /// Any cut of any data into blobs verifies, whatever the read block size.
    #[test]
    fn check_blobs_accepts_every_cut(
        d in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(1usize..500, 0..12),
        block in 1usize..700,
    ) {
        let mut lens = Vec::new();
        let mut left = d.len();
        for c in cuts {
            if left == 0 { break; }
            let n = c.min(left);
            lens.push(n);
            left -= n;
        }
        if left > 0 { lens.push(left); }
        let bl = blobs(&d, &lens);
        prop_assert_eq!(check(&d, &bl, block), BlobCheck::Equal { bytes: d.len() as u64 });
    }
}

fn job_for(path: PathBuf) -> Job {
    let m = std::fs::symlink_metadata(&path).unwrap();
    Job {
        tree_path: "/t".into(),
        source: path,
        content: Vec::new(),
        size: m.len(),
        seen: Listed::Stat(Stamp::of(&m)),
        note: None,
    }
}

#[test]
fn reader_opens_files_relative_to_the_directory_it_last_opened() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let d = data(300);
    let bl = blobs(&d, &[300]);
    let (p, q) = (sub.join("f"), sub.join("g"));
    std::fs::write(&p, &d).unwrap();
    std::fs::write(&q, &d).unwrap();
    let (jp, jq) = (job_for(p), job_for(q));
    let mut reader = Reader::with_block(512);
    let v = verify(&jp, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!((v.class, v.verified_bytes), (Class::Match, Some(300)));
    // The directory moves: the reader's descriptor still holds it, so the next
    // file of the same directory is opened through it, not by its old path.
    std::fs::rename(&sub, dir.path().join("moved")).unwrap();
    let v = verify(&jq, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!((v.class, v.verified_bytes), (Class::Match, Some(300)));
    let v = verify(&jq, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
    assert_eq!(
        v.class,
        Class::SourceMissing,
        "a fresh reader opens by path"
    );
}

/// See: issue #20. `root/d` was a directory; it is now a symlink to a directory
/// holding a file of the same name and bytes. Following it would call it a match.
/// `warm`: the reader already holds the root (it read a file in `root/e`).
#[rstest]
fn reader_refuses_a_directory_below_the_root_replaced_by_a_symlink(
    #[values(false, true)] warm: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let (root, other) = (dir.path().join("root"), dir.path().join("other"));
    std::fs::create_dir_all(root.join("e")).unwrap();
    std::fs::create_dir(&other).unwrap();
    let d = data(300);
    let bl = blobs(&d, &[300]);
    std::fs::write(root.join("e/g"), &d).unwrap();
    std::fs::write(other.join("f"), &d).unwrap();
    // The root itself may be a link: the operator chose it.
    let root_link = dir.path().join("root-link");
    std::os::unix::fs::symlink(&root, &root_link).unwrap();
    let mut reader = Reader::new(std::slice::from_ref(&root_link));
    if warm {
        let v = verify(
            &job_for(root_link.join("e/g")),
            &bl,
            false,
            &mut reader,
            &|| false,
        );
        assert_eq!(v.unwrap().class, Class::Match);
    }
    std::os::unix::fs::symlink(&other, root.join("d")).unwrap();
    let mut job = job_for(other.join("f"));
    job.source = root_link.join("d/f");
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
    assert!(v.detail.contains("symlink"), "{}", v.detail);
    // No root holds it: resolved from `/`, and refused as well.
    job.source = root.join("d/f");
    let v = verify(&job, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
}

#[test]
fn verify_matching_file_is_match_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let d = data(3000);
    std::fs::write(&p, &d).unwrap();
    let job = job_for(p);
    let bl = blobs(&d, &[1000, 2000]);
    let v = verify(&job, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
    assert_eq!(v.class, Class::Match);
    assert_eq!(v.verified_bytes, Some(3000));
}

#[test]
fn verify_leaves_the_access_time_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(3000);
    let bl = blobs(&d, &[1000, 2000]);
    let mut reader = Reader::with_block(512);
    // Both through the directory's descriptor (the second with it already open).
    for name in ["f", "g"] {
        let p = dir.path().join(name);
        std::fs::write(&p, &d).unwrap();
        let atime = crate::source::stale_atime(&p);
        let v = verify(&job_for(p.clone()), &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Match, "{name}");
        let after = std::fs::metadata(&p).unwrap().accessed().unwrap();
        assert_eq!(after, atime, "{name}: the audit moved the source's atime");
    }
}

/// A 100-byte file `f` listed as a job, its blobs, and a reader: `warm`, the
/// reader already holds the directory (it read a file there before this one).
fn file_of_100_bytes(warm: bool) -> (tempfile::TempDir, PathBuf, Job, Vec<Blob>, Reader) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let d = data(100);
    std::fs::write(&p, &d).unwrap();
    let job = job_for(p.clone());
    let bl = blobs(&d, &[100]);
    let mut reader = Reader::with_block(512);
    if warm {
        // The reader already holds the directory (a file before this one).
        let other = dir.path().join("other");
        std::fs::write(&other, &d).unwrap();
        let v = verify(&job_for(other), &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Match);
    }
    (dir, p, job, bl, reader)
}

#[rstest]
fn verify_symlink_in_place_of_the_file_is_changed_not_followed(#[values(false, true)] warm: bool) {
    let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &p).unwrap();
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
}

#[rstest]
fn verify_file_replaced_since_the_listing_is_changed(#[values(false, true)] warm: bool) {
    let (dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
    let q = dir.path().join("g");
    std::fs::write(&q, data(100)).unwrap();
    std::fs::rename(&q, &p).unwrap();
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
}

#[rstest]
fn verify_file_edited_since_the_listing_with_its_mtime_put_back_is_changed_not_mismatch(
    #[values(false, true)] warm: bool,
) {
    let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let mut d = data(100);
    d[40] ^= 1;
    std::fs::write(&p, &d).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let now = std::fs::symlink_metadata(&p).unwrap();
    assert_eq!((now.len(), now.modified().unwrap()), (100, mtime));
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
    // Listed after the edit, the same bytes are a mismatch.
    let v = verify(&job_for(p), &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Mismatch, "{v:?}");
}

#[rstest]
fn verify_fifo_or_directory_in_place_of_the_file_is_changed_not_unreadable(
    #[values(false, true)] warm: bool,
) {
    let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
    std::fs::remove_file(&p).unwrap();
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A writer holds it open: a non-blocking read fails with EAGAIN, not EOF.
    let (reader_end, writer) = {
        use std::os::unix::fs::OpenOptionsExt;
        let r = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&p)
            .unwrap();
        let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        (r, w)
    };
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
    drop((reader_end, writer));
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
    assert_eq!(v.class, Class::Changed, "{v:?}");
}

#[test]
fn verify_mode_note_with_equal_content_is_changed_or_mismatch_when_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let d = data(10);
    std::fs::write(&p, &d).unwrap();
    let mut job = job_for(p);
    let bl = blobs(&d, &[10]);
    job.note = Some("mode 0644 → 0600".into());
    let v = verify(&job, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
    assert_eq!(v.class, Class::Changed);
    let v = verify(&job, &bl, true, &mut Reader::with_block(512), &|| false).unwrap();
    assert_eq!(v.class, Class::Mismatch);
}

/// A job as the walker hands over a file the listing showed as regular: only
/// the snapshot's facts, no `lstat`.
fn regular_job(path: PathBuf, facts: Facts) -> Job {
    Job {
        tree_path: "/t".into(),
        source: path,
        content: Vec::new(),
        size: facts.size,
        seen: Listed::Regular(facts),
        note: None,
    }
}

/// `verify` of a file listed as regular with the snapshot's `facts`.
fn verify_regular(
    path: &std::path::Path,
    facts: Facts,
    blobs: &[Blob],
    immutable: bool,
) -> Verdict {
    let job = regular_job(path.to_owned(), facts);
    verify(&job, blobs, immutable, &mut Reader::with_block(64), &|| {
        false
    })
    .unwrap()
}

fn facts_of(path: &std::path::Path) -> Facts {
    Facts::of_meta(&std::fs::symlink_metadata(path).unwrap(), None)
}

#[test]
fn verify_compares_a_file_listed_as_regular_through_its_descriptor_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let d = data(100);
    std::fs::write(&p, &d).unwrap();
    let bl = blobs(&d, &[60, 40]);
    let same = facts_of(&p);
    let v = verify_regular(&p, same.clone(), &bl, false);
    assert_eq!(
        (v.class, v.verified_bytes),
        (Class::Match, Some(100)),
        "{v:?}"
    );

    // The snapshot recorded another size: changed (mismatch when immutable),
    // from the descriptor's fstat, without reading.
    let mut bigger = same.clone();
    bigger.size = 101;
    let v = verify_regular(&p, bigger.clone(), &bl, false);
    assert_eq!((v.class, v.verified_bytes), (Class::Changed, None), "{v:?}");
    assert!(v.detail.contains("size 101 → 100"), "{}", v.detail);
    let v = verify_regular(&p, bigger, &bl, true);
    assert_eq!(v.class, Class::Mismatch, "{v:?}");

    // Another mode rides along as a note on equal content.
    let mut other_mode = same.clone();
    other_mode.perm = Some(same.perm.unwrap() ^ 0o070);
    let v = verify_regular(&p, other_mode, &bl, false);
    assert_eq!(
        (v.class, v.verified_bytes),
        (Class::Changed, Some(100)),
        "{v:?}"
    );
    assert!(v.detail.ends_with("(content equal)"), "{}", v.detail);

    // Same size and mtime, other bytes: a mismatch.
    let mut flipped = d.clone();
    flipped[70] ^= 1;
    std::fs::write(&p, &flipped).unwrap();
    let mtime = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_nanos(u64::try_from(same.mtime_ns.unwrap()).unwrap());
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let v = verify_regular(&p, same, &bl, false);
    assert_eq!(v.class, Class::Mismatch, "{v:?}");
    assert!(v.detail.contains("blob 2 of 2"), "{}", v.detail);
}

#[test]
fn verify_a_file_replaced_by_what_cannot_be_opened_is_changed_not_unreadable() {
    // A socket cannot be opened (ENXIO); its lstat shows the type changed.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    let d = data(10);
    std::fs::write(&p, &d).unwrap();
    let facts = facts_of(&p);
    std::fs::remove_file(&p).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(&p).unwrap();
    let bl = blobs(&d, &[10]);
    let v = verify_regular(&p, facts, &bl, false);
    assert_eq!(v.class, Class::Changed, "{v:?}");
    assert!(v.detail.contains("socket"), "{}", v.detail);
}
