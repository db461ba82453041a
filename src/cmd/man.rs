//! `restic-verify man [PAGE]`: a man page in roff on stdout: restic-verify(1),
//! restic-verify-SUBCOMMAND(1), or restic-verify.toml(5). The NAME, SYNOPSIS,
//! DESCRIPTION and OPTIONS sections come from the clap definitions (`clap_mangen`);
//! EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO are written here, the exit codes
//! from `exit`; the section-5 page is generated from `config::keys`, the table the
//! profile's keys are checked against. There is no page for `help`. Packages install
//! every page (scripts/package.sh). Pure text; nothing else here.

use std::fmt::Write as _;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::config::keys::{self, Table};
use crate::config::DEFAULT_CONFIG_PATH;
use crate::error::Error;
use crate::exit;
use crate::record::Report;

/// The name of the profile's page, restic-verify.toml(5), as `man` takes it.
pub const PROFILE_PAGE: &str = "restic-verify.toml";

/// The names of the subcommands that get a page of their own (not `help`).
pub fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|n| n != "help")
        .collect()
}

/// The roff source of a page: the main page (`None`), a subcommand's, or the
/// profile's (`restic-verify.toml`).
///
/// # Errors
/// There is no such page (exit 2).
pub fn page(name: Option<&str>) -> Result<Vec<u8>, Error> {
    if name == Some(PROFILE_PAGE) {
        return Ok(profile_page().into_bytes());
    }
    let mut cmd = Cli::command();
    // Building propagates the global flags and versions into the subcommands.
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let (page, sub) = match name {
        None => (cmd, None),
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name).filter(|_| name != "help") else {
                return Err(Error::Usage(format!(
                    "no man page `{name}`; pages exist for: {}, {PROFILE_PAGE}; run `restic-verify man` for the main page",
                    subcommands().join(", ")
                )));
            };
            let full = format!("{}-{name}", super::completions::BIN);
            (sub.clone().display_name(full), Some(name))
        }
    };
    let title = page
        .get_display_name()
        .unwrap_or(page.get_name())
        .to_owned();
    let mut text = title_line(&title, "1", &version);
    text.push_str(&clap_sections(&page)?);
    if sub.is_none() {
        text.push_str(&subcommands_section());
    }
    text.push_str(&exit_status_section(sub));
    text.push_str(&environment_section());
    text.push_str(&files_section());
    text.push_str(&see_also_section(sub));
    Ok(text.into_bytes())
}

/// The `.TH` line (clap_mangen's leaves the empty date unquoted, which shifts the
/// source and manual into the wrong fields).
fn title_line(title: &str, section: &str, version: &str) -> String {
    format!(
        ".TH {} {section} \"\" \"restic\\-verify {}\" \"restic\\-verify manual\"\n",
        esc(&title.to_uppercase()),
        esc(version)
    )
}

/// NAME, SYNOPSIS, DESCRIPTION and OPTIONS from clap_mangen, without the string
/// definitions it repeats before each section.
fn clap_sections(page: &clap::Command) -> Result<String, Error> {
    let man = clap_mangen::Man::new(page.clone());
    let mut buf = Vec::new();
    let render = |buf: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_name_section(buf)?;
        man.render_synopsis_section(buf)?;
        man.render_description_section(buf)?;
        if page.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(buf)?;
        }
        Ok(())
    };
    render(&mut buf).map_err(|e| Error::Usage(format!("cannot render the man page: {e}")))?;
    let text = String::from_utf8_lossy(&buf);
    // Each section comes with `.ie \n(.g .ds Aq \(aq` / `.el .ds Aq '`: keep one.
    let mut prelude = String::new();
    let mut body = String::new();
    for line in text.lines() {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            if !prelude.contains(line) {
                prelude.push_str(line);
                prelude.push('\n');
            }
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    Ok(prelude + &body)
}

/// Prints the page.
///
/// # Errors
/// There is no such page (exit 2).
pub fn run(args: ManArgs) -> Result<Report, Error> {
    super::print_stdout(&page(args.subcommand.as_deref())?);
    Ok(Report::default())
}

/// Text for a roff text line: backslashes and hyphens escaped, and a leading `.` or
/// `'` (a request) neutralised.
fn esc(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// A tagged paragraph: `tag` in bold, then `body`.
fn item(out: &mut String, tag: &str, body: &str) {
    let _ = write!(out, ".TP\n\\fB{}\\fR\n{}\n", esc(tag), esc(body));
}

fn subcommands_section() -> String {
    let mut out = String::from(".SH SUBCOMMANDS\n");
    for sub in Cli::command()
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
    {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        let page = format!("{}-{}(1)", super::completions::BIN, sub.get_name());
        item(&mut out, &page, &about);
    }
    out
}

fn exit_status_section(sub: Option<&str>) -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    let codes: [(u8, &str); 5] = [
        (exit::SUCCESS, "Every job ran and passed."),
        (exit::VERIFICATION_FAILED, "Verification failed: damage found, snapshots too old or too few, files that differ from their source."),
        (exit::USAGE, "Usage or configuration error: nothing was verified because the request or the profile was wrong."),
        (exit::COULD_NOT_VERIFY, "Could not verify: restic missing, repository missing, wrong password, lock held, network failure, timeout. Never read this as verified."),
        (exit::INTERRUPTED, "Interrupted by SIGINT or SIGTERM."),
    ];
    for (code, meaning) in codes {
        item(&mut out, &code.to_string(), meaning);
    }
    out.push_str(".PP\n");
    out.push_str(&esc(
        "When several jobs end differently, the most serious code wins: 1, then 130, 2, 3, 0.",
    ));
    out.push('\n');
    if sub == Some("status") {
        out.push_str(".PP\n");
        out.push_str(&esc("status exits 1 when any latest outcome is fail, 3 when any is error or a job never ran, else 0."));
        out.push('\n');
    }
    out
}

