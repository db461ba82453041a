//! `restic-verify init`: writes a commented starter profile for a repository that
//! already exists, and nothing else.
//!
//! It reaches the repository like `check` does (the same flags, or restic's own
//! `RESTIC_REPOSITORY`/`RESTIC_PASSWORD_FILE`/`RESTIC_PASSWORD_COMMAND` when the
//! flags are absent), lists its snapshots and packs through the restic session,
//! looks on this host for each backup set's paths, and hands all that to the pure
//! `config::starter`. The profile is written whole through `state::atomic::replace`
//! (0600, never over an existing file without `--force`), then loaded back with the
//! real validator: a profile `init` wrote that does not validate is a bug, reported
//! as an error. The password itself is never read here or written anywhere; only
//! restic reads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::cli::{InitArgs, RepoArgs};
use crate::cmd::check::flag_profile;
use crate::config::flags::given;
use crate::config::raw::RawJob;
use crate::config::starter::{self, BackupSet, PasswordRef, PlannedJob, RepoSize, StarterInput};
use crate::config::{self, Repository};
use crate::credentials;
use crate::error::Error;
use crate::record::Report;
use crate::restic::{self, Restic, Session, SnapshotFilter};
use crate::runner::Context;
use crate::state::atomic::{self, Access};

/// restic's default pack size since 0.14, for backends whose pack sizes are unknown.
const DEFAULT_PACK_BYTES: u64 = 16 << 20;
/// How long listing snapshots and packs may take.
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The system paths the shipped units and docs use.
const DEFAULT_STATE_DIR: &str = "/var/lib/restic-verify";
const DEFAULT_RESULTS: &str = "/var/log/restic-verify/results.jsonl";
const DEFAULT_METRICS_DIR: &str = "/var/lib/prometheus/node-exporter";

/// Writes the starter profile and prints the next steps.
///
/// # Errors
/// The output exists (without `--force`) or cannot be written, no repository or a
/// URL with credentials was given, the repository cannot be read, or the written
/// profile does not validate.
pub async fn run(args: InitArgs, ctx: &Context) -> Result<Report, Error> {
    let out = absolute(&args.config);
    if !args.force && std::fs::symlink_metadata(&out).is_ok() {
        return Err(Error::Usage(format!(
            "{} exists; init never overwrites a profile: give --force to replace it, or write elsewhere with --config FILE",
            out.display()
        )));
    }
    let repo_args = with_restic_environment(args.repo.clone(), &restic_env())?;
    let profile = flag_profile(&repo_args, "init", check_job()).and_then(config::from_flags)?;
    // A flag profile holds exactly one repository.
    let Some(repo) = profile.repositories.values().next() else {
        return Err(Error::Usage("no repository given".into()));
    };
    if crate::secret::url_password(repo.url.expose()).is_some() {
        return Err(Error::Usage(format!(
            "the repository URL {} holds a password; init does not write credentials into a profile: give the URL without them and put the backend's credentials in an --env-file",
            repo.display_url()
        )));
    }
    let (sets, size) = survey(repo, &repo_args, ctx).await?;
    let input = starter_input(&repo_args, repo, sets, size);
    let plan = starter::render(&input);
    atomic::replace(&out, plan.text.as_bytes(), Access::Owner).map_err(|e| {
        Error::Usage(format!(
            "cannot write the profile {}: {e}; check that its directory exists and is writable",
            out.display()
        ))
    })?;
    tracing::info!("wrote the starter profile {}", out.display());
    let checked = config::load(&out).map_err(|e| {
        Error::Usage(format!(
            "the profile init wrote does not validate (a bug in restic-verify, please report it): {e}"
        ))
    })?;
    for w in &checked.warnings {
        tracing::warn!("{w}");
    }
    super::print_stdout(next_steps(&out, &plan.jobs).as_bytes());
    Ok(Report::default())
}

/// The check job the flag profile carries (only its repository is used).
fn check_job() -> RawJob {
    RawJob {
        kind: Some(given("check".to_owned())),
        ..RawJob::default()
    }
}

/// restic's own variables that `init` falls back to.
#[derive(Debug, Default)]
struct ResticEnv {
    repository: Option<String>,
    repository_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    /// `RESTIC_PASSWORD` is set (its value is never read).
    password_set: bool,
}

fn restic_env() -> ResticEnv {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    ResticEnv {
        repository: var("RESTIC_REPOSITORY").map(|v| v.to_string_lossy().into_owned()),
        repository_file: var("RESTIC_REPOSITORY_FILE").map(PathBuf::from),
        password_file: var("RESTIC_PASSWORD_FILE").map(PathBuf::from),
        password_command: var("RESTIC_PASSWORD_COMMAND").map(|v| v.to_string_lossy().into_owned()),
        password_set: var("RESTIC_PASSWORD").is_some(),
    }
}

