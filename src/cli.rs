//! clap derive types: `Cli`, `Command`, one `*Args` per subcommand. No logic.
//!
//! Doc comments here are the user documentation: clap turns them into `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0    every job ran and passed
  1    verification failed: damage found, snapshots too old or too few
  2    usage or configuration error
  3    could not verify: restic missing, repository missing, wrong password,
       lock held, network failure, timeout
  130  interrupted (SIGINT/SIGTERM)
When several jobs end differently the most serious wins: 1, then 130, 2, 3, 0.";

/// Verifies that restic backups can really be restored.
///
/// Runs `restic check` (with a rotating `--read-data-subset`), checks that snapshots
/// are fresh and numerous enough, and writes one JSON line per run and Prometheus
/// textfile metrics. A run says pass only when it really verified.
#[derive(Debug, Parser)]
#[command(name = "restic-verify", version, args_override_self = true, after_long_help = EXIT_CODES, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output: -v for debug, -vv for trace (RESTIC_VERIFY_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Machine-readable output on stdout: `run`, `check`, `restore-test`, `audit` and
    /// `drill` print each run's record (the JSONL line) one per line, `validate` the
    /// checked plan or its problems, `status` its rows; no text on stdout (logs and
    /// the run summaries stay on stderr). Exit codes are unchanged.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check one repository now, configured by flags (no profile needed).
    Check(Box<CheckArgs>),
    /// Restore a random sample of files from the newest snapshot and compare them with
    /// the live source (no profile needed).
    RestoreTest(Box<RestoreTestArgs>),
    /// Compare EVERY file of a snapshot with its source without restoring (the
    /// repository is read in process: only the index and the tree blobs, no lock,
    /// no cache). Finds bit rot (`mismatch`), files the backup could not read
    /// (`not_in_backup`) and damaged trees; changed, deleted and new files are not
    /// failures (with `--source zfs` every difference is). Backends: local paths,
    /// `rest:`, `rclone:`, `s3:`, `azure:`, `gs:`, `swift:` (credentials from
    /// --env-file, as restic reads them).
    Audit(Box<AuditArgs>),
    /// Run jobs of a profile once (all when none are named); what a systemd timer calls.
    Run(RunArgs),
    /// Run every job of a profile on its `schedule`, until SIGTERM/SIGINT.
    ///
    /// SIGHUP reloads the profile (a bad one is reported and the running one kept);
    /// SIGUSR1 runs every job now; SIGTERM/SIGINT stop restic cleanly, write what was
    /// cut short, and exit 0. A run missed while the daemon was down is started once
    /// at start-up (needs `state-dir`).
    Daemon(DaemonArgs),
    /// Load and validate a profile, print the plan and the next fire times; touches
    /// no repository.
    Validate(ValidateArgs),
    /// Where every job stands on every repository, from the results files: latest
    /// outcome, last pass, snapshot age, check coverage, last restore test.
    ///
    /// Exit code: 1 when any latest outcome is `fail`, 3 when any is `error` (or a job
    /// never ran), else 0, so `if restic-verify status; then ...` works in a script.
    Status(StatusArgs),
    /// Write a self-contained HTML report of the results (timeline of verdicts, check
    /// coverage, restore throughput and RTO charts, every damage finding); one file,
    /// no external resources, printable. With a profile (--config) it lists every
    /// job of the profile, including those that never ran.
    ///
    /// Exit code: 3 when a job of the profile never ran (as `status`) or there is no
    /// run at all, else 0; 2 and 3 also for unreadable inputs or output.
    Report(ReportArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Print a man page (roff) to stdout: `restic-verify man | man -l -`.
    Man(ManArgs),
    /// Fire drill: run a job of the profile with one comparison deliberately
    /// falsified, so that its alerts go out end to end (exit 1).
    ///
    /// The job runs for real (restic only reads the repository, the source is only
    /// read); then a restore test treats one matching file's expected hash as
    /// different, a check gets one synthetic damage finding. The JSONL record and the
    /// finding carry `"drill": true`, every notification says DRILL, and metrics go
    /// to `<job>.drill.prom` (`restic_verify_drill`), never to the job's own series.
    /// No state is saved.
    Drill(DrillArgs),
    /// Write a commented starter profile for an existing repository: a check with a
    /// rotation sized to the repository, and an audit and a monthly restore test per
    /// backup set (host + paths) whose sources exist on this host; then validate it
    /// and print the next steps. Writes only the profile (0600, never over an
    /// existing file without --force). Without --repo/--password-file, restic's own
    /// RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE (or _COMMAND) are used.
    #[command(
        mut_arg("repo", |a| a.required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)),
        mut_arg("metrics", |a| a
            .value_name("DIR")
            .help("node_exporter's textfile directory for the profile's `metrics-dir` [default: /var/lib/prometheus/node-exporter]")),
        mut_arg("results", |a| a
            .help("The profile's JSONL results file [default: /var/log/restic-verify/results.jsonl]")),
        mut_arg("state_dir", |a| a
            .help("The profile's state directory [default: /var/lib/restic-verify]")),
    )]
    Init(Box<InitArgs>),
}

