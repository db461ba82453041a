//! One file per subcommand; each turns its arguments into a `Report`.

pub mod audit;
pub mod check;
pub mod completions;
pub mod daemon;
pub mod drill;
pub mod init;
pub mod inputs;
pub mod man;
pub mod report;
pub mod restore_test;
pub mod run;
pub mod status;
pub mod validate;

/// Writes what a command prints to stdout; a reader that went away (`| head`) is
/// not an error.
fn print_stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write to stdout: {e}");
        }
    }
}

/// `--json` of the commands that run jobs: each run's record, the same line as the
/// JSONL results file, one per line.
pub fn print_records(report: &crate::record::Report) {
    let lines: String = report.runs.iter().map(crate::record::jsonl::line).collect();
    print_stdout(lines.as_bytes());
}