/// Fills in what the flags left out from restic's environment, saying so.
fn with_restic_environment(mut a: RepoArgs, env: &ResticEnv) -> Result<RepoArgs, Error> {
    let mut used = Vec::new();
    if a.repo.is_none() && a.repo_file.is_none() {
        if let Some(url) = &env.repository {
            a.repo = Some(url.clone());
            used.push("RESTIC_REPOSITORY");
        } else if let Some(f) = &env.repository_file {
            a.repo_file = Some(f.clone());
            used.push("RESTIC_REPOSITORY_FILE");
        } else {
            return Err(Error::Usage(
                "no repository: give --repo, --repo-file FILE, RESTIC_VERIFY_REPOSITORY or restic's RESTIC_REPOSITORY"
                    .into(),
            ));
        }
    }
    let has_env_file = a.env_file.is_some();
    if a.password_file.is_none() && a.password_command.is_none() {
        if let Some(f) = &env.password_file {
            a.password_file = Some(f.clone());
            used.push("RESTIC_PASSWORD_FILE");
        } else if let Some(c) = &env.password_command {
            a.password_command = Some(c.clone());
            used.push("RESTIC_PASSWORD_COMMAND");
        } else if !has_env_file {
            let hint = if env.password_set {
                "RESTIC_PASSWORD is set, but a profile never holds a password: write it to a file (chmod 600) and give --password-file FILE"
            } else {
                "give --password-file FILE, --password-command CMD, or restic's RESTIC_PASSWORD_FILE"
            };
            return Err(Error::Usage(format!("no repository password: {hint}")));
        }
    }
    if !used.is_empty() {
        tracing::info!(
            "no {} flag given: using restic's {} from the environment",
            if used.iter().any(|u| u.starts_with("RESTIC_REPOSITORY")) {
                "repository"
            } else {
                "password"
            },
            used.join(" and ")
        );
    }
    Ok(a)
}

