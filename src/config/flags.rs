//! The command-line flags of `check` and `restore-test` as a profile: the command
//! fills the same raw tables a profile file has (`[repository.NAME]`, `[job.NAME]`)
//! and they go through the same validation, so a flag and its profile key accept
//! and refuse the same values (messages name the flag: `--max-age: …`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::env::Env;
use super::error::Error;
use super::profile::Profile;
use super::raw::{RawFile, RawJob, RawRepository};
use super::validate::{Mode, Validator};

/// A one-repository, one-job profile, as the flags give it.
#[derive(Debug, Default)]
pub(crate) struct FlagProfile {
    pub(crate) repository_name: String,
    pub(crate) repository: RawRepository,
    pub(crate) job_name: String,
    pub(crate) job: RawJob,
    /// `--metrics FILE` (a profile names a directory instead).
    pub(crate) metrics_file: Option<PathBuf>,
}

/// A value given on the command line (flags have no position in a file).
pub fn given<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// Validates the flags into a profile.
///
/// # Errors
/// `Error::Flags` with every problem, one per line, each naming its flag.
pub(crate) fn profile(flags: FlagProfile, env: &Env) -> Result<Profile, Error> {
    let mut job = flags.job;
    job.repositories = Some(given(vec![flags.repository_name.clone()]));
    let raw = RawFile {
        repository: BTreeMap::from([(flags.repository_name, given(flags.repository))]),
        job: BTreeMap::from([(flags.job_name, given(job))]),
        ..RawFile::default()
    };
    let mut v = Validator {
        text: "",
        path: Path::new("command line"),
        env,
        base: PathBuf::new(),
        problems: Vec::new(),
        mode: Mode::Flags,
        job_keys: BTreeMap::new(),
        fallback: None,
    };
    let profile = v.check(raw);
    match profile {
        Some(mut p) if v.problems.is_empty() => {
            p.source = None;
            for j in &mut p.jobs {
                j.outputs.metrics.clone_from(&flags.metrics_file);
            }
            Ok(p)
        }
        _ => Err(v.into_error()),
    }
}
