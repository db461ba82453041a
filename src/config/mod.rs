//! TOML profiles: raw types (`raw`), value parsers (`value`), validation
//! (`validate`, with `validate_job` and `validate_notify`; a notifier's own keys check
//! themselves in `notify`) into a checked `Profile`
//! (`profile`), the table of every key and what it does (`keys`, the source of
//! restic-verify.toml(5)), and the command-line flags of `check`/`restore-test`,
//! which go through the same validation (`flags`), and the split of a profile's
//! repositories across hosts (`shard`). Below them all: what parsing may know of the
//! world (`env`) and the errors (`error`).
//!
//! Precedence: command line, then environment, then profile, where `[job.X]` beats
//! `[repository.Y]`, which beats `[defaults]`. Validation reports *every* problem it
//! finds, each with the file, line and column of the offending key, and the checked
//! `Profile` holds parsed durations, read-data specs and paths, so no later code
//! handles raw strings. Secrets are accepted only as files or commands, and their
//! `Debug` is redacted. Parsing is a pure function of the text and an explicit
//! `Env`; only `load` reads the profile file (and stats password files for a
//! warning). Nothing here writes.

mod env;
mod error;
pub mod flags;
pub mod keys;
pub mod profile;
pub mod raw;
pub mod shard;
pub mod starter;
mod validate;
mod validate_job;
mod validate_notify;
pub mod value;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::credentials::{password_file_warning, PasswordSource};
use validate::{Mode, Validator};

pub use env::Env;
pub use error::{Error, Problem};
pub use profile::{
    Job, JobKind, Outputs, Profile, Repository, DEFAULT_LOCK_WAIT, DEFAULT_MAX_CONCURRENT,
    DEFAULT_RETRIES, DEFAULT_TIMEOUT,
};
pub use shard::Shard;
pub use value::{
    compile_globs, expand_credentials_dir, metrics_file_name, parse_duration, parse_size,
    zfs_choice,
};

/// Where `run` and `validate` look for the profile when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/restic-verify/config.toml";

// ---------------------------------------------------------------- loading

/// Reads and validates a profile file.
///
/// # Errors
/// `Error::Read` when the file cannot be read, `Error::Invalid` with every problem otherwise.
pub fn load(path: &Path) -> Result<Profile, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut profile = parse(&text, path, &Env::from_process())?;
    warn_about_password_files(&mut profile);
    Ok(profile)
}

/// Validates the command-line flags of `check`/`restore-test` as a profile, with
/// this process's environment.
///
/// # Errors
/// `Error::Flags` with every problem, each naming its flag.
pub(crate) fn from_flags(flags: flags::FlagProfile) -> Result<Profile, Error> {
    let mut profile = flags::profile(flags, &Env::from_process())?;
    warn_about_password_files(&mut profile);
    Ok(profile)
}

/// Adds a warning for every password file that others can read.
fn warn_about_password_files(profile: &mut Profile) {
    for r in profile.repositories.values() {
        if let PasswordSource::File(p) = &r.password {
            profile.warnings.extend(password_file_warning(&r.name, p));
        }
    }
}

/// The I/O edge of parsing stays here, beside `load`.
impl Env {
    /// This process's environment, host name and clock.
    pub fn from_process() -> Env {
        Env {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY"),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            now: chrono::Local::now(),
        }
    }
}

/// Validates profile text as if it had been read from `path`.
///
/// # Errors
/// `Error::Invalid` listing every problem.
pub fn parse(text: &str, path: &Path, env: &Env) -> Result<Profile, Error> {
    let mut v = Validator {
        text,
        path,
        env,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        problems: Vec::new(),
        mode: Mode::Profile,
        job_keys: std::collections::BTreeMap::new(),
        fallback: None,
    };
    let read = match raw::read(text) {
        Ok(read) => read,
        Err(e) => {
            let message = toml_message(&e);
            v.problem(e.span(), message);
            return Err(v.into_error());
        }
    };
    for (e, path) in &read.errors {
        let message = foreign_notify_key(e, path, &read.notify_types)
            .unwrap_or_else(|| located_message(e, path));
        v.problem(e.span(), message);
    }
    v.job_keys = read.job_keys;
    let profile = read.raw.and_then(|raw| v.check(raw));
    // A mistyped or misspelt required key was reported as such: "has no `kind`"
    // would say it again.
    let echoes: Vec<(String, String)> = read
        .errors
        .iter()
        .filter_map(|(e, path)| {
            let (key, table) = path.split_last()?;
            let message = toml_message(e);
            let meant = message
                .split_once("did you mean `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map_or(key.as_str(), |(k, _)| k);
            let meant = if meant.starts_with("password-") {
                "password"
            } else {
                meant
            };
            Some((table.join("."), meant.to_owned()))
        })
        .collect();
    v.problems.retain(|p| !is_echo(&p.message, &echoes));
    match profile {
        Some(p) if v.problems.is_empty() => Ok(p),
        _ => Err(v.into_error()),
    }
}

/// Whether a "[TABLE] has no KEY" message repeats an error about that key in that
/// table (or in `[defaults]`, which every table inherits from).
fn is_echo(message: &str, echoes: &[(String, String)]) -> bool {
    let Some((table, rest)) = message
        .strip_prefix('[')
        .and_then(|m| m.split_once("] has no "))
    else {
        return false;
    };
    let missing = rest
        .split([';', ':'])
        .next()
        .unwrap_or_default()
        .trim_matches('`');
    echoes
        .iter()
        .any(|(t, k)| (t == table || t == "defaults") && k == missing)
}

/// For an unknown key in `[notify.NAME]` that another notifier type takes: that
/// this type does not use it.
fn foreign_notify_key(
    e: &toml::de::Error,
    path: &[String],
    types: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let [table, name, key] = path else {
        return None;
    };
    let ty = types.get(name).filter(|_| table == "notify")?;
    let notifier_key = keys::of(keys::Table::Notify).any(|k| k.name == key);
    (notifier_key && e.message().starts_with("unknown field"))
        .then(|| format!("[notify.{name}] (type {ty}) does not use `{key}`"))
}

/// A serde error's message; a mistyped value is named by its table and key.
fn located_message(e: &toml::de::Error, path: &[String]) -> String {
    let message = toml_message(e);
    match path.split_last() {
        Some((key, table)) if !message.starts_with("unknown key") => {
            let table = if table.is_empty() {
                String::new()
            } else {
                format!("[{}] ", table.join("."))
            };
            format!("{table}`{key}`: {message}")
        }
        _ => message,
    }
}

/// A toml error's message, with the nearest valid key suggested for an unknown one.
fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    // serde's wording: "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((unknown, expected)) = rest.split_once('`') {
            let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            let best = candidates
                .iter()
                .map(|c| (strsim::levenshtein(unknown, c), *c))
                .min();
            return match best {
                Some((d, c)) if d <= 3 || c.starts_with(unknown) || unknown.starts_with(c) => {
                    format!(
                        "unknown key `{unknown}`; did you mean `{c}`? (valid keys here: {})",
                        candidates.join(", ")
                    )
                }
                _ => format!(
                    "unknown key `{unknown}` (valid keys here: {})",
                    candidates.join(", ")
                ),
            };
        }
    }
    msg
}