/// The repository's backup sets (with which paths are missing here) and its size.
async fn survey(
    repo: &Repository,
    a: &RepoArgs,
    ctx: &Context,
) -> Result<(Vec<BackupSet>, RepoSize), Error> {
    let creds = credentials::load(&credentials::Source {
        repository: &repo.name,
        url: &repo.url,
        password: &repo.password,
        env_file: repo.env_file.as_deref(),
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    let program = ctx
        .restic_override
        .clone()
        .unwrap_or_else(|| repo.restic.clone());
    let restic = Restic::detect(&program).await?;
    let cache = crate::restic::cache::Cache::create().map_err(|e| {
        Error::Usage(format!(
            "cannot create a throw-away restic cache in {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let session = Session {
        restic: &restic,
        repository: &repo.name,
        backend: &repo.backend,
        credentials: &creds,
        cache_dir: cache.path(),
        deadline: Instant::now() + TIMEOUT,
        timeout: TIMEOUT,
        cancel: ctx.cancel.clone(),
        lock_wait: repo.lock_wait,
        unlock_stale: false,
        retries: repo.retries,
        grace: ctx.grace,
        hurry: None::<CancellationToken>,
        host: &ctx.host,
    };
    let filter = SnapshotFilter {
        host: a.host.clone(),
        tag: a.tag.clone(),
        path: a.path.clone(),
    };
    let listed = session.snapshots(&filter).await?;
    for u in &listed.unreadable {
        tracing::warn!("snapshot not readable, left out: {u}");
    }
    let packs = session.list_packs().await?;
    Ok((backup_sets(&listed.snapshots), repo_size(&packs)))
}

/// Snapshots grouped by host + paths, newest time and which paths are missing here.
fn backup_sets(snapshots: &[restic::json::Snapshot]) -> Vec<BackupSet> {
    type Newest = chrono::DateTime<chrono::FixedOffset>;
    let mut groups: BTreeMap<(String, Vec<String>), (usize, Newest)> = BTreeMap::new();
    for s in snapshots {
        let e = groups.entry(s.backup_set()).or_insert((0, s.time));
        e.0 += 1;
        e.1 = e.1.max(s.time);
    }
    groups
        .into_iter()
        .map(|((host, paths), (snapshots, newest))| {
            let missing = paths
                .iter()
                .filter(|p| std::fs::symlink_metadata(p).is_err())
                .cloned()
                .collect();
            BackupSet {
                host,
                paths,
                snapshots,
                newest: newest.to_rfc3339(),
                missing,
            }
        })
        .collect()
}

/// The packs' total size: measured where every size is known, else estimated.
fn repo_size(packs: &[(String, Option<u64>)]) -> RepoSize {
    let known: Option<u64> = packs.iter().map(|(_, s)| *s).sum();
    match known {
        Some(bytes) => RepoSize {
            bytes,
            packs: packs.len(),
            estimated: false,
        },
        None => RepoSize {
            bytes: DEFAULT_PACK_BYTES.saturating_mul(packs.len() as u64),
            packs: packs.len(),
            estimated: true,
        },
    }
}

fn starter_input(
    a: &RepoArgs,
    repo: &Repository,
    sets: Vec<BackupSet>,
    size: RepoSize,
) -> StarterInput {
    let text = |p: &Path| absolute(p).to_string_lossy().into_owned();
    let password = match (&a.password_file, &a.password_command) {
        (Some(f), _) => PasswordRef::File(text(f)),
        (None, Some(c)) => PasswordRef::Command(c.clone()),
        (None, None) => PasswordRef::None,
    };
    StarterInput {
        repository_name: repo.name.clone(),
        url: repo.url.expose().to_owned(),
        password,
        env_file: a.env_file.as_deref().map(text),
        restic: a.restic.restic.as_deref().map(text),
        options: a.options.clone(),
        state_dir: a
            .state_dir
            .as_deref()
            .map_or(DEFAULT_STATE_DIR.into(), text),
        results: a.results.as_deref().map_or(DEFAULT_RESULTS.into(), text),
        metrics_dir: a
            .metrics
            .as_deref()
            .map_or(DEFAULT_METRICS_DIR.into(), text),
        size,
        sets,
    }
}

/// A path made absolute against the working directory (a profile's relative paths
/// are relative to the profile's directory, not to where `init` ran).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What to do next: validate, then the timers of the jobs written (or the daemon).
fn next_steps(out: &Path, jobs: &[PlannedJob]) -> String {
    let shown = crate::escape::text(&out.to_string_lossy()).into_owned();
    let mut s = format!(
        "Wrote {shown}. Next steps:\n  1. Read it and adjust it; then check it (touches nothing):\n       restic-verify validate --config {shown}\n  2. Try each job once:\n"
    );
    let enabled: Vec<&PlannedJob> = jobs.iter().filter(|j| j.enabled).collect();
    for j in &enabled {
        s.push_str(&format!(
            "       restic-verify run --config {shown} {}\n",
            j.name
        ));
    }
    s.push_str("  3. Schedule them with the systemd timers (the units read /etc/restic-verify/config.toml):\n");
    for j in &enabled {
        s.push_str(&format!(
            "       systemctl enable --now restic-verify-{}@{}.timer\n",
            j.kind, j.name
        ));
    }
    s.push_str("     or with one long-running daemon that follows each job's `schedule`:\n       systemctl enable --now restic-verify.service\n");
    let off: Vec<&str> = jobs
        .iter()
        .filter(|j| !j.enabled)
        .map(|j| j.name.as_str())
        .collect();
    if !off.is_empty() {
        s.push_str(&format!(
            "  Commented out in the profile (see why there): {}\n",
            off.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn repo_args(argv: &[&str]) -> RepoArgs {
        let mut full = vec!["restic-verify", "init"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).map(|c| c.command) {
            Ok(Command::Init(a)) => a.repo,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn init_parses_without_repo_flags() {
        let a = repo_args(&[]);
        assert_eq!((a.repo, a.password_file), (None, None));
    }

    #[test]
    fn with_restic_environment_flags_beat_the_environment() {
        let env = ResticEnv {
            repository: Some("/env/repo".into()),
            password_file: Some("/env/pw".into()),
            ..ResticEnv::default()
        };
        let a = with_restic_environment(
            repo_args(&["--repo", "/flag/repo", "--password-command", "pass x"]),
            &env,
        )
        .expect("args");
        assert_eq!(a.repo.as_deref(), Some("/flag/repo"));
        assert_eq!(a.password_file, None);
        assert_eq!(a.password_command.as_deref(), Some("pass x"));
    }

    #[test]
    fn with_restic_environment_password_only_in_restic_password_is_refused() {
        let env = ResticEnv {
            repository: Some("/env/repo".into()),
            password_set: true,
            ..ResticEnv::default()
        };
        let e = with_restic_environment(repo_args(&[]), &env)
            .expect_err("no password reference")
            .to_string();
        assert!(e.contains("never holds a password"), "{e}");
        assert!(e.contains("--password-file"), "{e}");
    }

    #[test]
    fn with_restic_environment_without_any_repository_names_every_way() {
        let e = with_restic_environment(repo_args(&[]), &ResticEnv::default())
            .expect_err("no repository")
            .to_string();
        assert!(
            e.contains("--repo") && e.contains("RESTIC_REPOSITORY"),
            "{e}"
        );
    }
}
