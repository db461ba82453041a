//! The pages' sections, the exit codes as a list, no page for `help`, and the
//! profile page against the key table (every key, in its table's section) and the
//! validator (its example is a valid profile).

use std::path::Path;

use super::*;
use crate::config::keys::KEYS;

fn text(name: Option<&str>) -> String {
    String::from_utf8(page(name).expect("page")).expect("utf-8")
}

fn sections(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn page_main_mentions_every_subcommand_but_help() {
    let text = text(None);
    for sub in subcommands() {
        // roff writes a hyphen as `\-`.
        let roff = format!("restic\\-verify\\-{}(1)", sub.replace('-', "\\-"));
        assert!(text.contains(&roff), "{roff} missing from the man page");
    }
    assert!(!text.contains("verify\\-help"), "{text}");
    assert!(!subcommands().contains(&"help".to_owned()));
}

#[test]
fn page_of_every_command_has_every_section_in_order() {
    let want = [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "SEE ALSO",
    ];
    let mut pages: Vec<Option<String>> = subcommands().into_iter().map(Some).collect();
    pages.push(None);
    for name in pages {
        let got = sections(&text(name.as_deref()));
        let got: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|s| want.contains(s))
            .collect();
        assert_eq!(got, want, "{name:?}");
    }
}

#[test]
fn page_lists_each_exit_code_as_its_own_item() {
    let text = text(Some("run"));
    for code in ["0", "1", "2", "3", "130"] {
        assert!(
            text.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit code {code} is not an item:\n{text}"
        );
    }
}

#[test]
fn page_of_help_or_an_unknown_subcommand_is_a_usage_error() {
    for name in ["nope", "help"] {
        let e = page(Some(name)).expect_err(name);
        assert_eq!(e.exit_code(), crate::exit::USAGE);
    }
}

#[test]
fn profile_page_documents_every_key_in_its_tables_section() {
    let text = text(Some(PROFILE_PAGE));
    assert!(text.starts_with(".TH RESTIC\\-VERIFY.TOML 5 "), "{text}");
    for k in KEYS {
        let table = k.tables[0];
        let start = text
            .find(&format!(".SH \"{}\"", table.header()))
            .expect("section");
        let end = text[start + 4..]
            .find(".SH ")
            .map_or(text.len(), |e| start + 4 + e);
        let tag = format!(".TP\n\\fB{}\\fR\n", esc(k.name));
        assert!(
            text[start..end].contains(&tag),
            "`{}` missing from {}",
            k.name,
            table.header()
        );
    }
}

#[test]
fn profile_page_example_is_a_valid_profile() {
    let env = crate::config::Env {
        credentials_directory: None,
        host: "host".to_owned(),
        now: chrono::Local::now(),
    };
    let profile = crate::config::parse(EXAMPLE, Path::new("/etc/restic-verify/config.toml"), &env)
        .expect("the example in restic-verify.toml(5) validates");
    assert_eq!(profile.jobs.len(), 2);
}