fn environment_section() -> String {
    let mut out = String::from(".SH ENVIRONMENT\n");
    let vars: [(&str, &str); 8] = [
        ("RESTIC_VERIFY_CONFIG", "The profile of run, daemon, drill, validate, status and report (default /etc/restic-verify/config.toml); --config beats it."),
        ("RESTIC_VERIFY_REPOSITORY", "The repository of check, restore-test and audit when --repo and --repo-file are not given; keeps a URL with credentials out of the process list."),
        ("RESTIC_VERIFY_RESTIC", "The restic binary; beats the profile's restic key, --restic beats it."),
        ("RESTIC_VERIFY_LOG", "A tracing filter for the log, e.g. debug; beats -v and -q."),
        ("RESTIC_VERIFY_RUNTIME_DIR", "Where the per-repository lock files are kept; beats RUNTIME_DIRECTORY."),
        ("RESTIC_VERIFY_RESTORE_CALL_SECONDS", "The restore test's cost model: the fixed cost of one restic restore call, in seconds (default: measured, about 1 s)."),
        ("RUNTIME_DIRECTORY, CREDENTIALS_DIRECTORY", "Set by systemd (RuntimeDirectory=, LoadCredential=): the lock directory, and the directory a leading $CREDENTIALS_DIRECTORY in the profile's file paths names."),
        ("NO_COLOR", "When set, status does not colour its table (--color auto)."),
    ];
    for (var, meaning) in vars {
        item(&mut out, var, meaning);
    }
    item(
        &mut out,
        "RESTIC_REPOSITORY, RESTIC_PASSWORD, RESTIC_PASSWORD_FILE, ... (every RESTIC_* variable)",
        "restic's own variables in restic-verify's environment are not passed to restic: restic gets its repository (RESTIC_REPOSITORY) and password (RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND) from the profile or the flags, and other variables only from the env-file, so a stray variable in a shell can never change what is verified. Put backend credentials in an env-file.",
    );
    out
}

fn files_section() -> String {
    let mut out = String::from(".SH FILES\n");
    let files: [(&str, &str); 6] = [
        (DEFAULT_CONFIG_PATH, "The profile when neither --config nor RESTIC_VERIFY_CONFIG names one; see restic-verify.toml(5)."),
        ("/var/lib/restic-verify", "The state-dir of the shipped units (StateDirectory=) and example profiles: rotation cursors, the pack ledger, last-success times, RTO calibration calls. A job without state-dir keeps no state."),
        ("/var/log/restic-verify/results.jsonl", "The results file of the example profiles (the units' LogsDirectory=): one JSON object per job run, appended. No default: a job without results writes none."),
        ("METRICS-DIR/restic-verify-JOB.prom", "Prometheus textfile metrics of a job, replaced atomically (e.g. /var/lib/prometheus/node-exporter); a fire drill writes restic-verify-JOB.drill.prom."),
        ("/run/restic-verify", "Lock files, one per repository (flock): RESTIC_VERIFY_RUNTIME_DIR, else RUNTIME_DIRECTORY, else /run/restic-verify when it exists, else a private restic-verify-UID directory in the temp directory."),
        ("TEST-DIR/restic-verify-restore-*", "The restore test's private 0700 restore directory, in test-dir (default: the temp directory, TMPDIR); removed after the run, and left-overs of killed runs at the next start."),
    ];
    for (file, meaning) in files {
        item(&mut out, file, meaning);
    }
    out
}

fn see_also_section(sub: Option<&str>) -> String {
    let bin = super::completions::BIN;
    let mut refs = vec![format!("{bin}(1)")];
    if sub.is_none() {
        refs.clear();
    }
    refs.extend(
        subcommands()
            .iter()
            .filter(|s| Some(s.as_str()) != sub)
            .map(|s| format!("{bin}-{s}(1)")),
    );
    refs.extend([format!("{PROFILE_PAGE}(5)"), "restic(1)".to_owned()]);
    let refs: Vec<String> = refs
        .iter()
        .map(|r| {
            let (name, section) = r.split_once('(').unwrap_or((r, ""));
            format!("\\fB{}\\fR({section}", esc(name))
        })
        .collect();
    let mut out = String::from(".SH \"SEE ALSO\"\n");
    out.push_str(&refs.join(",\n"));
    out.push_str("\n.PP\n");
    out.push_str(&esc("The systemd units restic-verify.service (the daemon), restic-verify-check@.service, restic-verify-audit@.service and restic-verify-restore-test@.service with their .timer units (run JOB), and restic-verify-new@.service (run JOB once a backup unit succeeds, through its OnSuccess=), in /lib/systemd/system; see systemd.service(5) and systemd.timer(5)."));
    out.push('\n');
    out
}

