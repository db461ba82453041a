//! tracing subscriber setup: human-readable lines on stderr (journald adds its own
//! timestamps, so none are printed when stderr is not a terminal), or JSON.
//!
//! `RESTIC_VERIFY_LOG` takes a tracing filter (e.g. `debug`) and overrides -v/-q.
//! Progress bars (`progress`) are switched on here, for text logs on a terminal
//! only, and every log line is written with the bars hidden, so neither tears the
//! other. Text lines are written through `escape::log_line`: a file name or a
//! message holding control characters cannot redraw the terminal (tracing itself
//! leaves `\r`, `\n` and most of C0 as they are).

use std::io::Write;

use tracing_subscriber::EnvFilter;

use crate::{escape, progress};

/// Set by `init` for JSON logs: what else writes to stderr writes JSON too.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the logs are JSON lines (`--log-format json`).
pub fn json() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

/// Starts logging at info, or debug/trace with -v/-vv, or warn with -q; JSON lines
/// with `json`.
pub fn init(verbose: u8, quiet: bool, json: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("RESTIC_VERIFY_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("restic_verify={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let is_tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    progress::init(progress::choose(is_tty, json, quiet));
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
    let _ = if json {
        builder.with_writer(progress::stderr).json().try_init()
    } else if is_tty {
        builder
            .with_writer(|| Escaping { colours: true })
            .try_init()
    } else {
        builder
            .with_writer(|| Escaping { colours: false })
            .without_time()
            .with_ansi(false)
            .try_init()
    };
}

/// stderr (bars hidden) for text log lines, each escaped whole: tracing formats
/// one event into a buffer and writes it with one `write_all`.
struct Escaping {
    /// ESC is the logger's own colouring (it escapes ESC in fields itself).
    colours: bool,
}

impl Write for Escaping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let line = String::from_utf8_lossy(buf);
        progress::stderr().write_all(escape::log_line(&line, self.colours).as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        progress::stderr().flush()
    }
}
