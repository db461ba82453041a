//! Which entries the audit looks at: the caller's include/exclude globs, and
//! restic's own exclude patterns (the ones the snapshot recorded plus any the caller
//! adds), which tell an entry the backup skipped on purpose from one it missed.
//!
//! restic matches `--exclude` patterns against the absolute path the backup read,
//! component by component with Go's `filepath.Match` per component; `**` matches any
//! number of components; a relative pattern may match at any depth; `!` negates; the
//! last matching pattern decides. This module reimplements that (pure, no I/O).
//! Not reproduced: `--iexclude` (case-insensitive, not recorded by restic),
//! `--exclude-if-present`, `--exclude-caches`, `--exclude-larger-than`, and the
//! descent into an excluded directory that a later negated pattern would re-include.
//! restic does not record patterns read with `--exclude-file` (restic issue #2426):
//! callers pass those as extra patterns.

use std::path::{Component, Path};

use globset::GlobSet;

/// restic exclude patterns, parsed once.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResticExcludes {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    negate: bool,
    /// Cleaned components; an absolute pattern starts with `""`; `**` stays `**`.
    parts: Vec<String>,
}

impl ResticExcludes {
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Self {
        let patterns = patterns
            .into_iter()
            .filter_map(|p| {
                let p = p.as_ref();
                if p.is_empty() {
                    return None;
                }
                let (negate, body) = match p.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, p),
                };
                Some(Pattern {
                    negate,
                    parts: clean_parts(body),
                })
            })
            .collect();
        ResticExcludes { patterns }
    }

    /// Whether restic would have excluded `path` (absolute, as the backup read it).
    pub fn excludes(&self, path: &Path) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let comps = path_parts(path);
        let comps: Vec<&str> = comps.iter().map(String::as_str).collect();
        let mut excluded = false;
        for p in &self.patterns {
            if matches_somewhere(&p.parts, &comps) {
                excluded = !p.negate;
            }
        }
        excluded
    }
}

/// `filepath.Clean`, then split on `/`; an absolute path keeps a leading `""`.
fn clean_parts(s: &str) -> Vec<String> {
    let absolute = s.starts_with('/');
    let mut parts: Vec<String> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            c => parts.push(c.to_owned()),
        }
    }
    if absolute {
        parts.insert(0, String::new());
    }
    parts
}

/// The components of an absolute path as restic splits them: `""` first.
fn path_parts(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push(String::new()),
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// restic's `match`: the pattern matches a run of components starting anywhere.
fn matches_somewhere(pattern: &[String], comps: &[&str]) -> bool {
    if pattern.is_empty() {
        return comps.is_empty();
    }
    (0..comps.len()).any(|start| matches_run(pattern, &comps[start..]))
}

/// The whole pattern matches a prefix of `comps`; `**` takes any number of
/// components, every other part exactly one.
fn matches_run(pattern: &[String], comps: &[&str]) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return true;
    };
    if first == "**" {
        return (0..=comps.len()).any(|k| matches_run(rest, &comps[k..]));
    }
    match comps.split_first() {
        Some((c, more)) => go_match(first, c) && matches_run(rest, more),
        None => false,
    }
}

/// Go's `filepath.Match` for one component (no `/` on either side): `*`, `?`,
/// `[...]` with ranges and `^`/`!` negation, `\` escapes. A malformed pattern
/// matches nothing, as Go returns `ErrBadPattern`.
pub(crate) fn go_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go_match_at(&p, &n)
}

fn go_match_at(p: &[char], n: &[char]) -> bool {
    let Some(&c) = p.first() else {
        return n.is_empty();
    };
    match c {
        '*' => (0..=n.len()).any(|k| go_match_at(&p[1..], &n[k..])),
        '?' => !n.is_empty() && go_match_at(&p[1..], &n[1..]),
        '[' => {
            let Some(&ch) = n.first() else {
                return false;
            };
            match class(&p[1..], ch) {
                Some((true, used)) => go_match_at(&p[1 + used..], &n[1..]),
                _ => false,
            }
        }
        '\\' => match (p.get(1), n.first()) {
            (Some(e), Some(ch)) if e == ch => go_match_at(&p[2..], &n[1..]),
            _ => false,
        },
        c => n.first() == Some(&c) && go_match_at(&p[1..], &n[1..]),
    }
}

