//! Every profile key as data: the tables that take it, the job kinds (or notifier
//! types) it acts on, what it means and its default. The serde tables in `raw` decide
//! what a profile may contain; this table says what each key does, and a test holds
//! the two equal (every key `raw` accepts is here, in the same tables, and nothing
//! else), so restic-verify.toml(5), generated from it (`cmd/man`), cannot drift from
//! the validator. Pure data; nothing here parses or reads.

/// The kinds of table a profile has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// `[defaults]`: inherited by every repository and job.
    Defaults,
    /// `[repository.NAME]`.
    Repository,
    /// `[job.NAME]`.
    Job,
    /// `[notify.NAME]`.
    Notify,
}

impl Table {
    /// Every table, in the order a profile is usually written.
    pub const ALL: [Table; 4] = [
        Table::Defaults,
        Table::Repository,
        Table::Job,
        Table::Notify,
    ];

    /// How the table's header is written.
    pub fn header(self) -> &'static str {
        match self {
            Table::Defaults => "[defaults]",
            Table::Repository => "[repository.NAME]",
            Table::Job => "[job.NAME]",
            Table::Notify => "[notify.NAME]",
        }
    }
}

/// One key of one group of tables.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as written in TOML (kebab-case).
    pub name: &'static str,
    /// The tables that accept it (the first one is where it is documented).
    pub tables: &'static [Table],
    /// Job keys: the kinds it acts on; notifier keys: the types. Empty: all.
    pub applies_to: &'static [&'static str],
    /// What it does (one paragraph, plain text).
    pub meaning: &'static str,
    /// The value used when it is absent.
    pub default: &'static str,
}

use Table::{Defaults, Job, Notify, Repository};

const REPO: &[Table] = &[Repository, Defaults];
const JOB: &[Table] = &[Job, Defaults];
const CHECK: &[&str] = &["check"];
const RESTORE: &[&str] = &["restore-test"];
const AUDIT: &[&str] = &["audit"];
const SNAPSHOT_KINDS: &[&str] = &["restore-test", "audit"];
const URL_TYPES: &[&str] = &["healthchecks", "ntfy", "uptime-kuma", "pushgateway"];
const EMAIL: &[&str] = &["email"];

const fn key(
    name: &'static str,
    tables: &'static [Table],
    applies_to: &'static [&'static str],
    meaning: &'static str,
    default: &'static str,
) -> Key {
    Key {
        name,
        tables,
        applies_to,
        meaning,
        default,
    }
}

