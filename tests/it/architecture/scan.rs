//! A small reader of Rust source for the architecture tests: blanks comments and
//! literals (so a brace or a path inside them counts for nothing), drops
//! `#[cfg(test)]` modules, lists every module path a file names (`crate::`,
//! `super::`, `self::` and paths through a child module, `use` groups expanded) and
//! every function with its length in lines. Not a parser: enough for this crate's
//! code, and tested on fixture strings below.

/// `text` with comments, string and char literals replaced by spaces (newlines
/// kept, so line numbers stay).
pub fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let wipe = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in out.iter_mut().take(to.min(c.len())).skip(from) {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let ident = |i: usize| i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            wipe(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let (mut depth, mut j) = (0, i);
            while j < c.len() {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if c[i] == 'r' && !ident(i) && matches!(next, Some('"' | '#')) {
            // A raw string: r"…", r#"…"#, …
            let hashes = (i + 1..c.len()).take_while(|&j| c[j] == '#').count();
            let open = i + 1 + hashes;
            if c.get(open) != Some(&'"') {
                i += 1;
                continue;
            }
            let mut j = open + 1;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')))
            {
                j += 1;
            }
            wipe(&mut out, i, j + 1 + hashes);
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            wipe(&mut out, i, j + 1);
            i = j + 1;
        } else if c[i] == '\'' && next == Some('\\') {
            let end = (i + 3..c.len()).find(|&j| c[j] == '\'').unwrap_or(c.len());
            wipe(&mut out, i, end + 1);
            i = end + 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            wipe(&mut out, i, i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// The index of the brace that closes the one at `open`, in blanked text.
fn closing(c: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, ch) in c.iter().enumerate().skip(open) {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    c.len()
}

/// Blanked `code` without its `#[cfg(test)]` modules (inline or `mod x;`): tests
/// may reach anywhere.
pub fn without_tests(code: &str) -> String {
    let mut c: Vec<char> = code.chars().collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + marker.len() <= c.len() {
        if c[i..i + marker.len()] != marker[..] {
            i += 1;
            continue;
        }
        // Skip further attributes and whitespace up to the item.
        let mut j = i + marker.len();
        loop {
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if c.get(j) == Some(&'#') {
                j = (j..c.len())
                    .find(|&k| c[k] == ']')
                    .map_or(c.len(), |k| k + 1);
            } else {
                break;
            }
        }
        let rest: String = c[j..c.len().min(j + 8)].iter().collect();
        if !(rest.starts_with("mod ") || rest.starts_with("pub mod ")) {
            i += 1;
            continue;
        }
        let semi = (j..c.len()).find(|&k| c[k] == ';').unwrap_or(c.len());
        let brace = (j..c.len()).find(|&k| c[k] == '{').unwrap_or(c.len());
        let end = if semi < brace {
            semi
        } else {
            closing(&c, brace)
        };
        let stop = (end + 1).min(c.len());
        for ch in c.iter_mut().take(stop).skip(i) {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end + 1;
    }
    c.into_iter().collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphabetic() || ch == '_' {
            let end = (i..c.len())
                .find(|&j| !(c[j].is_alphanumeric() || c[j] == '_'))
                .unwrap_or(c.len());
            out.push(Tok::Ident(c[i..end].iter().collect()));
            i = end;
            continue;
        }
        if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
            continue;
        }
        match ch {
            '{' => out.push(Tok::Open),
            '}' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '*' => out.push(Tok::Star),
            c if c.is_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// One use tree at `t[*i]`: `a::b::{c, d::e, self}` gives `a::b::c`, `a::b::d::e`,
/// `a::b::self`. A lone identifier gives itself.
fn tree(t: &[Tok], i: &mut usize) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    loop {
        match t.get(*i) {
            Some(Tok::Ident(s)) => prefix.push(s.clone()),
            Some(Tok::Star) => {
                *i += 1;
                return vec![prefix];
            }
            Some(Tok::Open) => {
                *i += 1;
                let mut out = Vec::new();
                while !matches!(t.get(*i), None | Some(Tok::Close)) {
                    for sub in tree(t, i) {
                        out.push(prefix.iter().cloned().chain(sub).collect());
                    }
                    // Skip `as alias` and anything else up to `,` or `}`.
                    while !matches!(t.get(*i), None | Some(Tok::Close | Tok::Comma)) {
                        *i += 1;
                    }
                    if t.get(*i) == Some(&Tok::Comma) {
                        *i += 1;
                    }
                }
                *i += 1;
                return out;
            }
            _ => return vec![prefix],
        }
        *i += 1;
        if t.get(*i) != Some(&Tok::Path) {
            return vec![prefix];
        }
        *i += 1;
    }
}

/// Every path of two or more segments in blanked code, `use` groups expanded:
/// `use super::{a, b::C}` gives `super::a` and `super::b::C`.
pub fn paths(code: &str) -> Vec<Vec<String>> {
    let t = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let starts = matches!(t[i], Tok::Ident(_))
            && (i == 0 || t[i - 1] != Tok::Path)
            && t.get(i + 1) == Some(&Tok::Path);
        if starts {
            out.extend(tree(&t, &mut i).into_iter().filter(|p| p.len() > 1));
        } else {
            i += 1;
        }
    }
    out
}

/// A function found in source: its name, the line its `fn` is on (1-based), its
/// length in lines (signature to closing brace) and whether a `// LONG:` comment
/// sits right above it (among the comment and attribute lines directly above).
#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: String,
    pub line: usize,
    pub lines: usize,
    pub reason: bool,
}

/// Every function with a body in `text` (test modules dropped).
pub fn functions(text: &str) -> Vec<Function> {
    let c: Vec<char> = without_tests(&blank(text)).chars().collect();
    let original: Vec<&str> = text.lines().collect();
    let line_of = |pos: usize| c[..pos].iter().filter(|&&ch| ch == '\n').count() + 1;
    let word = |at: usize, w: &str| {
        let end = at + w.len();
        c.len() >= end
            && c[at..end].iter().copied().eq(w.chars())
            && (at == 0 || !(c[at - 1].is_alphanumeric() || c[at - 1] == '_'))
            && c.get(end).is_some_and(|ch| ch.is_whitespace())
    };
    let mut out = Vec::new();
    for at in 0..c.len() {
        if !word(at, "fn") {
            continue;
        }
        let name: String = c[at + 2..]
            .iter()
            .skip_while(|ch| ch.is_whitespace())
            .take_while(|ch| ch.is_alphanumeric() || **ch == '_')
            .collect();
        let semi = (at..c.len()).find(|&k| c[k] == ';').unwrap_or(c.len());
        let brace = (at..c.len()).find(|&k| c[k] == '{').unwrap_or(c.len());
        if name.is_empty() || semi < brace || brace == c.len() {
            continue;
        }
        let (line, end) = (line_of(at), line_of(closing(&c, brace).min(c.len() - 1)));
        let reason = original[..line - 1]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("//") || l.starts_with("#["))
            .any(|l| l.starts_with("// LONG:"));
        out.push(Function {
            name,
            line,
            lines: end - line + 1,
            reason,
        });
    }
    out
}

#[test]
fn blank_hides_comments_strings_and_chars_but_keeps_lines() {
    let text = "let a = \"{ crate::x }\"; // crate::y {\nlet b = '{'; let c = r#\"}\"#;\n/* { */ let d: &'static str = \"\\\"}\";\n";
    let got = blank(text);
    assert_eq!(got.lines().count(), text.lines().count());
    assert!(!got.contains('{') && !got.contains('}'), "{got}");
    assert!(!got.contains("crate"), "{got}");
    assert!(
        got.contains("&'static str"),
        "a lifetime is not a char: {got}"
    );
}

#[test]
fn paths_expand_groups_and_every_anchor() {
    let code = blank(
        "use crate::{config, exit::combine, self};\nuse super::{Entry, svg::{self, Axis}};\nuse self::child::X;\nlet x = crate::restic::this(); let y = jsonl::open(p); let s = \"crate::hidden\";\n",
    );
    let got: Vec<String> = paths(&code).iter().map(|p| p.join("::")).collect();
    let want = [
        "crate::config",
        "crate::exit::combine",
        "crate::self",
        "super::Entry",
        "super::svg::self",
        "super::svg::Axis",
        "self::child::X",
        "crate::restic::this",
        "jsonl::open",
    ];
    assert_eq!(got, want);
}

#[test]
fn without_tests_drops_inline_and_file_test_modules() {
    let code = "use crate::a::X;\n#[cfg(test)]\nmod tests {\n    use crate::b::Y;\n    fn f() { {} }\n}\n#[cfg(test)]\n#[path = \"t.rs\"]\nmod more;\nuse crate::c::Z;\n";
    let got: Vec<String> = paths(&without_tests(code))
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(got, ["crate::a::X", "crate::c::Z"]);
}

#[test]
fn functions_are_measured_by_their_braces_and_see_their_long_reason() {
    let body = |n: usize| "    let s = \"}\"; // {\n".repeat(n);
    let text = format!(
        "trait T {{\n    fn declared(&self);\n}}\nfn short() {{\n{}}}\n\n/// Docs.\n// LONG: a stated reason.\n#[inline]\npub async fn long_with_reason(x: u8) -> Result<(), E> {{\n{}}}\nfn long_without() {{\n    if x {{ '{{'; }}\n{}}}\n#[cfg(test)]\nmod tests {{\n    fn in_tests() {{\n{}}}\n}}\n",
        body(3),
        body(200),
        body(160),
        body(300)
    );
    let got = functions(&text);
    let want = [
        ("short", 4, 5, false),
        ("long_with_reason", 13, 202, true),
        ("long_without", 215, 163, false),
    ];
    let got: Vec<_> = got
        .iter()
        .map(|f| (f.name.as_str(), f.line, f.lines, f.reason))
        .collect();
    assert_eq!(got, want);
}
