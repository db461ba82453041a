//! The crate's shape, checked from its own source (docs/ARCHITECTURE.md is the map):
//! every file's imports (`crate::`, `super::`, `self::` and paths through a child
//! module) form no circle, inside folders too; imports between top-level modules
//! point one way down the layers below; the doc's layer table equals `LAYERS` and
//! every module it names exists; one module owns each side effect; parsing does no
//! I/O; no source file grows past 800 lines and no function past 150 without a
//! `// LONG:` reason. Reads `src/` and the doc only; needs no restic.

mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util;

/// Layers from the bottom: a module may import only modules of lower layers.
/// docs/ARCHITECTURE.md's layer table has one row per layer, with the same modules
/// (`architecture_doc_layer_table_equals_layers` holds them equal).
const LAYERS: &[&[&str]] = &[
    // Below the leaves: import no other module of the crate.
    &["rto", "progress", "escape"],
    // Leaves: pure or owning one small side effect each.
    &[
        "exit", "secret", "signal", "schedule", "sample", "compare", "state", "lock", "logging",
    ],
    &["finding", "source", "credentials"],
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
    // Outputs: `record` writes run results; `view` reads them back and shows them.
    &["record"],
    &["notify", "view"],
    &["config"],
    &["job"],
    &["runner"],
    &["cli", "error"],
    &["cmd"],
];

/// Longest function without a `// LONG:` comment right above it saying why.
const MAX_FUNCTION_LINES: usize = 150;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// A module path: `["restic", "session"]` for src/restic/session.rs, `[]` for lib.rs.
type Module = Vec<String>;

fn module_of(rel: &Path) -> Module {
    let mut m: Module = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if m.last().is_some_and(|l| l == "mod" || l == "lib") {
        m.pop();
    }
    m
}

fn shown(m: &[String]) -> String {
    if m.is_empty() {
        "the crate root".to_owned()
    } else {
        m.join("::")
    }
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

/// The modules of the library, each with its file's code (comments, literals and
/// test modules blanked). Test-only files (`tests.rs`, `*_tests.rs`) and `main.rs`
/// are left out.
fn modules() -> BTreeMap<Module, (PathBuf, String)> {
    let src = util::manifest_dir().join("src");
    let mut out = BTreeMap::new();
    for (_, path) in sources() {
        let rel = path.strip_prefix(&src).expect("under src");
        let stem = rel.file_stem().map(|s| s.to_string_lossy().into_owned());
        let stem = stem.unwrap_or_default();
        if stem == "main" || stem == "tests" || stem.ends_with("_tests") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let code = scan::without_tests(&scan::blank(&text));
        out.insert(module_of(rel), (rel.to_owned(), code));
    }
    out
}

/// The module a path in `from` names: `crate::`, `self::`, `super::` (repeated)
/// or a child module of `from`, then child modules as far as they go. `None` for
/// anything else (std, other crates, local types).
fn resolve(from: &[String], path: &[String], known: &BTreeSet<Module>) -> Option<Module> {
    let mut at: Module = from.to_vec();
    let mut rest = path;
    match path[0].as_str() {
        "crate" => {
            at.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                at.pop()?;
                rest = &rest[1..];
            }
        }
        first => {
            let mut child = at.clone();
            child.push(first.to_owned());
            if !known.contains(&child) {
                return None;
            }
        }
    }
    for seg in rest {
        let mut child = at.clone();
        child.push(seg.clone());
        if !known.contains(&child) {
            break;
        }
        at = child;
    }
    Some(at)
}