/// Settings shared by every command that calls restic.
#[derive(Debug, Clone, Args)]
pub struct ResticArgs {
    /// The restic binary [default: `restic` on PATH, or the profile's `restic`].
    #[arg(long, env = "RESTIC_VERIFY_RESTIC", value_name = "PATH")]
    pub restic: Option<PathBuf>,
}

/// How to reach one repository, and where its results go: shared by `check` and
/// `restore-test`.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Repository path or URL, as restic takes it (passed to restic in its
    /// environment, never on its command line). A URL with credentials
    /// (`rest:https://user:pw@host/`) belongs in --repo-file or
    /// RESTIC_VERIFY_REPOSITORY, not here: argv is visible to every user.
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        env = "RESTIC_VERIFY_REPOSITORY",
        hide_env_values = true,
        required_unless_present = "repo_file",
        conflicts_with = "repo_file"
    )]
    pub repo: Option<String>,
    /// File whose first line is the repository path or URL (keeps a URL with
    /// credentials out of the process list).
    #[arg(long, value_name = "FILE")]
    pub repo_file: Option<PathBuf>,
    /// Name used for the repository in results and metrics [default: the last path
    /// component of --repo].
    #[arg(long)]
    pub name: Option<String>,
    /// File holding the repository password.
    #[arg(long, value_name = "FILE", conflicts_with = "password_command")]
    pub password_file: Option<PathBuf>,
    /// Command that prints the repository password.
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,
    /// KEY=VALUE lines passed to restic's environment only (backend credentials).
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Only snapshots of this host (repeatable).
    #[arg(long)]
    pub host: Vec<String>,
    /// Only snapshots with this tag (repeatable; `a,b` means both).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only snapshots of this path (repeatable).
    #[arg(long)]
    pub path: Vec<String>,
    /// How long a locked repository is retried; `0s` fails at once.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub lock_wait: String,
    /// Remove a stale lock (dead process on this host, or older than 30 minutes)
    /// with `restic unlock` instead of reporting it.
    #[arg(long)]
    pub unlock_stale: bool,
    /// A restic backend option `KEY=VALUE`, passed as `-o KEY=VALUE` to every restic
    /// call (repeatable), e.g. `sftp.command=ssh -p 2222 -i KEY nas -s sftp`. It lands
    /// on restic's command line: no secrets (those go in --env-file).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Limit restic's downloads to this many KiB/s (`restic --limit-download`); 0: no
    /// limit.
    #[arg(long, value_name = "KIB")]
    pub limit_download: Option<u64>,
    /// How often a network failure is retried.
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_RETRIES)]
    pub retries: u32,
    /// Stop restic (SIGINT, then SIGKILL) after this long.
    #[arg(long, value_name = "DURATION", default_value = "12h")]
    pub timeout: String,
    /// Append one JSON line per run to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub results: Option<PathBuf>,
    /// Write Prometheus textfile metrics here (atomically).
    #[arg(long, value_name = "FILE.prom")]
    pub metrics: Option<PathBuf>,
    /// Directory for persistent state (rotation cursor, last success).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub restic: ResticArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Job name used in results and metrics.
    #[arg(long, default_value = "check")]
    pub job: String,
    /// Read all pack data (`restic check --read-data`).
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read part of the pack data: `n/t`, `x%`, a size (`500M`), `rotate/T` (group
    /// k/T this run, the next group next run; needs --state-dir), `new` (restic's
    /// structural check and, at the same time, every pack the ledger in --state-dir has never seen
    /// read, read in process, oldest first, up to --read-budget) or `new+rotate/T`
    /// (the same, with restic reading rotation group k/T of the others).
    #[arg(long, value_name = "SPEC")]
    pub read_data_subset: Option<String>,
    /// Fail when the newest snapshot of a backup set (host + paths) is older than this.
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Fail when fewer snapshots match.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_snapshots: u32,
    /// Read about this many bytes of pack data per run (e.g. `5G`), choosing the
    /// packs that have waited longest since a check last read them (the pack ledger
    /// in --state-dir); replaces --read-data/--read-data-subset, except with
    /// `--read-data-subset new`, whose in-process read it caps (oldest packs first).
    #[arg(long, value_name = "SIZE", conflicts_with = "read_data")]
    pub read_budget: Option<String>,
    /// Fail when any pack has gone unread by a completed check for longer than this
    /// (e.g. `35d`; needs --state-dir).
    #[arg(long, value_name = "DURATION")]
    pub outdated_after: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreTestArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Job name used in results and metrics.
    #[arg(long, default_value = "restore-test")]
    pub job: String,
    /// Snapshot to test: an ID, or `latest` (the newest matching --host/--tag/--path).
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Number of regular files to sample.
    #[arg(long, value_name = "N", default_value_t = crate::restore_test::DEFAULT_SAMPLE, conflicts_with = "sample_percent")]
    pub sample: usize,
    /// Sample this percentage of the files instead of a fixed number (100: a full
    /// drill, as --full).
    #[arg(long, value_name = "X")]
    pub sample_percent: Option<f64>,
    /// A full restore drill: restore every selected file of the snapshot (all, or
    /// the --include/--exclude subset) in one restic call and compare them all
    /// with the source; records the measured full-restore time. Checks first that
    /// the test dir can hold the whole restore.
    #[arg(long, conflicts_with_all = ["sample", "sample_percent", "max_bytes", "sample_by"])]
    pub full: bool,
    /// Pass only when at least N files were restored and compared; files set aside
    /// (missing from the source, changed since the backup) do not count [default:
    /// half the sample drawn, rounded up, at least 1].
    #[arg(long, value_name = "N")]
    pub min_verified: Option<usize>,
    /// Weight the sample by `count` (every file alike) or `bytes` (large files likelier).
    #[arg(long, value_name = "HOW", default_value = "count")]
    pub sample_by: String,
    /// Cap on the bytes restored (e.g. `2G`).
    #[arg(long, value_name = "SIZE")]
    pub max_bytes: Option<String>,
    /// Only files at least this large.
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Only files at most this large.
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Only tree paths matching this glob (repeatable; `**` crosses directories).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Never tree paths matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// A tree path tested on every run, beyond the sample (repeatable).
    #[arg(long, value_name = "PATH")]
    pub always: Vec<String>,
    /// Seed of the sample; the same seed replays a run exactly [default: random, recorded].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Rewrite tree paths to source paths: `FROM=TO` prefix (repeatable), e.g.
    /// `/mnt/backup-snapshot=/home`.
    #[arg(long, value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// Where the private restore directory is created [default: the temp dir].
    #[arg(long, value_name = "DIR")]
    pub test_dir: Option<PathBuf>,
    /// Keep the restored files (their directory is logged).
    #[arg(long)]
    pub keep: bool,
    /// Record every file in the JSONL, not only those that are not `match`.
    #[arg(long)]
    pub verbose_results: bool,
    #[command(flatten)]
    pub src: SourceArgs,
    /// The global log format (a progress line is drawn only for text logs).
    #[arg(from_global)]
    pub log_format: LogFormat,
    /// The global --quiet (no progress line).
    #[arg(from_global)]
    pub quiet: bool,
}

