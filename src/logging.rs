//! tracing subscriber setup: human-readable lines on stderr (journald adds its own
//! timestamps, so none are printed when stderr is not a terminal), or JSON.
//!
//! `RESTIC_VERIFY_LOG` takes a tracing filter (e.g. `debug`) and overrides -v/-q.
//! Progress bars (`progress`) are switched on here, for text logs on a terminal
//! only, and every log line is written with the bars hidden, so neither tears the
//! other.

use tracing_subscriber::EnvFilter;

use crate::progress;

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
        .with_writer(progress::stderr)
        .with_target(false);
    let is_tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    progress::init(progress::choose(is_tty, json, quiet));
    let _ = if json {
        builder.json().try_init()
    } else if is_tty {
        builder.try_init()
    } else {
        builder.without_time().with_ansi(false).try_init()
    };
}
