//! Escaping text for HTML and SVG markup (pure): the one function through which
//! the report page (`html`) and its charts (`svg`) put every string that comes
//! from a record, so neither imports the other for it.

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // A control or bidi character would reorder or hide text on the page:
            // shown escaped (`\r`, `\u{202e}`), as on a terminal; line breaks stay.
            c if c != '\n' && crate::escape::unsafe_char(c) => {
                crate::escape::push_escaped(&mut out, c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn escape_shows_control_and_bidi_characters_and_keeps_line_breaks() {
        assert_eq!(
            escape("x\r\x1b[2K\u{202e}y\nz"),
            "x\\r\\x1b[2K\\u{202e}y\nz"
        );
    }
}
