//! Replacing a file whole: the one atomic write that every writer replacing a file
//! uses (job state, pack ledger, Prometheus textfiles, the HTML report). It owns no
//! file of its own and decides nothing about what is written or where.
//!
//! A temp file is created in the target's directory (`O_CREAT|O_EXCL` under a
//! random name, so never through a link planted there), given its mode with
//! `fchmod` (the umask neither widens nor narrows it), written, fsynced, renamed
//! over the target and the directory fsynced: a reader or a crash sees the old
//! file or the new one, never half of one. `rename(2)` replaces a symbolic link at
//! the target instead of following it; symbolic links among the directories of the
//! path (a directory the operator configured as a link) are followed as usual.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Who may read a replaced file. Nobody else than its owner and group ever can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// 0600: the tool's own files (job state, pack ledger).
    Owner,
    /// 0640, group of the directory: files another service reads (node_exporter
    /// reads textfiles, a web server the report) when it is in the directory's
    /// group. A setgid directory gives new files its group by itself; otherwise
    /// the group is set with `fchown`, which needs root or membership.
    DirGroup,
}

impl Access {
    pub fn mode(self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::DirGroup => 0o640,
        }
    }
}

/// The directory a file is written in (`.` for a bare file name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `content` atomically, readable as `access` says.
///
/// # Errors
/// The directory is missing or not writable, the disk is full, or the rename or
/// a sync fails; the target is then left as it was.
pub fn replace(path: &Path, content: &[u8], access: Access) -> std::io::Result<()> {
    let dir = dir_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".restic-verify-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    if access == Access::DirGroup {
        give_dir_group(tmp.as_file(), dir, path)?;
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(access.mode()))?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the directory is.
    File::open(dir)?.sync_all()
}

/// Gives `file` the group of `dir` unless it already has it (setgid directory).
fn give_dir_group(file: &File, dir: &Path, path: &Path) -> std::io::Result<()> {
    let want = std::fs::metadata(dir)?.gid();
    if file.metadata()?.gid() == want {
        return Ok(());
    }
    let gid = nix::unistd::Gid::from_raw(want);
    if let Err(e) = nix::unistd::fchown(file, None, Some(gid)) {
        // Still 0640 of our own group: nothing is widened, a reader may be shut out.
        tracing::warn!(
            "{}: cannot give it the group of {} (gid {want}): {e}; readers in that group (node_exporter) cannot read it: make the directory setgid (chmod g+s) or run as a member of the group",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[rstest::rstest]
    #[case(Access::Owner, 0o600)]
    #[case(Access::DirGroup, 0o640)]
    fn replace_sets_the_mode_whatever_the_old_file_had(#[case] access: Access, #[case] want: u32) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, "old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        replace(&p, b"new", access).expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        assert_eq!(mode(&p), want);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn replace_a_link_replaces_the_link_and_leaves_its_target_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").expect("write");
        let link = dir.path().join("link");
        symlink(&target, &link).expect("symlink");
        replace(&link, b"new", Access::DirGroup).expect("replace");
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
        assert!(!std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&link).expect("read"), b"new");
        // A dangling link: replaced, its target not created.
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("absent"), &dangling).expect("symlink");
        replace(&dangling, b"x", Access::Owner).expect("replace");
        assert!(!dir.path().join("absent").exists());
    }

    #[test]
    fn replace_through_a_linked_directory_writes_into_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        symlink(&real, dir.path().join("via")).expect("symlink");
        replace(&dir.path().join("via/f"), b"x", Access::Owner).expect("replace");
        assert_eq!(std::fs::read(real.join("f")).expect("read"), b"x");
    }

    #[test]
    fn replace_gives_the_file_the_group_of_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Tests run as root (CI); a group the process is not in shows the fchown.
        let gid = 4242;
        nix::unistd::chown(dir.path(), None, Some(nix::unistd::Gid::from_raw(gid))).expect("chown");
        let p = dir.path().join("m.prom");
        replace(&p, b"a 1\n", Access::DirGroup).expect("replace");
        assert_eq!(std::fs::metadata(&p).expect("stat").gid(), gid);
        replace(&p, b"a 1\n", Access::Owner).expect("replace");
        assert_ne!(std::fs::metadata(&p).expect("stat").gid(), gid);
    }

    #[test]
    fn replace_into_a_missing_directory_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = replace(&dir.path().join("no/f"), b"x", Access::Owner).expect_err("missing");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
