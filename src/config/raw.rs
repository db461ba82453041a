//! The profile as TOML has it (`deny_unknown_fields`, spans kept for messages).
//!
//! `[defaults]` and `[job.X]` share most keys: one macro declares the shared keys
//! once and generates both tables, each with its own extra keys, so that a key
//! added for jobs is at once inheritable from `[defaults]` (serde's `flatten`
//! cannot be combined with `deny_unknown_fields`, which gives the "did you mean"
//! errors).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

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

/// `[notify.NAME]`: which keys apply depends on `type`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct RawNotify {
    pub(crate) r#type: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) url_file: Option<Spanned<String>>,
    pub(crate) states: Option<Spanned<Vec<String>>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) smtp_host: Option<Spanned<String>>,
    pub(crate) smtp_port: Option<u16>,
    pub(crate) tls: Option<Spanned<String>>,
    pub(crate) from: Option<Spanned<String>>,
    pub(crate) to: Option<OneOrMany>,
    pub(crate) username: Option<String>,
    pub(crate) password_file: Option<Spanned<String>>,
    pub(crate) ca_file: Option<Spanned<String>>,
    pub(crate) token_file: Option<Spanned<String>>,
    pub(crate) instance: Option<Spanned<String>>,
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
    /// `[defaults]`: every job key, the inheritable repository keys, and
    /// `max-concurrent`.
    RawDefaults {
        max_concurrent: Option<Spanned<usize>>,
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
