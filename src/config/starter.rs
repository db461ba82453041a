//! The starter profile `restic-verify init` writes: a pure function from what was
//! found in the repository (its backup sets, its size) and on this host (which
//! sources exist) to commented profile text. No I/O, no clock: the caller passes
//! everything in, and `cmd::init` writes and validates the result.
//!
//! It never sees a password: only the password file's path or the password
//! command, as the operator gave them, reach the text.

use std::fmt::Write as _;

/// Schemes restic knows that the audit cannot open (`backend::open`'s refusals).
const AUDIT_UNSUPPORTED: [&str; 2] = ["b2", "opendal"];

/// Below this size the whole repository is read every month (4 weekly groups).
const SMALL_BYTES: u64 = 50 << 30;
/// Below this size every pack is read within two months (8 weekly groups); above
/// it within a quarter (12 weekly groups).
const MEDIUM_BYTES: u64 = 1 << 40;

/// How the repository password is reached: only a reference is ever written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRef {
    File(String),
    Command(String),
    /// Neither: the env file must set it.
    None,
}

/// How large the repository is, and whether the number was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoSize {
    pub bytes: u64,
    pub packs: usize,
    /// `true` when the size is the pack count times restic's default pack size.
    pub estimated: bool,
}

/// One backup set (host + paths) of the repository, as seen from this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    pub host: String,
    pub paths: Vec<String>,
    pub snapshots: usize,
    /// The newest snapshot's time, as text (RFC 3339).
    pub newest: String,
    /// The paths of the set that do not exist on this host.
    pub missing: Vec<String>,
}

/// Everything the starter profile is made of.
#[derive(Debug, Clone)]
pub struct StarterInput {
    pub repository_name: String,
    pub url: String,
    pub password: PasswordRef,
    pub env_file: Option<String>,
    pub restic: Option<String>,
    /// restic's `-o KEY=VALUE` options the repository was reached with.
    pub options: Vec<String>,
    pub state_dir: String,
    pub results: String,
    pub metrics_dir: String,
    pub size: RepoSize,
    pub sets: Vec<BackupSet>,
}

/// One job the profile proposes, for the next steps (its unit and schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedJob {
    pub name: String,
    /// `check`, `audit` or `restore-test`: also the unit's middle part.
    pub kind: &'static str,
    /// `false` when it is written commented out.
    pub enabled: bool,
}

/// The profile text and the jobs in it.
#[derive(Debug, Clone)]
pub struct StarterPlan {
    pub text: String,
    pub jobs: Vec<PlannedJob>,
}

/// The number of rotation groups for a weekly check, and why.
pub fn rotation_groups(size: RepoSize) -> (u32, String) {
    let shown = human_bytes(size.bytes);
    let how = if size.estimated {
        format!(
            "about {shown} ({} packs at restic's default 16 MiB; the sizes cannot be read on this backend)",
            size.packs
        )
    } else {
        format!("{shown} in {} packs", size.packs)
    };
    let (groups, span) = if size.bytes < SMALL_BYTES {
        (4, "every month: a small repository is cheap to read")
    } else if size.bytes < MEDIUM_BYTES {
        (8, "every two months")
    } else {
        (12, "every quarter, about 1/12 of the data a week")
    };
    (
        groups,
        format!("The repository holds {how}:\n# with {groups} groups a weekly check reads every pack {span}."),
    )
}

/// A TOML basic string holding `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Whether the audit can open a repository at this URL.
pub fn audit_supported(url: &str) -> bool {
    match url.split_once(':') {
        Some((scheme, _)) => !AUDIT_UNSUPPORTED.contains(&scheme),
        None => true,
    }
}

/// Renders the starter profile.
pub fn render(input: &StarterInput) -> StarterPlan {
    let mut text = String::new();
    let mut jobs = Vec::new();
    header(&mut text, input);
    check_job(&mut text, input, &mut jobs);
    let many = input.sets.len() > 1;
    for (i, set) in input.sets.iter().enumerate() {
        set_jobs(&mut text, input, set, i, many, &mut jobs);
    }
    if input.sets.is_empty() {
        text.push_str(
            "\n# The repository has no snapshots yet: run `restic-verify init` again after the\n\
             # first backup to get an audit and a restore test per backup set.\n",
        );
    }
    notifiers(&mut text);
    StarterPlan { text, jobs }
}