/// What a restore test or an audit compares with: the live files or a ZFS snapshot.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Compare with the `live` files, or with the `zfs` snapshot the backup was read
    /// from (then every difference is a mismatch: a snapshot cannot change).
    #[arg(long, value_name = "KIND", default_value = "live")]
    pub source: String,
    /// ZFS dataset holding the source (with --source zfs), e.g. `tank/home`.
    #[arg(long, value_name = "DATASET")]
    pub zfs_dataset: Option<String>,
    /// ZFS snapshot name [default: the newest created at or before the restic snapshot].
    #[arg(long, value_name = "NAME")]
    pub zfs_snapshot: Option<String>,
    /// Take the ZFS snapshot name from the restic tag that starts with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub zfs_snapshot_tag: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Job name used in results and metrics.
    #[arg(long, default_value = "audit")]
    pub job: String,
    /// Snapshot to audit: an ID, or `latest` (the newest matching --host/--tag/--path).
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Rewrite tree (or snapshot) paths to source paths: `FROM=TO` (repeatable).
    #[arg(long, value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// Only compare tree paths matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip tree paths matching this glob, with everything below (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// A restic `--exclude` pattern the backup used from an `--exclude-file`
    /// (restic does not record those): matching source files are not reported as
    /// missing from the backup (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub backup_exclude: Vec<String>,
    #[command(flatten)]
    pub src: SourceArgs,
    /// List at most this many entries that are not `match` in the results.
    #[arg(long, value_name = "N", default_value_t = crate::audit::job::DEFAULT_MAX_LISTED)]
    pub max_listed: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The profile.
    #[arg(long, short, env = "RESTIC_VERIFY_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// Jobs to run; all jobs of the profile when none are named.
    pub jobs: Vec<String>,
    /// Take only the repositories of shard K of N (1 <= K <= N): N hosts running
    /// the same profile, each with its own K, verify every repository exactly once.
    /// Beats the profile's `[defaults] shard`.
    #[arg(long, env = "RESTIC_VERIFY_SHARD", value_name = "K/N")]
    pub shard: Option<crate::config::Shard>,
    #[command(flatten)]
    pub restic: ResticArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    /// The profile.
    #[arg(long, short, env = "RESTIC_VERIFY_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// The job to drill.
    pub job: String,
    #[command(flatten)]
    pub restic: ResticArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// The profile.
    #[arg(long, short, env = "RESTIC_VERIFY_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// Do not start runs missed while the daemon was down.
    #[arg(long)]
    pub no_catch_up: bool,
    /// Take only the repositories of shard K of N (1 <= K <= N): N hosts running
    /// the same profile, each with its own K, verify every repository exactly once.
    /// Beats the profile's `[defaults] shard`.
    #[arg(long, env = "RESTIC_VERIFY_SHARD", value_name = "K/N")]
    pub shard: Option<crate::config::Shard>,
    #[command(flatten)]
    pub restic: ResticArgs,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The profile to write.
    #[arg(long, short, default_value = crate::config::DEFAULT_CONFIG_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// Replace an existing profile.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The profile.
    #[arg(long, short, env = "RESTIC_VERIFY_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// Also reach every notifier without sending anything: log in to SMTP servers,
    /// open a connection to HTTP ones (a request would count as a ping), and read
    /// their URL, token and password files.
    #[arg(long)]
    pub check_notifiers: bool,
    /// Show the plan of shard K of N (1 <= K <= N) only, and which repositories
    /// each of the N shards takes. Beats the profile's `[defaults] shard`.
    #[arg(long, env = "RESTIC_VERIFY_SHARD", value_name = "K/N")]
    pub shard: Option<crate::config::Shard>,
    /// The global --json: the plan (or every problem) as one JSON object.
    #[arg(from_global)]
    pub json: bool,
}