/// restic-verify.toml(5), from the key table.
fn profile_page() -> String {
    let version = Cli::command().get_version().unwrap_or_default().to_owned();
    let mut out = title_line(PROFILE_PAGE, "5", &version);
    out.push_str(".SH NAME\nrestic\\-verify.toml \\- the restic\\-verify profile\n");
    let _ = write!(out, ".SH SYNOPSIS\n{}\n", esc(DEFAULT_CONFIG_PATH));
    out.push_str(".SH DESCRIPTION\n");
    for para in PROFILE_INTRO {
        let _ = write!(out, ".PP\n{}\n", esc(para));
    }
    for table in Table::ALL {
        let _ = writeln!(out, ".SH \"{}\"", table.header());
        let _ = writeln!(out, "{}", esc(table_intro(table)));
        for k in keys::of(table).filter(|k| k.tables.first() == Some(&table)) {
            item(&mut out, k.name, &key_body(k, table));
        }
    }
    out.push_str(".SH EXAMPLE\n.PP\n.nf\n.RS 4\n");
    for line in EXAMPLE.lines() {
        let _ = writeln!(out, "{}", esc(line));
    }
    out.push_str(".RE\n.fi\n");
    out.push_str(".SH FILES\n");
    item(&mut out, DEFAULT_CONFIG_PATH, "Where run, daemon, drill, validate, status and report look for the profile by default (RESTIC_VERIFY_CONFIG, --config).");
    out.push_str(".SH \"SEE ALSO\"\n\\fBrestic\\-verify\\fR(1), \\fBrestic\\-verify\\-validate\\fR(1), \\fBrestic\\-verify\\-run\\fR(1), \\fBrestic\\-verify\\-daemon\\fR(1), \\fBrestic\\fR(1)\n");
    out
}

fn table_intro(table: Table) -> &'static str {
    match table {
        Table::Defaults => "Values inherited by every repository and job. Besides the keys below it takes every key marked \"also in [defaults]\" under [repository.NAME] and [job.NAME].",
        Table::Repository => "How to reach one repository; NAME names it in jobs, results and metrics.",
        Table::Job => "One verification of its repositories; kind says which. A key that acts on some kinds only says so.",
        Table::Notify => "A notifier, told about the runs of the jobs that name it in notify. It never changes a run's outcome or exit code. Which keys apply depends on type.",
    }
}

fn key_body(k: &keys::Key, table: Table) -> String {
    let mut body = format!("{} Default: {}.", k.meaning, k.default);
    if !k.applies_to.is_empty() {
        let what = if table == Table::Notify {
            "Types"
        } else {
            "Kinds"
        };
        let _ = write!(body, " {what}: {}.", k.applies_to.join(", "));
    }
    if table != Table::Defaults && k.tables.contains(&Table::Defaults) {
        body.push_str(" Also in [defaults].");
    }
    body
}

const PROFILE_INTRO: [&str; 3] = [
    "A profile is a TOML file with four kinds of table: [defaults], [repository.NAME], [job.NAME] and [notify.NAME]. Keys are kebab-case; an unknown key is an error (restic-verify validate names the file, line and column, and the key meant). Names of repositories and jobs use letters, digits, ., _ and -.",
    "Precedence: command-line flags and environment variables beat the profile; a key in [job.NAME] beats the same key in [repository.NAME], which beats [defaults]. Relative paths are relative to the profile's directory.",
    "Sizes are written 4096, 500K, 500M, 2G (powers of 1024); durations 90s, 30m, 48h, 7d, 1h 30m. Secrets are accepted only as files or commands (password-file, password-command, url-file, token-file, env-file), never as values.",
];

const EXAMPLE: &str = r#"[defaults]
password-file = "$CREDENTIALS_DIRECTORY/restic-password"
results = "/var/log/restic-verify/results.jsonl"
state-dir = "/var/lib/restic-verify"
notify = ["mail"]

[repository.nas]
url = "/mnt/nas/restic"

[job.weekly-check]
kind = "check"
repositories = ["nas"]
read-data-subset = "rotate/12"
max-age = "48h"
schedule = "0 3 * * 0"

[job.monthly-restore-test]
kind = "restore-test"
repositories = ["nas"]
sample = 200
schedule = "0 4 1 * *"

[notify.mail]
type = "email"
smtp-host = "mail.example.org"
from = "restic-verify <rv@example.org>"
to = "admin@example.org""#;

#[cfg(test)]
#[path = "man_tests.rs"]
mod tests;
