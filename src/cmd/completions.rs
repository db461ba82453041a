//! `restic-verify completions <shell>`: the shell completion script, generated from
//! the clap definitions (`clap_complete`), on stdout. Packages install it
//! (scripts/package.sh); nothing else here.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Error;
use crate::report::Report;

/// The binary's name as completions register it.
pub const BIN: &str = "restic-verify";

/// Prints the completion script.
///
/// # Errors
/// None in practice; the signature matches the other commands.
pub fn run(args: CompletionsArgs) -> Result<Report, Error> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, BIN, &mut buf);
    super::print_stdout(&buf);
    Ok(Report::default())
}