/// File-level imports: module → module it names → one path naming it. The crate
/// root (lib.rs: declarations, re-exports and `run`) is left out, as are imports
/// of a module's own items.
fn graph() -> BTreeMap<Module, BTreeMap<Module, String>> {
    let mods = modules();
    let known: BTreeSet<Module> = mods.keys().cloned().collect();
    let mut g: BTreeMap<Module, BTreeMap<Module, String>> = BTreeMap::new();
    for (module, (_, code)) in &mods {
        if module.is_empty() {
            continue;
        }
        let deps = g.entry(module.clone()).or_default();
        for path in scan::paths(code) {
            match resolve(module, &path, &known) {
                Some(to) if !to.is_empty() && &to != module => {
                    deps.entry(to).or_insert_with(|| path.join("::"));
                }
                _ => {}
            }
        }
    }
    g
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(g: &BTreeMap<Module, BTreeMap<Module, String>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        g: &'a BTreeMap<Module, BTreeMap<Module, String>>,
        index: BTreeMap<&'a Module, (usize, usize)>,
        stack: Vec<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, n: &'a Module) {
        let i = w.index.len();
        w.index.insert(n, (i, i));
        w.stack.push(n);
        for d in w.g.get(n).into_iter().flat_map(|d| d.keys()) {
            match w.index.get(d) {
                None => {
                    visit(w, d);
                    let low = w.index[d].1.min(w.index[n].1);
                    w.index.get_mut(n).expect("visited").1 = low;
                }
                Some(_) if w.stack.contains(&d) => {
                    let low = w.index[d].0.min(w.index[n].1);
                    w.index.get_mut(n).expect("visited").1 = low;
                }
                Some(_) => {}
            }
        }
        if w.index[n].0 == w.index[n].1 {
            let mut c = Vec::new();
            while let Some(m) = w.stack.pop() {
                c.push(m.clone());
                if m == n {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                w.out.push(c);
            }
        }
    }
    let mut w = Walk {
        g,
        index: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for n in g.keys() {
        if !w.index.contains_key(n) {
            visit(&mut w, n);
        }
    }
    w.out
}

#[test]
fn resolve_follows_every_anchor_down_to_the_deepest_module() {
    let known: BTreeSet<Module> = [
        vec![],
        vec!["view"],
        vec!["view", "svg"],
        vec!["view", "html"],
        vec!["state"],
        vec!["state", "atomic"],
    ]
    .into_iter()
    .map(|m| m.into_iter().map(String::from).collect())
    .collect();
    let m = |s: &str| -> Module {
        s.split("::")
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let html = m("view::html");
    let case = |path: &str| resolve(&html, &m(path), &known).map(|t| t.join("::"));
    assert_eq!(case("super::svg::Axis").as_deref(), Some("view::svg"));
    assert_eq!(case("super::Error").as_deref(), Some("view"));
    assert_eq!(
        case("crate::state::atomic::replace").as_deref(),
        Some("state::atomic")
    );
    assert_eq!(case("self::Page").as_deref(), Some("view::html"));
    assert_eq!(case("std::fmt::Write"), None);
    let view = m("view");
    assert_eq!(
        resolve(&view, &m("svg::render"), &known)
            .map(|t| t.join("::"))
            .as_deref(),
        Some("view::svg"),
        "a mod.rs naming its child"
    );
}

#[test]
fn circles_are_found_inside_a_folder_too() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut g: BTreeMap<Module, BTreeMap<Module, String>> = BTreeMap::new();
    for (a, b) in [
        ("r::a", "r::b"),
        ("r::b", "r"),
        ("r", "r::a"),
        ("r::c", "r"),
    ] {
        g.entry(m(a)).or_default().insert(m(b), String::new());
    }
    assert_eq!(circles(&g), vec![vec![m("r"), m("r::a"), m("r::b")]]);
}

#[test]
fn architecture_no_import_circle_anywhere_even_inside_a_folder() {
    let g = graph();
    let mut wrong = Vec::new();
    for c in circles(&g) {
        let mut edges = Vec::new();
        for from in &c {
            for (to, path) in &g[from] {
                if c.contains(to) {
                    edges.push(format!("  {} -> {} (`{path}`)", shown(from), shown(to)));
                }
            }
        }
        let names: Vec<String> = c.iter().map(|m| shown(m)).collect();
        wrong.push(format!(
            "import circle among {}: break it by moving what they share into a module below them\n{}",
            names.join(", "),
            edges.join("\n")
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn architecture_every_import_points_down_the_layers() {
    let mut wrong = Vec::new();
    let mods = modules();
    for top in mods.keys().filter(|m| m.len() == 1) {
        if layer_of(&top[0]).is_none() {
            wrong.push(format!(
                "module `{}` is in no layer: add it to LAYERS and docs/ARCHITECTURE.md",
                top[0]
            ));
        }
    }
    for name in LAYERS.iter().flat_map(|l| l.iter()) {
        if !mods.contains_key(&vec![(*name).to_owned()]) {
            wrong.push(format!(
                "LAYERS names `{name}`, which is no module: remove it"
            ));
        }
    }
    for (from, deps) in graph() {
        let Some(layer) = layer_of(&from[0]) else {
            continue;
        };
        for (to, path) in deps.iter().filter(|(to, _)| to[0] != from[0]) {
            match layer_of(&to[0]) {
                Some(l) if l < layer => {}
                _ => wrong.push(format!(
                    "`{}` imports `{}` (`{path}`), which is not below it",
                    shown(&from),
                    shown(to)
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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
fn architecture_only_record_writes_result_files_and_every_writer_replaces_atomically() {
    for (module, path) in sources() {
        let text = code(&path);
        let rel = path.strip_prefix(util::manifest_dir()).expect("rel");
        // Appending results (JSONL).
        if module != "record" {
            assert!(
                !text.contains(".append(true)"),
                "{} appends to a file: only record/ writes result files",
                path.display()
            );
        }
        // One atomic writer (temp file, fsync, rename, fsync of the directory).
        if rel != Path::new("src/state/atomic.rs") {
            assert!(
                !text.contains(".persist("),
                "{} replaces a file itself: use state::atomic::replace (it fsyncs)",
                path.display()
            );
        }
        // The outputs write whole files only through it (and JSONL lines by append).
        if module == "record" || module == "view" {
            for needle in ["fs::write(", "File::create(", "fs::rename(", "fs::copy("] {
                assert!(
                    !text.contains(needle),
                    "{} uses `{needle}`: result files and the report are written through state::atomic::replace",
                    path.display()
                );
            }
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

/// The rows of the doc's layer table, bottom first: each row's top-level modules
/// and the submodules it names in brackets (`restic/` (`args`, …)), as paths.
fn doc_layers(doc: &str) -> Vec<(BTreeSet<String>, Vec<String>)> {
    let table = doc
        .split("\n## Layers")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a `## Layers` section");
    let mut rows = Vec::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')).skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cell = line.split('|').nth(2).expect("a modules cell");
        let (mut tops, mut subs, mut last) = (BTreeSet::new(), Vec::new(), String::new());
        let mut depth = 0usize;
        for (i, part) in cell.split('`').enumerate() {
            if i % 2 == 0 {
                depth += part.matches('(').count();
                depth -= part.matches(')').count().min(depth);
                continue;
            }
            let name = part.trim_end_matches('/');
            if depth == 0 {
                last = name.to_owned();
                tops.insert(last.clone());
            } else if name.contains('/') {
                subs.push(name.to_owned());
            } else if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                subs.push(format!("{last}/{name}"));
            }
        }
        rows.push((tops, subs));
    }
    rows
}

/// Whether `file`'s code defines or re-exports an item called `name`.
fn defines(code: &str, name: &str) -> bool {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let kinds = [
        "fn", "struct", "enum", "const", "static", "type", "trait", "mod", "use",
    ];
    words
        .windows(2)
        .any(|w| kinds.contains(&w[0]) && w[1] == name)
        || code
            .lines()
            .any(|l| l.trim_start().starts_with("pub use") && l.contains(name))
}

#[test]
fn architecture_doc_layer_table_equals_layers_and_names_only_modules_that_exist() {
    let doc = std::fs::read_to_string(util::manifest_dir().join("docs/ARCHITECTURE.md"))
        .expect("read docs/ARCHITECTURE.md");
    let mods = modules();
    let module = |p: &str| -> Module {
        p.split(['/', ':'])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let mut wrong = Vec::new();
    let rows = doc_layers(&doc);
    if rows.len() != LAYERS.len() {
        wrong.push(format!(
            "the doc's layer table has {} rows, LAYERS {} layers",
            rows.len(),
            LAYERS.len()
        ));
    }
    for (i, (layer, (tops, subs))) in LAYERS.iter().zip(&rows).enumerate() {
        let want: BTreeSet<String> = layer.iter().map(|s| (*s).to_owned()).collect();
        if &want != tops {
            wrong.push(format!(
                "layer {i}: LAYERS has {want:?}, the doc's table {tops:?}"
            ));
        }
        for sub in subs {
            if !mods.contains_key(&module(sub)) {
                wrong.push(format!("the doc's table names `{sub}`, which is no module"));
            }
        }
    }
    // Every module file is in its top-level module's row (`restic/` (`args`, …)).
    let listed: BTreeSet<&String> = rows.iter().flat_map(|(_, subs)| subs).collect();
    for m in mods.keys().filter(|m| m.len() > 1) {
        let name = m.join("/");
        if !listed.contains(&name) {
            wrong.push(format!(
                "module `{name}` is not in the doc's layer table: name it in brackets after `{}`",
                m[0]
            ));
        }
    }
    // Every `module::item` and `module/sub` path the doc names.
    for (i, span) in doc.split('`').enumerate() {
        let span = span
            .split('(')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let path = module(span);
        let plain = path
            .iter()
            .all(|s| s.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if i % 2 == 0 || path.len() < 2 || !plain || !mods.contains_key(&path[..1]) {
            continue;
        }
        let deepest = (1..=path.len())
            .rev()
            .find(|&n| mods.contains_key(&path[..n]));
        let n = deepest.expect("the top-level module exists");
        let ok = match path.get(n) {
            None => true,
            Some(item) => !span.contains('/') && defines(&mods[&path[..n]].1, item),
        };
        if !ok {
            wrong.push(format!("the doc names `{span}`, which does not exist"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/ARCHITECTURE.md has drifted:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn architecture_no_function_over_150_lines_without_a_stated_reason() {
    let mut wrong = Vec::new();
    for (_, path) in sources() {
        let text = std::fs::read_to_string(&path).expect("read");
        for f in scan::functions(&text) {
            if f.lines > MAX_FUNCTION_LINES && !f.reason {
                wrong.push(format!(
                    "{}:{}: fn {} has {} lines: split it, or say why not in a `// LONG:` comment right above it",
                    path.display(),
                    f.line,
                    f.name,
                    f.lines
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