/// Which results to read: shared by `status` and `report`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// A JSONL results file (repeatable). Without it, the results files and state
    /// directories of every job of the profile (--config) are read.
    #[arg(long, value_name = "FILE.jsonl")]
    pub results: Vec<PathBuf>,
    /// The profile whose jobs' `results` and `state-dir` to read [default:
    /// /etc/restic-verify/config.toml when no --results is given].
    #[arg(long, short, env = "RESTIC_VERIFY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// The global --json: a JSON array of rows instead of the table.
    #[arg(from_global)]
    pub json: bool,
    /// Colour the table: `auto` colours on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// The HTML file to write (replaced atomically).
    #[arg(long, short, value_name = "FILE.html")]
    pub output: PathBuf,
    /// Only runs of this last period, e.g. `90d` [default: the whole history].
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell: bash (e.g. /usr/share/bash-completion/completions/restic-verify),
    /// zsh (a `_restic-verify` file in $fpath) or fish (~/.config/fish/completions/).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Print this page instead: a subcommand's, restic-verify-SUBCOMMAND(1), or
    /// `restic-verify.toml`, the profile's, restic-verify.toml(5).
    #[arg(value_name = "PAGE")]
    pub subcommand: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn check_rejects_both_password_sources() {
        let r = Cli::try_parse_from([
            "restic-verify",
            "check",
            "--repo",
            "/r",
            "--password-file",
            "f",
            "--password-command",
            "c",
        ]);
        assert!(r.is_err());
    }
}
