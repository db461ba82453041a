//! Which results files and state directories `status` and `report` read: the
//! `--results` files, and every job's `results` and `state-dir` of the profile.
//!
//! A `--results` file must exist (it was named on purpose); a profile's results file
//! that does not exist yet only means that job has not run, so it is read as empty.

use std::path::PathBuf;

use crate::cli::HistoryArgs;
use crate::config;
use crate::error::Error;
use crate::view::{self, status::Latest};

/// One results file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    /// Named with --results: a missing file is an error.
    pub required: bool,
}

/// A job × repository of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub job: String,
    pub kind: String,
    pub repository: String,
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub files: Vec<Input>,
    pub expected: Vec<Expected>,
}

impl Inputs {
    /// Seeds `latest` with the profile's job × repository pairs and their state.
    pub fn expect_into(&self, latest: &mut Latest) {
        for x in &self.expected {
            let state = match &x.state_dir {
                Some(dir) => view::read_state(dir, &x.job, &x.repository).unwrap_or_else(|e| {
                    tracing::warn!("{e}");
                    None
                }),
                None => None,
            };
            latest.expect(&x.job, &x.kind, &x.repository, state);
        }
    }
}

/// The inputs the arguments name.
///
/// # Errors
/// The profile cannot be loaded, or names no results file and no --results is given.
pub fn resolve(a: &HistoryArgs) -> Result<Inputs, Error> {
    let mut inputs = Inputs {
        files: a
            .results
            .iter()
            .map(|p| Input {
                path: p.clone(),
                required: true,
            })
            .collect(),
        expected: Vec::new(),
    };
    let profile_path = match (&a.config, a.results.is_empty()) {
        (Some(p), _) => p.clone(),
        (None, true) => PathBuf::from(config::DEFAULT_CONFIG_PATH),
        (None, false) => return Ok(inputs),
    };
    let profile = config::load(&profile_path)?;
    for job in &profile.jobs {
        if let Some(path) = &job.outputs.results {
            if !inputs.files.iter().any(|f| &f.path == path) {
                inputs.files.push(Input {
                    path: path.clone(),
                    required: false,
                });
            }
        }
        for repository in &job.repositories {
            inputs.expected.push(Expected {
                job: job.name.clone(),
                kind: job.kind.name().to_owned(),
                repository: repository.clone(),
                state_dir: job.outputs.state_dir.clone(),
            });
        }
    }
    if inputs.files.is_empty() {
        return Err(Error::Usage(format!(
            "profile {} sets no `results` file for any job, so there is no history to read; set `results` or pass --results FILE",
            profile_path.display()
        )));
    }
    Ok(inputs)
}

/// Reads `input` with `read`, treating a profile's results file that does not
/// exist yet as empty (with a note).
///
/// # Errors
/// A --results file is missing, or any file cannot be read.
pub fn read_one(
    input: &Input,
    limit: Option<u64>,
    warn: bool,
    visit: &mut dyn FnMut(view::Entry),
) -> Result<Option<view::ReadStats>, Error> {
    match view::read(&input.path, limit, warn, visit) {
        Ok(stats) => Ok(Some(stats)),
        Err(view::Error::Missing { path }) if !input.required => {
            if warn {
                tracing::info!(
                    "results file {} does not exist yet: no run of its jobs recorded",
                    path.display()
                );
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