/// Matches `ch` against a class body starting after `[`; returns (matched, chars
/// consumed including the closing `]`), or None if malformed.
fn class(p: &[char], ch: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            let mut h = *p.get(i + 1)?;
            i += 2;
            if h == '\\' {
                h = *p.get(i)?;
                i += 1;
            }
            hi = h;
        }
        if lo <= ch && ch <= hi {
            matched = true;
        }
    }
    Some((matched != negate, i))
}

/// The caller's selection, matched against tree paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub include: Option<GlobSet>,
    pub exclude: Option<GlobSet>,
}

impl Selection {
    /// Whether an entry (and, for a directory, everything below it) is left out.
    pub fn skips_subtree(&self, tree_path: &Path) -> bool {
        self.exclude.as_ref().is_some_and(|g| g.is_match(tree_path))
    }

    /// Whether a non-directory entry is compared (directories are always walked).
    pub fn includes_leaf(&self, tree_path: &Path) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(tree_path))
    }

    /// Whether directories themselves are classified: not when an include list
    /// narrows the audit to some files.
    pub fn classifies_dirs(&self) -> bool {
        self.include.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("*.log", "a.log", true)]
    #[case("*.log", "a.txt", false)]
    #[case("a?c", "abc", true)]
    #[case("a?c", "ac", false)]
    #[case("[abc]x", "bx", true)]
    #[case("[^abc]x", "bx", false)]
    #[case("[a-c]x", "cx", true)]
    #[case("[a-c]x", "dx", false)]
    #[case("\\*x", "*x", true)]
    #[case("\\*x", "ax", false)]
    #[case("[unclosed", "u", false)]
    #[case("ü?", "üß", true)]
    fn go_match_follows_filepath_match(#[case] p: &str, #[case] n: &str, #[case] want: bool) {
        assert_eq!(go_match(p, n), want);
    }

    #[rstest]
    #[case(&["*.tmp"], "/srv/data/x/a.tmp", true)]
    #[case(&["*.tmp"], "/srv/data/x/a.txt", false)]
    #[case(&["cache"], "/srv/data/x/cache", true)]
    #[case(&["x/cache"], "/srv/data/x/cache", true)]
    #[case(&["/srv/data/x"], "/srv/data/x", true)]
    #[case(&["/data/x"], "/srv/data/x", false)]
    #[case(&["/srv/**/cache"], "/srv/data/x/cache", true)]
    #[case(&["/srv/**/cache"], "/srv/cache", true)]
    #[case(&["/srv/*/cache"], "/srv/data/x/cache", false)]
    #[case(&["*.tmp", "!keep.tmp"], "/srv/keep.tmp", false)]
    #[case(&["*.tmp", "!keep.tmp"], "/srv/drop.tmp", true)]
    #[case(&["/srv/data/./x/"], "/srv/data/x", true)]
    #[case(&[], "/srv/data/x", false)]
    fn restic_excludes_match_like_restic(
        #[case] patterns: &[&str],
        #[case] path: &str,
        #[case] want: bool,
    ) {
        assert_eq!(
            ResticExcludes::new(patterns.iter().copied()).excludes(Path::new(path)),
            want
        );
    }

    #[test]
    fn selection_include_narrows_leaves_but_not_directories() {
        let mut b = globset::GlobSetBuilder::new();
        b.add(globset::Glob::new("/src/**/*.txt").unwrap());
        let s = Selection {
            include: Some(b.build().unwrap()),
            exclude: None,
        };
        assert!(s.includes_leaf(Path::new("/src/a/b.txt")));
        assert!(!s.includes_leaf(Path::new("/src/a/b.bin")));
        assert!(!s.classifies_dirs());
        assert!(!s.skips_subtree(Path::new("/src/a")));
    }
}
