//! restic-verify: verifies that restic backups can really be restored.
//!
//! `main.rs` parses the command line and calls [`run`]; everything else lives here
//! so that tests and future front ends use the same code. docs/ARCHITECTURE.md is
//! the map: imports point one way, from `cmd` down to pure leaves; `process` is the
//! only code that starts child processes, `report` the only code that writes result
//! files, `notify` the only code that sends, and `config` parsing does no I/O.

pub mod audit;
pub mod backend;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod compare;
pub mod config;
pub mod credentials;
pub mod error;
pub mod escape;
pub mod exit;
pub mod finding;
pub mod history;
pub mod lock;
pub mod logging;
pub mod notify;
pub mod packread;
pub mod password;
pub mod process;
pub mod progress;
pub mod report;
pub mod restic;
pub mod restore_test;
pub mod rto;
pub mod runner;
pub mod sample;
pub mod schedule;
pub mod secret;
pub mod signal;
pub mod source;
pub mod state;
pub mod zfs;

pub use error::Error;

use cli::{Cli, Command};
use report::Report;

/// Runs the command the user asked for.
///
/// # Errors
/// Usage and configuration errors; errors inside job runs are in the `Report`.
pub async fn run(cli: Cli, ctx: runner::Context) -> Result<Report, Error> {
    let runs_restic = matches!(
        cli.command,
        Command::RestoreTest(_)
            | Command::Audit(_)
            | Command::Check(_)
            | Command::Run(_)
            | Command::Daemon(_)
            | Command::Drill(_)
    );
    if runs_restic {
        let vars = credentials::inherited_restic_vars(std::env::vars_os().map(|(k, _)| k));
        if let Some(w) = credentials::inherited_warning(&vars) {
            tracing::warn!("{w}");
        }
    }
    let json = cli.json;
    let prints_records = matches!(
        cli.command,
        Command::RestoreTest(_)
            | Command::Audit(_)
            | Command::Check(_)
            | Command::Run(_)
            | Command::Drill(_)
    );
    let no_json = match &cli.command {
        Command::Daemon(_) => Some("daemon"),
        Command::Report(_) => Some("report"),
        Command::Completions(_) => Some("completions"),
        Command::Man(_) => Some("man"),
        Command::Init(_) => Some("init"),
        _ => None,
    };
    if let (true, Some(name)) = (json, no_json) {
        return Err(Error::Usage(format!(
            "--json: `{name}` has no JSON output (it is for run, check, restore-test, audit, drill, validate and status); drop --json"
        )));
    }
    let result = dispatch(cli.command, ctx).await;
    if let (true, true, Ok(report)) = (json, prints_records, &result) {
        cmd::print_records(report);
    }
    result
}

async fn dispatch(command: Command, ctx: runner::Context) -> Result<Report, Error> {
    match command {
        Command::RestoreTest(a) => {
            let ctx = runner::Context {
                restic_override: a.repo.restic.restic.clone(),
                ..ctx
            };
            cmd::restore_test::run(*a, &ctx).await
        }
        Command::Audit(a) => {
            let ctx = runner::Context {
                restic_override: a.repo.restic.restic.clone(),
                ..ctx
            };
            cmd::audit::run(*a, &ctx).await
        }
        Command::Check(a) => {
            let ctx = runner::Context {
                restic_override: a.repo.restic.restic.clone(),
                ..ctx
            };
            cmd::check::run(*a, &ctx).await
        }
        Command::Run(a) => {
            let ctx = runner::Context {
                restic_override: a.restic.restic.clone(),
                ..ctx
            };
            cmd::run::run(a, &ctx).await
        }
        Command::Daemon(a) => {
            let ctx = runner::Context {
                restic_override: a.restic.restic.clone(),
                ..ctx
            };
            cmd::daemon::run(a, &ctx).await
        }
        Command::Drill(a) => {
            let ctx = runner::Context {
                restic_override: a.restic.restic.clone(),
                ..ctx
            };
            cmd::drill::run(a, &ctx).await
        }
        Command::Init(a) => {
            let ctx = runner::Context {
                restic_override: a.repo.restic.restic.clone(),
                ..ctx
            };
            cmd::init::run(*a, &ctx).await
        }
        Command::Validate(a) => cmd::validate::run(a).await,
        Command::Status(a) => cmd::status::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Man(a) => cmd::man::run(a),
    }
}
