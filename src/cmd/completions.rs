//! `restic-verify completions <shell>`: the shell completion script, generated from
//! the clap definitions (`clap_complete`), on stdout, with the repairs below for
//! what clap_complete 4.6 gets wrong for a binary whose name has a hyphen. Packages
//! install it (scripts/package.sh); nothing else here.

use std::fmt::Write as _;

use clap::{Arg, CommandFactory};
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Error;
use crate::record::Report;

/// The binary's name as completions register it.
pub const BIN: &str = "restic-verify";

/// How clap_complete's bash script joins command names into `case` labels.
const BASH_SEP: &str = "__subcmd__";

/// Prints the completion script.
///
/// # Errors
/// None in practice; the signature matches the other commands.
pub fn run(args: CompletionsArgs) -> Result<Report, Error> {
    super::print_stdout(script(args.shell).as_bytes());
    Ok(Report::default())
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => bash_repaired(&text),
        Shell::Fish => text + &fish_extras(&cmd),
        _ => text,
    }
}

/// clap_complete names the `case` arm of a subcommand after the binary name with its
/// `-` turned into `__subcmd__` (`restic__subcmd__verify__subcmd__status`), but
/// while walking the words it sets `cmd` to the name with `-` turned into `__`
/// (`restic__verify__subcmd__status`): no arm ever matched, so bash completed
/// subcommand names and nothing after them (issue #24). The arms are renamed to
/// what the walk sets.
fn bash_repaired(text: &str) -> String {
    let wrong = format!("{}{BASH_SEP}", BIN.replace('-', BASH_SEP));
    let right = format!("{}{BASH_SEP}", BIN.replace('-', "__"));
    text.replace(&wrong, &right)
}

/// What clap_complete's fish script lacks: the values of positionals (`completions
/// <shell>`; it completes options only), and the values of top-level options
/// (`restic-verify --log-format <TAB>`: its condition parses the words with
/// `argparse`, which fails on an option still waiting for its value, so fish fell
/// back to file names).
fn fish_extras(cmd: &clap::Command) -> String {
    let func = BIN.replace('-', "_");
    let subs: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
    let mut out = String::from("\n# Added by restic-verify (src/cmd/completions.rs).\n");
    for arg in cmd.get_opts() {
        let (Some(long), Some(values)) = (arg.get_long(), values(arg)) else {
            continue;
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let help = help.replace('\\', "\\\\").replace('\'', "\\'");
        let _ = writeln!(
            out,
            "complete -c {BIN} -n \"not __fish_seen_subcommand_from {}\" -l {long} -d '{help}' -r -f -a \"{values}\"",
            subs.join(" ")
        );
    }
    for sub in cmd.get_subcommands() {
        for arg in sub.get_positionals() {
            if let Some(values) = values(arg) {
                let _ = writeln!(
                    out,
                    "complete -c {BIN} -n \"__fish_{func}_using_subcommand {}\" -f -a \"{values}\"",
                    sub.get_name()
                );
            }
        }
    }
    out
}

/// The values clap knows for `arg`, space-separated, or `None`.
fn values(arg: &Arg) -> Option<String> {
    let names: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    (!names.is_empty()).then(|| names.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_script_has_an_arm_for_every_command_the_walk_names() {
        let text = script(Shell::Bash);
        // Every `cmd="X"` the word walk sets must have an `X)` arm below.
        for line in text.lines() {
            let Some(name) = line.trim().strip_prefix("cmd=\"") else {
                continue;
            };
            let name = name.trim_end_matches('"');
            if name.is_empty() {
                continue;
            }
            assert!(
                text.contains(&format!("\n        {name})\n")),
                "no case arm for {name}"
            );
        }
        assert!(!text.contains("restic__subcmd__verify"), "{text}");
    }

    #[test]
    fn fish_script_completes_the_shell_names_and_top_level_log_formats() {
        let text = script(Shell::Fish);
        assert!(
            text.contains(
                "using_subcommand completions\" -f -a \"bash elvish fish powershell zsh\""
            ),
            "{text}"
        );
        assert!(
            text.contains("-l log-format -d 'Log format on stderr' -r -f -a \"text json\""),
            "{text}"
        );
    }
}