fn header(t: &mut String, input: &StarterInput) {
    t.push_str(
        "# A starter profile written by `restic-verify init`: read it, adjust it, then\n\
         #   restic-verify validate --config THIS-FILE   # the plan, touching nothing\n\
         # Relative paths are relative to this file's directory. docs/config.md lists\n\
         # every key.\n\n[defaults]\n",
    );
    match &input.password {
        PasswordRef::File(p) => {
            t.push_str(
                "# The repository password is read from this file at run time (chmod 600).\n",
            );
            let _ = writeln!(t, "password-file = {}", quote(p));
        }
        PasswordRef::Command(c) => {
            t.push_str("# The repository password is printed by this command at run time.\n");
            let _ = writeln!(t, "password-command = {}", quote(c));
        }
        PasswordRef::None => {
            t.push_str("# No password file or command was given: the env-file must set one.\n");
        }
    }
    let _ = write!(
        t,
        "# One JSON line per job run.\nresults = {}\n\
         # node_exporter's --collector.textfile.directory; one file per job.\nmetrics-dir = {}\n\
         # Rotation cursors, the pack ledger, last-success times.\nstate-dir = {}\n\
         # Every job tells these notifiers (see the commented [notify.*] tables below).\n\
         # notify = [\"mail\"]\n\n[repository.{}]\nurl = {}\n",
        quote(&input.results),
        quote(&input.metrics_dir),
        quote(&input.state_dir),
        quote(&input.repository_name),
        quote(&input.url),
    );
    if let Some(env) = &input.env_file {
        let _ = writeln!(
            t,
            "# KEY=VALUE lines for restic's environment only (backend credentials).\nenv-file = {}",
            quote(env)
        );
    }
    if let Some(r) = &input.restic {
        let _ = writeln!(t, "restic = {}", quote(r));
    }
    if !input.options.is_empty() {
        let _ = writeln!(
            t,
            "# restic's -o options, as given to init (no secrets: they land on its command line).\noptions = {}",
            quote_list(&input.options)
        );
    }
}

fn check_job(t: &mut String, input: &StarterInput, jobs: &mut Vec<PlannedJob>) {
    let (groups, why) = rotation_groups(input.size);
    let _ = write!(
        t,
        "\n# `restic check` of the whole repository, reading one group of the pack data each\n\
         # run (the next group the next run).\n# {why}\n\
         # A pack no check has read for 100 days fails the run.\n\
         [job.weekly-check]\nkind = \"check\"\nrepositories = [{name}]\n\
         # Sundays at 03:00 (for `restic-verify daemon`; the timers have their own).\n\
         schedule = \"0 3 * * 0\"\njitter = \"30m\"\nread-data-subset = \"rotate/{groups}\"\n\
         outdated-after = \"100d\"\n\
         # Fail when a backup set's newest snapshot is older than this (set it to the\n\
         # backup's period plus a margin):\n# max-age = \"48h\"\n",
        name = quote(&input.repository_name),
    );
    jobs.push(PlannedJob {
        name: "weekly-check".into(),
        kind: "check",
        enabled: true,
    });
}

/// A job name part for a backup set: host and the last path component.
fn slug(set: &BackupSet) -> String {
    let last = set
        .paths
        .first()
        .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("root");
    let raw = format!("{}-{last}", set.host);
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_owned()
}

