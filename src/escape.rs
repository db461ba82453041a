//! Display escaping: makes names and messages safe to put on a terminal, in a log
//! line or in a notification, where a file name chosen by whoever owns a backed-up
//! directory must not move the cursor, redraw a line, set a window title or reorder
//! text (`x\r\e[2KPASS all good` must not show as a PASS line).
//!
//! Pure string functions; nothing here prints. Every control character (C0 but
//! the line breaks `lines` indents, DEL, C1) and every bidirectional-text control is shown
//! as a visible escape (`\r`, `\x1b`, `\u{202e}`), and a backslash as `\\`, so an
//! escaped text is unambiguous. JSONL keeps raw names (JSON escapes them itself).
//! `count` puts a displayed number's noun in the right number.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `n` and its noun in the right number, for display: `1 repository`, `2 repositories`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether `c` must not reach a terminal (or a page) as it is.
pub fn unsafe_char(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' // bidi marks
            | '\u{2028}' | '\u{2029}'            // line and paragraph separators
            | '\u{202a}'..='\u{202e}'            // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}'            // bidi isolates
        )
}

/// Appends `c`, escaped when it is a backslash or [`unsafe_char`].
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 && unsafe_char(c) => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if unsafe_char(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `text` on one line with every control character, bidi control and backslash
/// escaped; borrowed when nothing needed escaping.
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`text`], but keeps line breaks, each followed by `indent`: for a
/// multi-line message under an item, whose continuation lines then cannot pass
/// for a line of their own (a verdict at the start of a line).
pub fn lines<'a>(text: &'a str, indent: &str) -> Cow<'a, str> {
    if !text.chars().any(|c| c == '\\' || unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\n' {
            out.push('\n');
            out.push_str(indent);
        } else {
            push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// Escapes one formatted log line for a terminal or the journal: every control
/// character but the line's final newline, and, when `keep_esc` (the logger's own
/// colours), ESC. Backslashes stay as they are: the logger has already written the
/// fields, and ESC in user text was already escaped by it.
pub fn log_line(line: &str, keep_esc: bool) -> Cow<'_, str> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let keep = |c: char| !unsafe_char(c) || (keep_esc && c == '\x1b');
    if body.chars().all(keep) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in body.chars() {
        if keep(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    if body.len() < line.len() {
        out.push('\n');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("plain/path.txt", "plain/path.txt")]
    #[case(
        "x\r\x1b[2K\x1b[1APASS all good\x1b]0;pwned\x07",
        "x\\r\\x1b[2K\\x1b[1APASS all good\\x1b]0;pwned\\x07"
    )]
    #[case("a\nb\tc\x7f", "a\\nb\\tc\\x7f")]
    #[case("c1 \u{9b}31m", "c1 \\u{9b}31m")]
    #[case("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe")]
    #[case("isolate\u{2066}x\u{2069}", "isolate\\u{2066}x\\u{2069}")]
    #[case("back\\slash", "back\\\\slash")]
    #[case("ünïcödé ✓", "ünïcödé ✓")]
    fn text_escapes_controls_visibly(#[case] raw: &str, #[case] want: &str) {
        assert_eq!(text(raw), want);
    }

    #[test]
    fn text_borrows_when_nothing_needs_escaping() {
        assert!(matches!(text("a/b c"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_indents_continuation_lines_and_escapes_the_rest() {
        assert_eq!(lines("one\rx\ntwo\x1b", "    "), "one\\rx\n    two\\x1b");
        assert_eq!(lines("one\ntwo", "    "), "one\n    two");
    }

    #[test]
    fn log_line_keeps_the_final_newline_and_the_loggers_colours() {
        assert_eq!(
            log_line("\x1b[33m WARN\x1b[0m a\rb\nc\n", true),
            "\x1b[33m WARN\x1b[0m a\\rb\\nc\n"
        );
        assert_eq!(log_line(" WARN a\x1bb\n", false), " WARN a\\x1bb\n");
        assert_eq!(log_line("a\\b\n", false), "a\\b\n");
    }

    #[test]
    fn no_escaped_text_holds_a_control_character() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!text(&all).chars().any(unsafe_char));
        assert!(!lines(&all, "  ")
            .chars()
            .any(|c| c != '\n' && unsafe_char(c)));
    }
}
