//! Progress bars for long work (streaming `restic ls`, restoring, hashing,
//! calibration calls), drawn with `indicatif` on stderr, and only on a terminal.
//!
//! `init` is called once, by logging set-up: when stderr is not a terminal, logs are
//! JSON or `-q` asked for quiet, nothing is ever drawn and every `Bar` is a no-op
//! (timers, the journal, tests and scripts see no escape sequences). Log lines go
//! through `Stderr`, which hides the bars while a line is written (`suspend`), so
//! neither tears the other. Bars only display: nothing here decides a result.

use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// The bars' shared terminal, set only when progress is drawn.
static TERMINAL: OnceLock<MultiProgress> = OnceLock::new();

/// Whether to draw progress: only on a terminal, with text logs, not with `-q`.
pub fn choose(stderr_is_terminal: bool, json_logs: bool, quiet: bool) -> bool {
    stderr_is_terminal && !json_logs && !quiet
}

/// Turns progress on for this process (once; later calls change nothing).
pub fn init(active: bool) {
    if active {
        let _ = TERMINAL.set(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    }
}

/// Whether bars are drawn.
pub fn active() -> bool {
    TERMINAL.get().is_some()
}

/// Runs `f` with every bar hidden (for writing to stderr).
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match TERMINAL.get() {
        Some(t) => t.suspend(f),
        None => f(),
    }
}

/// Puts a bar made elsewhere among this terminal's bars (so log lines hide it too);
/// a bar that never draws when progress is off.
pub fn attach(bar: ProgressBar) -> ProgressBar {
    match TERMINAL.get() {
        Some(t) => t.add(bar),
        None => {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            bar
        }
    }
}

/// stderr for log lines and summaries: writes with the bars hidden.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A `Stderr` (tracing's writer factory).
pub fn stderr() -> Stderr {
    Stderr
}

/// One bar: cheap to clone, shared with worker threads; a no-op when progress is
/// off. Cleared from the terminal when finished or when its last handle drops.
#[derive(Debug, Clone, Default)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar that never draws.
    pub fn hidden() -> Bar {
        Bar(None)
    }

    fn start(total: Option<u64>, template: &str, what: &str) -> Bar {
        let Some(terminal) = TERMINAL.get() else {
            return Bar(None);
        };
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        }
        .with_finish(ProgressFinish::AndClear);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        let bar = terminal.add(bar);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.tick();
        Bar(Some(bar))
    }

    /// Counts items of unknown total: `⠋ listing snapshot: 12,345 entries [00:00:03]`.
    pub fn count(what: &str, unit: &str) -> Bar {
        Bar::start(
            None,
            &format!("{{spinner}} {{prefix}}: {{human_pos}} {unit} [{{elapsed_precise}}] {{msg}}"),
            what,
        )
    }

    /// Bytes of a known total: a bar with bytes done, total and rate.
    pub fn bytes(what: &str, total: u64) -> Bar {
        Bar::start(
            Some(total),
            "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}) [{elapsed_precise}] {msg}",
            what,
        )
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        if let Some(b) = &self.0 {
            b.set_message(msg);
        }
    }

    /// Removes the bar (what it counted follows in the log and the summary).
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }

    /// Whether this bar draws.
    pub fn is_drawn(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::terminal_text(true, false, false, true)]
    #[case::not_a_terminal(false, false, false, false)]
    #[case::json_logs(true, true, false, false)]
    #[case::quiet(true, false, true, false)]
    #[case::journal(false, true, true, false)]
    fn choose_draws_only_on_a_terminal_with_text_logs(
        #[case] terminal: bool,
        #[case] json: bool,
        #[case] quiet: bool,
        #[case] want: bool,
    ) {
        assert_eq!(choose(terminal, json, quiet), want);
    }

    #[test]
    fn bars_are_no_ops_when_progress_is_off() {
        // Unit tests never call `init(true)`: progress is off in this process.
        assert!(!active());
        let b = Bar::bytes("restoring", 100);
        assert!(!b.is_drawn());
        b.inc(10);
        b.set_message("x");
        b.finish();
        assert!(!Bar::count("listing", "entries").is_drawn());
        assert_eq!(suspend(|| 7), 7);
        let mut e = stderr();
        assert!(e.write_all(b"").is_ok());
    }
}