fn set_jobs(
    t: &mut String,
    input: &StarterInput,
    set: &BackupSet,
    i: usize,
    many: bool,
    jobs: &mut Vec<PlannedJob>,
) {
    let suffix = if many {
        format!("-{}-{}", slug(set), i + 1)
    } else {
        String::new()
    };
    let _ = write!(
        t,
        "\n# ---- backup set: host {}, paths {} ({} snapshot(s), newest {})\n",
        shown(&set.host),
        shown(&set.paths.join(" ")),
        set.snapshots,
        shown(&set.newest)
    );
    let present = set.missing.is_empty();
    if !present {
        let _ = writeln!(
            t,
            "# Commented out: nothing to compare with, as this host lacks {}.\n\
             # Enable them on the backup host, or add `map` to where the files live here.",
            shown(&set.missing.join(" "))
        );
    }
    let filters = format!(
        "repositories = [{}]\nhost = {}\npath = {}\n",
        quote(&input.repository_name),
        quote(&set.host),
        quote_list(&set.paths)
    );
    // Staggered: audits on Wednesdays from 03:00, restore tests from the 2nd of the
    // month at 04:00, one hour or day apart per backup set.
    let audit_ok = audit_supported(&input.url);
    let audit_name = format!("weekly-audit{suffix}");
    let mut audit = format!(
        "# Every file of the newest snapshot compared with its source, without restoring\n\
         # (the repository is read in process; bit rot shows as `mismatch`).\n\
         [job.{audit_name}]\nkind = \"audit\"\n{filters}schedule = \"0 {} * * 3\"\njitter = \"30m\"\n",
        (3 + i) % 24
    );
    if !audit_ok {
        audit = format!(
            "# Commented out: the audit cannot open this repository's backend (not `sftp:`\n\
             # or `b2:` yet; see docs/backends.md).\n{}",
            comment_out(&audit)
        );
    }
    let restore_name = format!("monthly-restore-test{suffix}");
    let restore = format!(
        "# 100 random files of the newest snapshot restored and compared with the source.\n\
         [job.{restore_name}]\nkind = \"restore-test\"\n{filters}schedule = \"0 4 {} * *\"\n\
         jitter = \"1h\"\nsample = 100\n\
         # Where the private restore directory is made (default: the temp dir).\n\
         # test-dir = \"/var/tmp\"\n",
        2 + i % 27
    );
    for (block, name, kind, ok) in [
        (audit, audit_name, "audit", audit_ok),
        (restore, restore_name, "restore-test", true),
    ] {
        t.push('\n');
        if present {
            t.push_str(&block);
        } else {
            t.push_str(&comment_out(&block));
        }
        jobs.push(PlannedJob {
            name,
            kind,
            enabled: present && ok,
        });
    }
}

/// Text for a comment: a control character (a newline in a host name) would end
/// the comment and inject keys, so it is shown escaped.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Every line commented out (comments stay comments).
fn comment_out(block: &str) -> String {
    block
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("{l}\n")
            } else {
                format!("# {l}\n")
            }
        })
        .collect()
}

fn notifiers(t: &mut String) {
    t.push_str(
        "\n# ---------------------------------------------------------------- notifiers\n\
         # Uncomment one, name it in [defaults] notify (or a job's), and keep its secrets\n\
         # in files. states: start, success, failure, recovery.\n\
         #\n\
         # [notify.mail]\n\
         # type = \"email\"\n\
         # smtp-host = \"mail.example.org\"\n\
         # tls = \"starttls\"            # or \"tls\" (465), \"none\" (a local relay)\n\
         # from = \"restic-verify <backup@example.org>\"\n\
         # to = [\"admin@example.org\"]\n\
         # username = \"backup@example.org\"\n\
         # password-file = \"/etc/restic-verify/smtp-password\"\n\
         # states = [\"failure\", \"recovery\"]\n\
         #\n\
         # [notify.healthchecks]\n\
         # type = \"healthchecks\"\n\
         # url-file = \"/etc/restic-verify/healthchecks-url\"   # the ping URL is a secret\n\
         #\n\
         # [notify.phone]\n\
         # type = \"ntfy\"\n\
         # url = \"https://ntfy.sh/my-backups-TOPIC\"\n\
         # token-file = \"/etc/restic-verify/ntfy-token\"\n\
         # states = [\"failure\", \"recovery\"]\n\
         #\n\
         # [notify.kuma]\n\
         # type = \"uptime-kuma\"\n\
         # url-file = \"/etc/restic-verify/uptime-kuma-push-url\"\n\
         #\n\
         # [notify.pushgateway]\n\
         # type = \"pushgateway\"\n\
         # url = \"http://pushgateway.example.org:9091\"\n\
         # instance = \"this-host\"\n",
    );
}

/// `12.3 GiB`-style sizes for comments.
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
#[path = "starter_tests.rs"]
mod tests;