/// Every key, grouped by the tables that take it, in the order of docs/config.md.
pub const KEYS: &[Key] = &[
    // ------------------------------------------------------------ repositories
    key("url", &[Repository], &[], "Repository path or URL as restic takes it; {name} expands to the repository's NAME. Reaches restic as RESTIC_REPOSITORY, never on its command line.", "required"),
    key("password-file", REPO, &[], "File holding the repository password (RESTIC_PASSWORD_FILE); must exist (a missing file is a configuration error, exit 2, in validate and at run time) and be non-empty; a warning when group or others can read it. A leading $CREDENTIALS_DIRECTORY is systemd's LoadCredential= directory.", "none"),
    key("password-command", REPO, &[], "Command printing the repository password (RESTIC_PASSWORD_COMMAND); shown as [redacted].", "none"),
    key("env-file", REPO, &[], "KEY=VALUE lines (comments, export and quotes allowed) passed to restic's environment only: backend credentials. May set the password variables when the profile sets none; must not set RESTIC_REPOSITORY.", "none"),
    key("restic", REPO, &[], "The restic binary (RESTIC_VERIFY_RESTIC and --restic beat it).", "restic on PATH"),
    key("lock-wait", REPO, &[], "How long a locked repository is retried (restic 0.16 and later: --retry-lock; older: retried by restic-verify); 0s fails at once.", "5m"),
    key("unlock-stale", REPO, &[], "Remove a stale lock (a dead process on this host, or older than 30 minutes) with restic unlock instead of reporting it.", "false"),
    key("retries", REPO, &[], "How often a network failure is retried, with backoff (10 s, 20 s, ...).", "2"),
    key("options", REPO, &[], "restic backend options backend.name=value, each passed as -o to every restic call (sftp.command, s3.storage-class, rclone.program, ...). A repository's list replaces the one of [defaults]. They land on restic's command line, which every user can read: secrets are refused; put credentials in env-file.", "none"),
    key("limit-download", REPO, &[], "restic's --limit-download: KiB/s read from the backend; 0 is no limit.", "0"),
    // -------------------------------------------------------------------- jobs
    key("kind", &[Job], &[], "What the job does: \"check\" (restic check and snapshot freshness), \"restore-test\" (restore a sample and compare it with the source) or \"audit\" (compare every file of a snapshot with its source, in process).", "required"),
    key("repositories", &[Job], &[], "The repositories the job verifies, in order.", "required"),
    key("schedule", &[Job], &[], "When restic-verify daemon runs the job: a 5-field crontab (0 3 * * 0), 6 fields with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly; local time.", "none (only run or SIGUSR1)"),
    key("jitter", JOB, &[], "A random delay added to each scheduled start, below the shortest interval between runs.", "0s"),
    key("notify", JOB, &[], "Names of [notify.*] tables told about each run of the job.", "none"),
    key("lock-wait", &[Job], &[], "Overrides the repositories' lock-wait for this job.", "the repository's"),
    key("timeout", JOB, &[], "A run on one repository is stopped (SIGINT, then SIGKILL after 30 s) after this.", "12h"),
    key("results", JOB, &[], "The JSONL history file: one JSON object per run is appended; its directory must exist.", "none"),
    key("metrics-dir", JOB, &[], "node_exporter textfile directory; the job writes restic-verify-JOB.prom there (atomically); must exist.", "none"),
    key("state-dir", JOB, &[], "Directory for rotation cursors, the pack ledger, last-success times and the restore test's timed calibration calls (created if missing).", "none"),
    key("host", JOB, &[], "Only snapshots of these hosts (a string or a list; restic's --host).", "all"),
    key("tag", JOB, &[], "Only snapshots with these tags (a string or a list; restic's --tag).", "all"),
    key("path", JOB, &[], "Only snapshots of these paths (a string or a list; restic's --path).", "all"),
    key("read-data", JOB, CHECK, "restic check --read-data: read every pack.", "false"),
    key("read-data-subset", JOB, CHECK, "n/t, x%, a size (500M), or rotate/T (group k/T this run, the next group the next run; needs state-dir).", "none"),
    key("read-budget", JOB, CHECK, "Read about this many bytes of pack data per run, choosing the packs that have waited longest since a completed check read them; replaces read-data and read-data-subset; needs state-dir.", "none"),
    key("outdated-after", JOB, CHECK, "A pack that no completed check has read for longer than this fails the run; needs state-dir.", "not checked"),
    key("max-age", JOB, CHECK, "The newest snapshot of every backup set (host and paths) must be younger than this.", "not checked"),
    key("min-snapshots", JOB, CHECK, "At least this many snapshots must match.", "1"),
    key("snapshot", JOB, SNAPSHOT_KINDS, "The snapshot to test: an ID, or latest.", "the newest matching host, tag and path"),
    key("map", JOB, SNAPSHOT_KINDS, "FROM=TO rewrites of tree-path prefixes to source paths (longest first).", "from the snapshot's paths"),
    key("include", JOB, SNAPSHOT_KINDS, "Only tree paths matching these globs (** crosses directories).", "all"),
    key("exclude", JOB, SNAPSHOT_KINDS, "Never tree paths matching these globs.", "none"),
    key("source", JOB, SNAPSHOT_KINDS, "Compare with the \"live\" files, or with the \"zfs\" snapshot the backup was read from (then every difference is a mismatch).", "\"live\""),
    key("zfs-dataset", JOB, SNAPSHOT_KINDS, "The ZFS dataset holding the source (with source = \"zfs\").", "none"),
    key("zfs-snapshot", JOB, SNAPSHOT_KINDS, "The ZFS snapshot name.", "the newest at or before the restic snapshot"),
    key("zfs-snapshot-tag", JOB, SNAPSHOT_KINDS, "Take the ZFS snapshot name from the restic tag that starts with this prefix.", "none"),
    key("sample", JOB, RESTORE, "Number of regular files sampled.", "20"),
    key("sample-percent", JOB, RESTORE, "Sample this share of the files instead (0 < x <= 100); 100 without max-bytes is a full drill.", "none"),
    key("full", JOB, RESTORE, "A full restore drill: every selected file restored by one restic restore call and compared with the source; records the measured restore time.", "false"),
    key("sample-by", JOB, RESTORE, "\"count\" (every file alike) or \"bytes\" (weighted by size).", "\"count\""),
    key("min-verified", JOB, RESTORE, "Pass only when at least this many files were restored and compared; files set aside (missing from the source, changed since the backup) do not count.", "half the sample drawn, rounded up, at least 1"),
    key("max-bytes", JOB, RESTORE, "Cap on the bytes restored (e.g. 5G).", "none"),
    key("min-size", JOB, RESTORE, "Only files at least this large.", "none"),
    key("max-size", JOB, RESTORE, "Only files at most this large.", "none"),
    key("always", JOB, RESTORE, "Tree paths tested on every run, beyond the sample.", "none"),
    key("seed", JOB, RESTORE, "A fixed seed (replays a run).", "random, recorded"),
    key("test-dir", JOB, RESTORE, "Where the private 0700 restore directory is created; free space is checked first.", "the temp dir"),
    key("keep", JOB, RESTORE, "Keep the restored files (renamed to restic-verify-kept-*).", "false"),
    key("verbose-results", JOB, RESTORE, "Record every file in the JSONL, not only those that are not match.", "false"),
    key("backup-excludes", JOB, AUDIT, "restic --exclude patterns the backup took from an --exclude-file (restic records only command-line excludes): matching source entries are not reported as not_in_backup.", "none"),
    key("max-listed", JOB, AUDIT, "At most this many entries that are not match in the record (the rest are counted).", "1000"),
    // ---------------------------------------------------------------- defaults
    key("max-concurrent", &[Defaults], &[], "Repositories worked on at once, across all jobs (never two jobs on one repository at once).", "1"),
    key("shard", &[Defaults], &[], "k/n: this host takes only the repositories placed in shard k of n (1 <= k <= n), so that n hosts running the same profile verify every repository exactly once; a job runs only on the repositories of the shard. The place depends only on the repository's NAME (first 8 bytes of its SHA-256 into a jump consistent hash) and never changes between versions; --shard and RESTIC_VERIFY_SHARD beat it. validate prints every shard's repositories.", "all repositories"),
    // --------------------------------------------------------------- notifiers
    key("type", &[Notify], &[], "\"email\", \"healthchecks\", \"ntfy\", \"uptime-kuma\" or \"pushgateway\".", "required"),
    key("states", &[Notify], &[], "When to speak: start, success, failure (a run failed or could not verify), recovery (the first success after a failure; needs state-dir).", "email, ntfy: [\"failure\", \"recovery\"]; healthchecks: [\"start\", \"success\", \"failure\"]; uptime-kuma, pushgateway: [\"success\", \"failure\"]"),
    key("timeout", &[Notify], &[], "Per delivery.", "10s"),
    key("url", &[Notify], URL_TYPES, "Healthchecks: the ping URL or bare UUID; ntfy: server and topic; Uptime Kuma: the push URL; Pushgateway: the base URL.", "required (or url-file)"),
    key("url-file", &[Notify], &["healthchecks", "ntfy", "uptime-kuma"], "File holding the URL, for URLs that are secrets.", "none"),
    key("token-file", &[Notify], &["ntfy"], "Access token sent as Authorization: Bearer.", "none"),
    key("instance", &[Notify], &["pushgateway"], "The grouping key's instance.", "the host name"),
    key("smtp-host", &[Notify], EMAIL, "The SMTP server.", "required"),
    key("smtp-port", &[Notify], EMAIL, "The SMTP port.", "587, 465 or 25 by tls"),
    key("tls", &[Notify], EMAIL, "\"starttls\" (required, never downgraded), \"tls\" (implicit, SMTPS) or \"none\" (plain, for a local relay; refused with a password to a host that is not loopback).", "\"starttls\""),
    key("ca-file", &[Notify], EMAIL, "An extra CA certificate (PEM) for a relay with a private CA.", "system roots"),
    key("from", &[Notify], EMAIL, "The sender.", "required"),
    key("to", &[Notify], EMAIL, "One or more recipients.", "required"),
    key("username", &[Notify], EMAIL, "SMTP login (with password-file).", "none"),
    key("password-file", &[Notify], EMAIL, "File holding the SMTP password (with username).", "none"),
];

/// The keys a table accepts, in table order.
pub fn of(table: Table) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.tables.contains(&table))
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
