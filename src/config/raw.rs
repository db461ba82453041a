//! The profile as TOML has it (`deny_unknown_fields`, spans kept for messages).
//!
//! `[defaults]` and `[job.X]` share most keys: one macro declares the shared keys
//! once and generates both tables, each with its own extra keys, so that a key
//! added for jobs is at once inheritable from `[defaults]` (serde's `flatten`
//! cannot be combined with `deny_unknown_fields`, which gives the "did you mean"
//! errors).
//!
//! `read` collects every unknown key and mistyped value of a file, not only the
//! first: it parses the document once (spans kept), and after each serde error
//! drops the entry the error points into and deserializes again.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::notify::Settings;

/// A profile's text as raw tables, with every serde error it holds.
#[derive(Debug)]
pub(crate) struct Read {
    /// `None` when an error could not be located (nothing left to drop).
    pub(crate) raw: Option<RawFile>,
    /// Every unknown key and mistyped value, with the path of the entry it points
    /// into (dropped before the next round).
    pub(crate) errors: Vec<(toml::de::Error, Vec<String>)>,
    /// The keys each `[job.NAME]` sets, with their spans (for kind/key checks).
    pub(crate) job_keys: BTreeMap<String, Vec<(String, Range<usize>)>>,
    /// The type of each `[notify.NAME]` whose `type` names a notifier.
    pub(crate) notify_types: BTreeMap<String, String>,
}

/// Reads profile text into raw tables, collecting every serde error.
///
/// # Errors
/// A TOML syntax error (parsing stops there).
pub(crate) fn read(text: &str) -> Result<Read, toml::de::Error> {
    let mut doc = DeTable::parse(text)?;
    let job_keys = job_keys(doc.get_ref());
    let notify_types = move_under_type(doc.get_mut());
    let mut errors = Vec::new();
    // Each round drops one entry, so this ends.
    loop {
        match RawFile::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(raw) => {
                return Ok(Read {
                    raw: Some(raw),
                    errors,
                    job_keys,
                    notify_types,
                })
            }
            Err(e) => {
                let dropped = e
                    .span()
                    .and_then(|s| drop_entry_at(doc.get_mut(), s.start))
                    .map(unmove);
                let found = dropped.is_some();
                errors.push((e, dropped.unwrap_or_default()));
                if !found {
                    return Ok(Read {
                        raw: None,
                        errors,
                        job_keys,
                        notify_types,
                    });
                }
            }
        }
    }
}

/// Drops the innermost entry whose key or value holds byte `at`; its key path.
fn drop_entry_at(table: &mut DeTable<'_>, at: usize) -> Option<Vec<String>> {
    for (k, v) in table.iter_mut() {
        if let DeValue::Table(t) = v.get_mut() {
            if let Some(mut path) = drop_entry_at(t, at) {
                path.insert(0, k.get_ref().to_string());
                return Some(path);
            }
        }
    }
    let hit = table
        .iter()
        .find(|(k, v)| k.span().contains(&at) || v.span().contains(&at))
        .map(|(k, _)| k.get_ref().to_string())?;
    table.remove(hit.as_str())?;
    Some(vec![hit])
}

/// Moves the keys of each `[notify.NAME]` table whose `type` names a notifier
/// under `settings.<type>` (see `RawNotify`); of a table without a known type it
/// keeps only `type`, which the validator reports (which keys would be valid is
/// unknown). Returns each moved table's type.
fn move_under_type(doc: &mut DeTable<'_>) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    let Some(DeValue::Table(notify)) = doc.get_mut("notify").map(Spanned::get_mut) else {
        return types;
    };
    for (name, table) in notify.iter_mut() {
        let span = table.span();
        let DeValue::Table(t) = table.get_mut() else {
            continue;
        };
        let known = t.get("type").and_then(|v| match v.get_ref() {
            DeValue::String(s) if Settings::TYPES.contains(&s.as_ref()) => Some(s.to_string()),
            _ => None,
        });
        let Some(ty) = known else {
            let kept = t.remove_entry("type");
            *t = DeTable::new();
            t.extend(kept);
            continue;
        };
        let mut keys = DeTable::new();
        let mut outer = DeTable::new();
        for (k, v) in std::mem::take(t) {
            if k.get_ref() == "type" {
                outer.insert(k, v);
            } else {
                keys.insert(k, v);
            }
        }
        let mut by_type = DeTable::new();
        by_type.insert(
            Spanned::new(span.start..span.start, ty.clone().into()),
            Spanned::new(span.clone(), DeValue::Table(keys)),
        );
        outer.insert(
            Spanned::new(span.start..span.start, "settings".into()),
            Spanned::new(span.clone(), DeValue::Table(by_type)),
        );
        *t = outer;
        types.insert(name.get_ref().to_string(), ty);
    }
    types
}

/// A path `drop_entry_at` found, as the user wrote it: without the
/// `settings.<type>` that `move_under_type` added.
fn unmove(mut path: Vec<String>) -> Vec<String> {
    if path.len() >= 4 && path[0] == "notify" && path[2] == "settings" {
        path.drain(2..4);
    }
    path
}

