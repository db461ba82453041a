//! `restic-verify man [SUBCOMMAND]`: the man page in roff, generated from the clap
//! definitions (`clap_mangen`), on stdout: restic-verify(1), or
//! restic-verify-SUBCOMMAND(1). Packages install every page (scripts/package.sh).

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::Error;
use crate::report::Report;

/// The names of the subcommands that get a page of their own.
pub fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

/// The roff source of the page: the main page, or a subcommand's.
///
/// # Errors
/// There is no such subcommand (exit 2).
pub fn page(subcommand: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut cmd = Cli::command();
    // Building propagates the global flags and versions into the subcommands.
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                return Err(Error::Usage(format!(
                    "no subcommand `{name}`; pages exist for: {}",
                    subcommands().join(", ")
                )));
            };
            sub.clone()
                .display_name(format!("{}-{name}", super::completions::BIN))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| Error::Usage(format!("cannot render the man page: {e}")))?;
    Ok(buf)
}

/// Prints the page.
///
/// # Errors
/// There is no such subcommand (exit 2).
pub fn run(args: ManArgs) -> Result<Report, Error> {
    super::print_stdout(&page(args.subcommand.as_deref())?);
    Ok(Report::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_main_mentions_every_subcommand() {
        let text = String::from_utf8(page(None).expect("page")).expect("utf-8");
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
        for sub in subcommands() {
            // roff writes a hyphen as `\-`.
            let roff = format!("restic\\-verify\\-{}(1)", sub.replace('-', "\\-"));
            assert!(text.contains(&roff), "{roff} missing from the man page");
        }
    }

    #[test]
    fn page_of_an_unknown_subcommand_is_a_usage_error() {
        let e = page(Some("nope")).expect_err("unknown");
        assert_eq!(e.exit_code(), crate::exit::USAGE);
    }
}
