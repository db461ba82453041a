//! The crate's shape, checked from its own source (docs/ARCHITECTURE.md is the map):
//! imports between top-level modules point one way down the layers below (so there
//! is no import cycle), one module owns each side effect, parsing does no I/O, and
//! no source file grows past 800 lines. Reads `src/` only; needs no restic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util;

/// Layers from the bottom: a module may import only modules of lower layers.
/// Keep in step with docs/ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    // Below the leaves: import no other module of the crate.
    &["rto", "progress", "escape"],
    // Leaves: pure or owning one small side effect each.
    &[
        "exit", "secret", "signal", "schedule", "sample", "compare", "state", "lock", "logging",
    ],
    &["finding", "source", "credentials", "history"],
    // The one door for child processes.
    &["process"],
    // The repository's backend for the in-process readers (restic's URL, env file
    // and options → rustic_core backend; sftp through `process`).
    &["backend"],
    // Child-process clients.
    &["restic", "zfs", "password"],
    // Jobs: where a verdict's findings are made. The check job reads new packs
    // through `packread`, which opens the repository through `audit`.
    &["restore_test", "audit"],
    &["packread"],
    &["check"],
    &["report"],
    &["notify"],
    &["config"],
    &["runner"],
    &["cli", "error"],
    &["cmd"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `src/`, with its top-level module (`restic/session.rs`
/// belongs to `restic`); `main.rs` and `lib.rs` are the crate roots.
fn sources() -> Vec<(String, PathBuf)> {
    let src = util::manifest_dir().join("src");
    let mut out = Vec::new();
    for path in util::walk(&src) {
        if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel
                .components()
                .next()
                .expect("component")
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            out.push((first, path));
        }
    }
    assert!(out.len() > 20, "found only {} source files", out.len());
    out
}

/// The text of a file without its `#[cfg(test)]` module (tests may reach anywhere).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The top-level modules a file names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, self};`: every first segment at depth 0.
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() && name != "self" {
                    out.insert(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in sources() {
        if module == "main" || module == "lib" {
            continue;
        }
        let deps = g.entry(module.clone()).or_default();
        for d in imports(&code(&path)) {
            if d != module {
                deps.insert(d);
            }
        }
    }
    g
}

#[test]
fn imports_parse_grouped_and_path_forms() {
    let got =
        imports("use crate::{config, exit::combine, self};\nlet x = crate::restic::this();\n");
    let want: BTreeSet<String> = ["config", "exit", "restic"].map(String::from).into();
    assert_eq!(got, want);
}

#[test]
fn architecture_every_import_points_down_the_layers_so_there_is_no_cycle() {
    let g = graph();
    let mut wrong = Vec::new();
    for (module, deps) in &g {
        let Some(from) = layer_of(module) else {
            wrong.push(format!(
                "module `{module}` is in no layer: add it to LAYERS and docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for d in deps {
            match layer_of(d) {
                Some(to) if to < from => {}
                Some(_) => wrong.push(format!("`{module}` imports `{d}`, which is not below it")),
                None => wrong.push(format!("`{module}` imports `{d}`, which is in no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The layering implies no cycle; check it directly too, so a change to LAYERS
    // cannot hide one.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let i = path.iter().position(|p| p == n).unwrap_or(0);
                let mut c = path[i..].to_vec();
                c.push(n.to_owned());
                return Some(c);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, &g, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn architecture_only_process_starts_child_processes() {
    for (module, path) in sources() {
        let text = code(&path);
        let rel = path.strip_prefix(util::manifest_dir()).expect("rel");
        if rel == Path::new("src/process.rs") {
            assert!(
                text.contains("Command::new"),
                "process.rs no longer spawns?"
            );
            continue;
        }
        // process/server.rs: long-running children, through the same door.
        if module == "process" {
            continue;
        }
        for needle in ["Command::new", "std::process::Command", "tokio::process"] {
            assert!(
                !text.contains(needle),
                "{} uses `{needle}`: child processes start only in src/process.rs (and src/process/)",
                rel.display()
            );
        }
    }
}

#[test]
fn architecture_only_notify_sends() {
    for (module, path) in sources() {
        let text = code(&path);
        if module == "notify" {
            continue;
        }
        for needle in [
            "reqwest::Client",
            "AsyncSmtpTransport",
            "TcpStream::connect",
        ] {
            assert!(
                !text.contains(needle),
                "{} uses `{needle}`: only notify/ sends",
                path.display()
            );
        }
    }
}

#[test]
fn architecture_only_report_writes_result_files_and_only_state_keeps_state() {
    for (module, path) in sources() {
        let text = code(&path);
        // Appending results (JSONL) and replacing files atomically (textfiles).
        if module != "report" {
            assert!(
                !text.contains(".append(true)"),
                "{} appends to a file: only report/ writes result files",
                path.display()
            );
        }
        if module != "report" && module != "state" {
            assert!(
                !text.contains(".persist("),
                "{} replaces a file atomically: only report/ (results) and state (state) do",
                path.display()
            );
        }
    }
}

#[test]
fn architecture_profile_parsing_does_no_io() {
    let dir = util::manifest_dir().join("src/config");
    for path in util::walk(&dir) {
        // mod.rs holds `load` (reads the file) and `Env::from_process`: the I/O edge.
        if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "tests.rs")
        {
            continue;
        }
        let text = code(&path);
        for needle in [
            "std::fs",
            "fs::File",
            "std::env::var",
            "Local::now",
            "Utc::now",
            "gethostname",
            "metadata(",
        ] {
            assert!(
                !text.contains(needle),
                "{} uses `{needle}`: parsing is a pure function of the text and `Env`",
                path.display()
            );
        }
    }
}

#[test]
fn architecture_no_source_file_over_800_lines_and_each_opens_with_a_doc_paragraph() {
    for (_, path) in sources() {
        let text = std::fs::read_to_string(&path).expect("read");
        let lines = text.lines().count();
        assert!(
            lines <= 800,
            "{} has {lines} lines: split it by concern",
            path.display()
        );
        assert!(
            text.starts_with("//!"),
            "{} does not open with a `//!` paragraph saying what it owns",
            path.display()
        );
    }
}
