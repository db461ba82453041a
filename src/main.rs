//! The `restic-verify` binary: parse the command line, start logging and signal
//! handling, call the library, turn the result into an exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;
use restic_verify::cli::{self, Cli};
use restic_verify::{exit, logging, restic, runner, signal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(
        cli.verbose,
        cli.quiet,
        matches!(cli.log_format, cli::LogFormat::Json),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("restic-verify: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::COULD_NOT_VERIFY);
        }
    };
    let code = runtime.block_on(async {
        let stop = match signal::install(signal::SignalHandlerKind::Standard) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("restic-verify: error: cannot install signal handlers: {e}");
                return exit::COULD_NOT_VERIFY;
            }
        };
        let mut ctx = runner::Context::new(stop.cancel, restic::DEFAULT_GRACE);
        ctx.hurry = Some(stop.hurry);
        match restic_verify::run(cli, ctx).await {
            Ok(report) => report.exit_code(),
            Err(err) => {
                eprintln!("restic-verify: error: {err}");
                err.exit_code()
            }
        }
    });
    ExitCode::from(code)
}