/// The keys of every `[job.NAME]` table, with their spans.
fn job_keys(doc: &DeTable<'_>) -> BTreeMap<String, Vec<(String, Range<usize>)>> {
    let mut out = BTreeMap::new();
    let jobs = doc.iter().find(|(k, _)| k.get_ref() == "job");
    if let Some((_, jobs)) = jobs {
        if let DeValue::Table(jobs) = jobs.get_ref() {
            for (name, job) in jobs {
                if let DeValue::Table(job) = job.get_ref() {
                    let keys = job
                        .iter()
                        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
                        .collect();
                    out.insert(name.get_ref().to_string(), keys);
                }
            }
        }
    }
    out
}

/// A string or a list of strings (`host = "a"` or `host = ["a", "b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub(crate) defaults: RawDefaults,
    #[serde(default)]
    pub(crate) repository: BTreeMap<String, Spanned<RawRepository>>,
    #[serde(default)]
    pub(crate) job: BTreeMap<String, Spanned<RawJob>>,
    #[serde(default)]
    pub(crate) notify: BTreeMap<String, Spanned<RawNotify>>,
}

/// `[notify.NAME]`: `type` picks the keys that apply (`notify::Settings`, one
/// struct per type, each refusing the keys of others). `read` moves every other
/// key of the table under `settings.<type>` (`move_under_type`), so that serde reads
/// them as an enum tagged by its key, spans kept: an internally tagged enum
/// (`#[serde(tag = "type")]`) would buffer the table and lose every span.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    pub(crate) r#type: Option<Spanned<String>>,
    pub(crate) settings: Option<Settings>,
}

/// `[repository.NAME]`: how to reach a repository (all but `url` inheritable from
/// `[defaults]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct RawRepository {
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) password_file: Option<Spanned<String>>,
    pub(crate) password_command: Option<Spanned<String>>,
    pub(crate) env_file: Option<Spanned<String>>,
    pub(crate) restic: Option<Spanned<String>>,
    pub(crate) lock_wait: Option<Spanned<String>>,
    pub(crate) unlock_stale: Option<bool>,
    pub(crate) retries: Option<u32>,
    pub(crate) options: Option<Spanned<Vec<String>>>,
    pub(crate) limit_download: Option<Spanned<i64>>,
}

/// Keys of a job, inheritable from `[defaults]`.
macro_rules! job_keys {
    ($(#[$m:meta])* $name:ident { $($extra:ident: $et:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Default, Clone, Deserialize)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        pub(crate) struct $name {
            $(pub(crate) $extra: $et,)*
            pub(crate) notify: Option<Spanned<Vec<String>>>,
            pub(crate) jitter: Option<Spanned<String>>,
            pub(crate) lock_wait: Option<Spanned<String>>,
            pub(crate) results: Option<Spanned<String>>,
            pub(crate) metrics_dir: Option<Spanned<String>>,
            pub(crate) state_dir: Option<Spanned<String>>,
            pub(crate) timeout: Option<Spanned<String>>,
            pub(crate) max_age: Option<Spanned<String>>,
            pub(crate) min_snapshots: Option<u32>,
            pub(crate) read_data: Option<bool>,
            pub(crate) read_data_subset: Option<Spanned<String>>,
            pub(crate) read_budget: Option<Spanned<String>>,
            pub(crate) outdated_after: Option<Spanned<String>>,
            pub(crate) host: Option<OneOrMany>,
            pub(crate) tag: Option<OneOrMany>,
            pub(crate) path: Option<OneOrMany>,
            pub(crate) sample: Option<usize>,
            pub(crate) sample_percent: Option<f64>,
            pub(crate) full: Option<bool>,
            pub(crate) min_verified: Option<usize>,
            pub(crate) sample_by: Option<Spanned<String>>,
            pub(crate) max_bytes: Option<Spanned<String>>,
            pub(crate) min_size: Option<Spanned<String>>,
            pub(crate) max_size: Option<Spanned<String>>,
            pub(crate) include: Option<Vec<String>>,
            pub(crate) exclude: Option<Vec<String>>,
            pub(crate) always: Option<Vec<String>>,
            pub(crate) test_dir: Option<Spanned<String>>,
            pub(crate) keep: Option<bool>,
            pub(crate) map: Option<Vec<Spanned<String>>>,
            pub(crate) snapshot: Option<String>,
            pub(crate) seed: Option<u64>,
            pub(crate) verbose_results: Option<bool>,
            pub(crate) source: Option<Spanned<String>>,
            pub(crate) zfs_dataset: Option<String>,
            pub(crate) zfs_snapshot: Option<String>,
            pub(crate) zfs_snapshot_tag: Option<String>,
            pub(crate) backup_excludes: Option<Vec<String>>,
            pub(crate) max_listed: Option<usize>,
        }
    };
}

job_keys!(
    /// `[job.NAME]`.
    RawJob {
        kind: Option<Spanned<String>>,
        schedule: Option<Spanned<String>>,
        repositories: Option<Spanned<Vec<String>>>,
    }
);

job_keys!(
    /// `[defaults]`: every job key, the inheritable repository keys,
    /// `max-concurrent` and `shard`.
    RawDefaults {
        max_concurrent: Option<Spanned<usize>>,
        shard: Option<Spanned<String>>,
        password_file: Option<Spanned<String>>,
        password_command: Option<Spanned<String>>,
        env_file: Option<Spanned<String>>,
        restic: Option<Spanned<String>>,
        unlock_stale: Option<bool>,
        retries: Option<u32>,
        options: Option<Spanned<Vec<String>>>,
        limit_download: Option<Spanned<i64>>,
    }
);
